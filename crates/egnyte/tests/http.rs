//! The Egnyte provider over real HTTP, against `wiremock` servers on 127.0.0.1 (port 0): the
//! **wire half** of its tests.
//!
//! Each test hands the provider exact, hand-written answers and checks what only this layer can
//! see exactly: the requests it sends (paths, query parameters, headers, form fields, their
//! order and count), the `Page` it returns (events, object changes, checkpoint, watermark, `more`,
//! the exact `Gap` values with their reasons), its `ProviderError` classification with the exact
//! message, and its stats counters; also answers the simulator cannot produce. What a rule does
//! end to end (the events, order, counts and gaps that land in the store after the engine ran) is
//! checked once, in the black-box tests against the simulator (`tests/it/egnyte/`); where a rule
//! has a test in both, each doc comment names the other half.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{
    Checkpoint, Clock, EventType, Gap, ManualClock, MemoryObjectState, ObjectChange, Page,
    Provider, ProviderError, SourceId, Watermark,
};
use tributary_egnyte::{
    Credentials, EgnyteConfig, EgnyteProvider, RateLimiters, Secret, StartPosition, Suppress,
};
use wiremock::matchers::{bearer_token, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const EVENTS: &str = "/pubapi/v2/events";
const CURSOR: &str = "/pubapi/v2/events/cursor";
const NOW: &str = "2026-01-05T09:20:00.000Z";
/// A cursor check interval (10 years) that tests about something else never reach.
const NO_CURSOR_CHECK_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

fn t(s: &str) -> DateTime<Utc> {
    tributary_core::time::parse(s).unwrap()
}

struct Harness {
    server: MockServer,
    clock: Arc<ManualClock>,
    memory: Arc<MemoryObjectState>,
    limiters: RateLimiters,
}

impl Harness {
    async fn new() -> Self {
        Self {
            server: MockServer::start().await,
            clock: Arc::new(ManualClock::new(t(NOW))),
            memory: Arc::new(MemoryObjectState::new()),
            limiters: RateLimiters::default(),
        }
    }

    fn config(&self) -> EgnyteConfig {
        EgnyteConfig::new(self.server.uri(), Credentials::bearer("tok"))
    }

    fn provider(&self, config: EgnyteConfig) -> EgnyteProvider {
        EgnyteProvider::new(
            SourceId::new("egnyte-acme").unwrap(),
            config,
            self.memory.clone(),
            &self.limiters,
            self.clock.clone(),
            tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
        )
        .unwrap()
    }

    async fn mount(&self, mock: Mock) {
        mock.mount(&self.server).await;
    }

    async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap()
    }

    /// `path?query` of every request, in order.
    async fn calls(&self) -> Vec<String> {
        self.requests()
            .await
            .iter()
            .map(|r| match r.url.query() {
                Some(q) => format!("{}?{q}", r.url.path()),
                None => r.url.path().to_owned(),
            })
            .collect()
    }

    async fn cursor(&self, latest: u64, oldest: u64) {
        self.mount(Mock::given(method("GET")).and(path(CURSOR)).respond_with(
            ResponseTemplate::new(200).set_body_json(json!({
                "timestamp": "2026-01-05T09:14:02.000Z",
                "latest_event_id": latest, "oldest_event_id": oldest
            })),
        ))
        .await;
    }

    async fn list(&self, after: u64, response: ResponseTemplate) {
        self.mount(
            Mock::given(method("GET"))
                .and(path(EVENTS))
                .and(query_param("id", after.to_string()))
                .respond_with(response),
        )
        .await;
    }
}

/// A checkpoint without `oldest_event_id`, as written before it was recorded.
fn checkpoint(last_id: u64, epoch: u32, checked: Option<&str>, idle: bool) -> Checkpoint {
    Checkpoint::from_json(json!({
        "version": "V1", "last_id": last_id, "epoch": epoch,
        "cursor_checked_at": checked, "idle": idle
    }))
    .unwrap()
}

/// A checkpoint that recorded `/cursor`'s `oldest_event_id`.
fn checkpoint_seen(
    last_id: u64,
    epoch: u32,
    checked: Option<&str>,
    idle: bool,
    oldest: u64,
) -> Checkpoint {
    Checkpoint::from_json(json!({
        "version": "V1", "last_id": last_id, "epoch": epoch,
        "cursor_checked_at": checked, "idle": idle, "oldest_event_id": oldest
    }))
    .unwrap()
}

fn no_content() -> ResponseTemplate {
    ResponseTemplate::new(204)
}

/// A `200` with `body` as JSON, labelled `text/plain` as Egnyte sometimes does.
fn text_plain(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "text/plain")
}

fn file_event(id: u64, action: &str, group: &str, path: &str) -> Value {
    json!({"id": id, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1204, "type": "file_system",
           "action": action, "action_source": "WebUI",
           "data": {"target_path": path, "target_id": format!("v{id}"), "target_group_id": group,
                    "is_folder": false}})
}

fn events_page(events: Vec<Value>) -> Value {
    let latest = events
        .last()
        .map(|e| e["id"].clone())
        .unwrap_or(Value::Null);
    let oldest = events
        .first()
        .map(|e| e["id"].clone())
        .unwrap_or(Value::Null);
    json!({"count": events.len(), "latest_id": latest, "oldest_id": oldest, "events": events})
}

fn ids(page: &Page) -> Vec<&str> {
    page.events.iter().map(|e| e.id.as_str()).collect()
}

fn watermark_at_now_minus_skew() -> Option<Watermark> {
    Some(Watermark::new(t("2026-01-05T09:19:58.000Z")))
}

#[tokio::test]
async fn first_poll_starts_at_the_latest_event_and_reads_204_as_nothing() {
    let h = Harness::new().await;
    h.cursor(70412, 61877).await;
    h.list(70412, no_content()).await;
    let p = h.provider(h.config());
    assert_eq!(p.name(), "egnyte");

    let page = p.poll(None).await.unwrap();
    let mut expected = Page::new(
        vec![],
        checkpoint_seen(70412, 0, Some(NOW), true, 61877),
        watermark_at_now_minus_skew(),
        false,
    );
    expected.positions = Some(vec![]);
    assert_eq!(page, expected);
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=70412&count=100&suppress=app")
        ]
    );
    for r in h.requests().await {
        assert_eq!(r.headers["authorization"], "Bearer tok");
    }
}

/// JSON labelled `text/plain`, as Egnyte sometimes sends it, is read as JSON from `/cursor` and
/// from the list alike. (Every list answer in this file is labelled so; this test names the rule,
/// which is checked here only: it is about reading an answer, not about what reaches the store.)
#[tokio::test]
async fn json_labelled_text_plain_is_read_as_json_from_the_cursor_and_the_list() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(CURSOR))
            .respond_with(text_plain(json!({
                "timestamp": "2026-01-05T09:14:02.000Z",
                "latest_event_id": 70412, "oldest_event_id": 61877
            }))),
    )
    .await;
    h.list(
        70412,
        text_plain(events_page(vec![file_event(
            70413,
            "create",
            "g",
            "/Shared/a.txt",
        )])),
    )
    .await;
    let page = h.provider(h.config()).poll(None).await.unwrap();
    assert_eq!(ids(&page), ["70413"]);
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(70413, 0, Some(NOW), false, 61877)
    );
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=70412&count=100&suppress=app")
        ]
    );
}

/// The notes' example page (a real payload, sent as `text/plain`) becomes these exact unified
/// events, object changes and checkpoint. Every action's mapping end to end:
/// `tests/it/egnyte/mapping.rs`.
#[tokio::test]
async fn maps_the_notes_example_page_to_exact_unified_events() {
    let h = Harness::new().await;
    let body: Value =
        serde_json::from_str(include_str!("fixtures/notes-example-page.json")).unwrap();
    h.list(70412, text_plain(body.clone())).await;
    let mut config = h.config();
    config.keep_raw = true;
    let p = h.provider(config);

    let page = p
        .poll(Some(&checkpoint(70412, 0, Some(NOW), false)))
        .await
        .unwrap();
    let got: Vec<Value> = page
        .events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(
        got[0],
        json!({
            "id": "70413", "source": "egnyte-acme", "provider": "egnyte", "type": "add",
            "occurred_at": "2026-01-05T09:15:10.000Z", "observed_at": NOW,
            "object": {"id": "e3c7a1d0-88b2-4f5e-a0c4-6b2d9e7f1a35", "kind": "file",
                       "name": "Q1 budget.xlsx", "path": "/Shared/Plans/Q1 budget.xlsx",
                       "parent": "/Shared/Plans",
                       "url": "https://acme.egnyte.com/pubapi/v1/fs/Shared/Plans/Q1%20budget.xlsx"},
            "actor": {"id": "1204", "via": "WebUI"},
            "upstream": {"id": "70413", "action": "create", "raw": body["events"][0]},
            "late": false
        })
    );
    assert_eq!(
        page.events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [EventType::Add, EventType::Rename, EventType::Delete]
    );
    // The group is recorded when first seen: the rename of the known group and the delete of a
    // group never seen change nothing.
    assert_eq!(
        page.objects,
        vec![ObjectChange::set(
            "e3c7a1d0-88b2-4f5e-a0c4-6b2d9e7f1a35",
            json!({"path": "/Shared/Plans/Q1 budget.xlsx", "event": 70413})
        )]
    );
    assert_eq!(page.checkpoint, checkpoint(70415, 0, Some(NOW), false));
    assert!(!page.more);
    assert_eq!(page.watermark, watermark_at_now_minus_skew());
}

/// Wire half of exclusive paging, one page per poll: each list asks `id` = the previous page's
/// `max(latest_id, largest id)`, `more` while pages are full, a watermark only once caught up, the
/// object memory carrying a group id between polls. No repeat reaching the store:
/// `paging::lists_strictly_after_the_saved_id_and_says_more_while_pages_are_full`.
#[tokio::test]
async fn pages_exclusively_and_drains_full_pages_before_promising_a_watermark() {
    let h = Harness::new().await;
    let g = "g-1";
    h.list(
        100,
        text_plain(events_page(vec![
            file_event(101, "create", g, "/Shared/a.txt"),
            file_event(102, "create", g, "/Shared/a.txt"),
        ])),
    )
    .await;
    // latest_id may run past the last event (filtered ones): the next id is the larger.
    h.list(
        105,
        text_plain(json!({"count": 1, "latest_id": 106, "events": [
            file_event(106, "create", g, "/Shared/a.txt")]})),
    )
    .await;
    h.list(
        102,
        text_plain(json!({"count": 2, "latest_id": 105, "events": [
            file_event(103, "create", g, "/Shared/a.txt"),
            file_event(104, "delete", g, "/Shared/a.txt")]})),
    )
    .await;
    let mut config = h.config();
    config.page_size = 2;
    config.max_pages_per_poll = 1; // one page per poll: the object memory carries the group id
    let p = h.provider(config);

    let first = p
        .poll(Some(&checkpoint(100, 0, Some(NOW), true)))
        .await
        .unwrap();
    assert_eq!(ids(&first), ["101", "102"]);
    assert_eq!(
        first
            .events
            .iter()
            .map(|e| e.event_type)
            .collect::<Vec<_>>(),
        [EventType::Add, EventType::Update]
    );
    assert!(first.more);
    assert_eq!(first.watermark, None);
    assert_eq!(first.checkpoint, checkpoint(102, 0, Some(NOW), false));
    h.memory.apply(&first.objects);

    let second = p.poll(Some(&first.checkpoint)).await.unwrap();
    assert_eq!(ids(&second), ["103", "104"]);
    assert_eq!(second.events[0].event_type, EventType::Update);
    assert_eq!(second.events[1].event_type, EventType::Delete);
    assert!(second.more);
    assert_eq!(second.checkpoint, checkpoint(105, 0, Some(NOW), false));
    h.memory.apply(&second.objects);

    let third = p.poll(Some(&second.checkpoint)).await.unwrap();
    assert_eq!(ids(&third), ["106"]);
    assert_eq!(
        third.events[0].event_type,
        EventType::Add,
        "a deleted group id is new again"
    );
    assert!(!third.more);
    assert_eq!(third.watermark, watermark_at_now_minus_skew());
    assert_eq!(third.checkpoint, checkpoint(106, 0, Some(NOW), false));

    assert_eq!(
        h.calls().await,
        [
            format!("{EVENTS}?id=100&count=2&suppress=app"),
            format!("{EVENTS}?id=102&count=2&suppress=app"),
            format!("{EVENTS}?id=105&count=2&suppress=app"),
        ]
    );
}

/// Three pages after id 100 with `page_size` 2: 101–102 and 103–104 full, then 106 alone.
async fn three_pages(h: &Harness, g: &str) {
    h.list(
        100,
        text_plain(events_page(vec![
            file_event(101, "create", g, "/Shared/a.txt"),
            file_event(102, "create", g, "/Shared/a.txt"),
        ])),
    )
    .await;
    h.list(
        102,
        text_plain(json!({"count": 2, "latest_id": 105, "events": [
            file_event(103, "create", g, "/Shared/a.txt"),
            file_event(104, "delete", g, "/Shared/a.txt")]})),
    )
    .await;
}

/// Wire half of several pages per poll: the requests (none after the page that is not full) and
/// the one `Page` they become (events, object changes across pages, checkpoint, watermark). What
/// one commit per poll stores: `paging::a_poll_reads_up_to_max_pages_per_poll_and_commits_them_as_one_page`.
#[tokio::test]
async fn one_poll_reads_full_pages_until_one_is_not_full_and_commits_them_as_one_page() {
    let h = Harness::new().await;
    let g = "g-1";
    three_pages(&h, g).await;
    h.list(
        105,
        text_plain(json!({"count": 1, "latest_id": 106, "events": [
            file_event(106, "create", g, "/Shared/a.txt")]})),
    )
    .await;
    let mut config = h.config();
    config.page_size = 2;
    let p = h.provider(config); // max_pages_per_poll = 10

    let page = p
        .poll(Some(&checkpoint(100, 0, Some(NOW), true)))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["101", "102", "103", "104", "106"]);
    // The group id first seen on page 1 is known on page 2; the delete on page 2 makes it new
    // again on page 3.
    assert_eq!(
        page.events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [
            EventType::Add,
            EventType::Update,
            EventType::Update,
            EventType::Delete,
            EventType::Add
        ]
    );
    let set = |id: u64| ObjectChange::set(g, json!({"path": "/Shared/a.txt", "event": id}));
    assert_eq!(
        page.objects,
        [set(101), ObjectChange::forget(g), set(106)],
        "every page's object changes, in order: the known group's updates change nothing"
    );
    assert!(!page.more);
    assert_eq!(page.watermark, watermark_at_now_minus_skew());
    assert_eq!(page.checkpoint, checkpoint(106, 0, Some(NOW), false));
    assert_eq!(
        h.calls().await,
        [
            format!("{EVENTS}?id=100&count=2&suppress=app"),
            format!("{EVENTS}?id=102&count=2&suppress=app"),
            format!("{EVENTS}?id=105&count=2&suppress=app"),
        ],
        "no request after the page that was not full"
    );
}

/// Wire half: the budget (`max_pages_per_poll`) ends a poll with `more`, no watermark and the
/// checkpoint after its last page. The stored outcome is in `paging` (see above).
#[tokio::test]
async fn a_poll_stops_at_its_page_budget_and_says_more() {
    let h = Harness::new().await;
    three_pages(&h, "g").await;
    let mut config = h.config();
    config.page_size = 2;
    config.max_pages_per_poll = 2;
    let p = h.provider(config);
    let page = p
        .poll(Some(&checkpoint(100, 0, Some(NOW), false)))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["101", "102", "103", "104"]);
    assert!(page.more);
    assert_eq!(page.watermark, None, "not caught up");
    assert_eq!(page.checkpoint, checkpoint(105, 0, Some(NOW), false));
    assert_eq!(h.calls().await.len(), 2);
}

/// Wire half, for every kind of failure: a later page's error returns the pages already read (no
/// `/cursor` call, no gap, the checkpoint after the last page read) with `more`, and the next poll
/// starts at the failed page. The stored outcome:
/// `faults::a_fault_on_a_later_page_commits_the_pages_before_it_and_the_next_poll_retries`.
#[tokio::test]
async fn an_error_on_a_later_page_commits_the_pages_read_and_says_more() {
    for (name, failure) in [
        ("503", ResponseTemplate::new(503).set_body_string("busy")),
        ("404", ResponseTemplate::new(404)),
        ("throttle", mashery("ERR_403_DEVELOPER_OVER_QPS")),
        ("malformed", text_plain(json!({"events": {"id": 1}}))),
        (
            "no id past the saved one",
            text_plain(json!({"count": 1, "latest_id": 105, "events": [
                file_event(105, "create", "g", "/Shared/a.txt")]})),
        ),
    ] {
        let h = Harness::new().await;
        three_pages(&h, "g").await;
        h.list(105, failure).await;
        h.cursor(2000, 1).await; // never read: a later page's 404 is left to the next poll
        let mut config = h.config();
        config.page_size = 2;
        let p = h.provider(config);
        let page = p
            .poll(Some(&checkpoint(100, 0, Some(NOW), false)))
            .await
            .unwrap();
        assert_eq!(ids(&page), ["101", "102", "103", "104"], "{name}");
        assert!(page.more, "{name}");
        assert_eq!(page.watermark, None, "{name}");
        assert!(page.gaps.is_empty(), "{name}");
        // `three_pages` touches one group: recorded when first seen, forgotten by its delete.
        assert_eq!(page.objects.len(), 2, "{name}");
        assert_eq!(
            page.checkpoint,
            checkpoint(105, 0, Some(NOW), false),
            "{name}: after the last page read, not past the failed one"
        );
        assert_eq!(h.calls().await.len(), 3, "{name}: no /cursor call");
        // The next poll starts at the failed page and meets the error there.
        assert!(p.poll(Some(&page.checkpoint)).await.is_err(), "{name}");
    }
}

/// Wire half of the 404 rule: after a `404` on the saved id the poll reads `/cursor` and lists
/// after its `oldest_event_id`, returning the exact `Gap` (ids up to and including the oldest
/// are lost), the checkpoint and the gap count. The stored outcome:
/// `gaps::a_404_on_the_saved_id_stores_the_events_after_the_oldest_and_records_the_gap`.
#[tokio::test]
async fn a_404_on_the_saved_id_reads_the_cursor_and_lists_after_the_oldest_with_the_exact_gap() {
    let h = Harness::new().await;
    h.list(
        500,
        ResponseTemplate::new(404).set_body_json(json!({"message": "Invalid cursor"})),
    )
    .await;
    h.cursor(1000, 900).await;
    h.list(
        900,
        text_plain(events_page(vec![file_event(
            901,
            "create",
            "g",
            "/Shared/x.txt",
        )])),
    )
    .await;
    let p = h.provider(h.config());
    h.clock.advance(Duration::from_secs(1));

    let page = p
        .poll(Some(&checkpoint(500, 0, Some(NOW), false)))
        .await
        .unwrap();
    assert_eq!(
        page.gaps,
        vec![Gap {
            detected_at: t("2026-01-05T09:20:01.000Z"),
            after: "500".into(),
            resumed_at: "900".into(),
            reason:
                "event id 500 expired upstream (404); events after 500 up to and including 900 \
                     are no longer readable; resumed after 900"
                    .into(),
        }]
    );
    assert_eq!(ids(&page), ["901"]);
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(901, 0, Some("2026-01-05T09:20:01.000Z"), false, 900)
    );
    assert_eq!(
        h.calls().await,
        [
            format!("{EVENTS}?id=500&count=100&suppress=app"),
            CURSOR.to_owned(),
            format!("{EVENTS}?id=900&count=100&suppress=app"),
        ]
    );
    assert_eq!(p.stats().gaps, 1);
}

#[tokio::test]
async fn a_second_404_is_transient_and_commits_nothing() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .respond_with(ResponseTemplate::new(404)),
    )
    .await;
    h.cursor(1000, 900).await;
    let p = h.provider(h.config());
    let err = p
        .poll(Some(&checkpoint(500, 0, Some(NOW), false)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Transient {
            message: "GET /pubapi/v2/events: event id 900 is no longer known upstream (404)".into()
        }
    );
}

/// Wire half of `start = "oldest"` refused: the first list asks for the id before the oldest; its
/// `404` reads `/cursor` again and lists after the oldest, returning the one-event gap. The stored
/// outcome: `gaps::starting_at_oldest_after_a_collection_stores_all_but_the_one_unreadable_event`.
#[tokio::test]
async fn starting_at_oldest_lists_after_the_id_before_it_and_its_404_returns_a_one_event_gap() {
    let h = Harness::new().await;
    h.cursor(61880, 61877).await;
    h.list(61876, ResponseTemplate::new(404)).await;
    h.list(
        61877,
        text_plain(events_page(vec![file_event(61878, "create", "g", "/a")])),
    )
    .await;
    let mut config = h.config();
    config.start = StartPosition::Oldest;
    let p = h.provider(config);

    let page = p.poll(None).await.unwrap();
    assert_eq!(ids(&page), ["61878"]);
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=61876&count=100&suppress=app"),
            CURSOR.to_owned(),
            format!("{EVENTS}?id=61877&count=100&suppress=app"),
        ]
    );
    assert_eq!(page.gaps.len(), 1);
    assert_eq!(
        (
            page.gaps[0].after.as_str(),
            page.gaps[0].resumed_at.as_str()
        ),
        ("61876", "61877")
    );
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(61878, 0, Some(NOW), false, 61877)
    );
}

/// Wire half of `start = "oldest"` accepted: one list after the id before the oldest reads the
/// oldest event too, without a gap. (End to end, every backlog drain in `paging` starts so.)
#[tokio::test]
async fn starting_at_oldest_reads_the_oldest_event_when_egnyte_accepts_the_id_before_it() {
    let h = Harness::new().await;
    h.cursor(61880, 61877).await;
    h.list(
        61876,
        text_plain(events_page(vec![file_event(61877, "create", "g", "/a")])),
    )
    .await;
    let mut config = h.config();
    config.start = StartPosition::Oldest;
    let page = h.provider(config).poll(None).await.unwrap();
    assert_eq!(ids(&page), ["61877"]);
    assert!(page.gaps.is_empty());
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=61876&count=100&suppress=app")
        ]
    );
}

/// Wire half of a reset with ids below ours: the due cursor check sees `latest_event_id` below the
/// saved id, lists before the new store's oldest, and returns the exact reset `Gap`, event ids
/// prefixed `r1-`, the new epoch in the checkpoint and the reset and gap counts. The stored
/// outcome: `gaps::ids_going_backwards_record_a_gap_and_store_the_new_store_under_a_new_epoch`.
#[tokio::test]
async fn ids_going_backwards_restart_before_the_new_oldest_with_a_reset_gap_and_prefixed_ids() {
    let h = Harness::new().await;
    h.cursor(50, 10).await;
    // The new store has events (latest 50 > oldest 10): read from the id before its oldest.
    h.list(
        9,
        text_plain(events_page(vec![
            file_event(10, "create", "g", "/a"),
            file_event(11, "create", "g", "/a"),
        ])),
    )
    .await;
    let p = h.provider(h.config());
    // Idle, and the last cursor check is older than the interval (15 min).
    let saved = checkpoint(1000, 0, Some("2026-01-05T09:00:00.000Z"), true);

    let page = p.poll(Some(&saved)).await.unwrap();
    assert_eq!(
        page.gaps,
        vec![Gap {
            detected_at: t(NOW),
            after: "1000".into(),
            resumed_at: "9".into(),
            reason: "Egnyte's event store was reset: /events/cursor latest_event_id 50 is below the saved id 1000; \
                     unread events after 1000 in the old store are lost, nothing of the new one is lost \
                     (its ids start at the oldest retained one); resumed after 9; event ids are now prefixed r1-"
                .into(),
        }]
    );
    assert_eq!(ids(&page), ["r1-10", "r1-11"]);
    assert_eq!(page.events[0].upstream.id, "10");
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(11, 1, Some(NOW), false, 10)
    );
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=9&count=100&suppress=app")
        ]
    );
    let stats = p.stats();
    assert_eq!((stats.resets, stats.gaps), (1, 1));
}

/// A reset met as a `404` on the saved id (the check was not due) resumes after the new oldest,
/// never before it: the poll has no list left to risk a second `404`. Checked here only.
#[tokio::test]
async fn a_reset_found_by_a_404_resumes_after_the_new_oldest() {
    let h = Harness::new().await;
    h.list(1000, ResponseTemplate::new(404)).await;
    h.cursor(50, 10).await;
    h.list(
        10,
        text_plain(events_page(vec![file_event(11, "create", "g", "/a")])),
    )
    .await;
    let p = h.provider(h.config());
    let page = p
        .poll(Some(&checkpoint(1000, 0, Some(NOW), false)))
        .await
        .unwrap();
    // After a 404 the poll has one list left: never risk a second 404 on `oldest - 1`.
    assert_eq!(page.gaps.len(), 1);
    assert_eq!(
        (
            page.gaps[0].after.as_str(),
            page.gaps[0].resumed_at.as_str()
        ),
        ("1000", "10")
    );
    assert!(
        page.gaps[0]
            .reason
            .contains("ids up to 10 in the new one are lost"),
        "{}",
        page.gaps[0].reason
    );
    assert_eq!(ids(&page), ["r1-11"]);
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(11, 1, Some(NOW), false, 10)
    );
}

/// Wire half of a reset whose ids passed ours: a busy source whose check is due reads `/cursor`
/// before listing, sees `oldest_event_id` below the recorded one, and returns the exact `Gap`
/// (the new store's ids up to the saved one), then lists on after the saved id; a checkpoint
/// without a recorded oldest only records it. The stored outcome:
/// `gaps::a_reset_whose_ids_overtake_the_saved_id_while_busy_stores_a_gap_not_silence`.
#[tokio::test]
async fn a_due_cursor_check_while_busy_returns_the_gap_of_a_reset_whose_ids_passed_the_saved_id() {
    let h = Harness::new().await;
    h.cursor(1500, 5).await;
    h.list(
        1000,
        text_plain(events_page(vec![file_event(1001, "create", "g", "/a")])),
    )
    .await;
    let p = h.provider(h.config());
    // Busy, oldest 900 at the last check, 20 minutes ago: the check is due.
    let saved = checkpoint_seen(1000, 0, Some("2026-01-05T09:00:00.000Z"), false, 900);

    let page = p.poll(Some(&saved)).await.unwrap();
    assert_eq!(
        page.gaps,
        vec![Gap {
            detected_at: t(NOW),
            after: "4".into(),
            resumed_at: "1000".into(),
            reason: "Egnyte's event store was reset: /events/cursor oldest_event_id 5 is below 900, \
                     the oldest id seen before, while latest_event_id 1500 is not below the saved id 1000; \
                     ids 5 to 1000 of the new store were not read, and unread events of the old \
                     store are lost; resumed after 1000; event ids are now prefixed r1-"
                .into(),
        }]
    );
    // Forward from the saved id: nothing above it is read twice.
    assert_eq!(ids(&page), ["r1-1001"]);
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(1001, 1, Some(NOW), false, 5)
    );
    assert_eq!(
        h.calls().await,
        [
            CURSOR.to_owned(),
            format!("{EVENTS}?id=1000&count=100&suppress=app")
        ]
    );
    assert_eq!((p.stats().resets, p.stats().gaps), (1, 1));

    // Without a recorded oldest (a checkpoint from before it was kept), the check records it.
    let old = checkpoint(1000, 0, Some("2026-01-05T09:00:00.000Z"), false);
    let page = p.poll(Some(&old)).await.unwrap();
    assert!(page.gaps.is_empty());
    assert_eq!(ids(&page), ["1001"]);
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(1001, 0, Some(NOW), false, 5)
    );
}

/// Wire half of starvation: `/cursor` is read only when the check is due (busy or idle), before
/// the list, and the list's `204` moves the id to that `latest_event_id`. That a quiet filter so
/// never falls out of retention: `gaps::a_quiet_folder_filter_never_falls_out_of_retention_or_records_a_gap`.
#[tokio::test]
async fn a_quiet_filtered_stream_reads_the_cursor_when_due_and_its_204_moves_the_id_there() {
    let h = Harness::new().await;
    h.cursor(5000, 10).await;
    h.list(1000, no_content()).await;
    let mut config = h.config();
    config.folder = Some("/Shared/quiet".into());
    let p = h.provider(config);

    // Checked recently, busy or idle: no cursor call, the id stays.
    for idle in [false, true] {
        let recent = p
            .poll(Some(&checkpoint(
                1000,
                0,
                Some("2026-01-05T09:10:00.000Z"),
                idle,
            )))
            .await
            .unwrap();
        assert_eq!(
            recent.checkpoint,
            checkpoint(1000, 0, Some("2026-01-05T09:10:00.000Z"), true)
        );
    }
    // Due (busy or not): read the cursor first, then the 204 moves the id to its latest.
    let due = p
        .poll(Some(&checkpoint(
            1000,
            0,
            Some("2026-01-05T08:00:00.000Z"),
            false,
        )))
        .await
        .unwrap();
    assert_eq!(
        due.checkpoint,
        checkpoint_seen(5000, 0, Some(NOW), true, 10)
    );
    assert!(due.events.is_empty() && due.gaps.is_empty());
    assert_eq!(due.watermark, watermark_at_now_minus_skew());

    let list = format!("{EVENTS}?id=1000&count=100&folder=%2FShared%2Fquiet&suppress=app");
    assert_eq!(
        h.calls().await,
        [list.clone(), list.clone(), CURSOR.to_owned(), list]
    );
}

#[tokio::test]
async fn a_cursor_check_before_a_poll_with_events_keeps_paging_by_the_events() {
    let h = Harness::new().await;
    h.cursor(5000, 10).await;
    h.list(
        1000,
        text_plain(events_page(vec![file_event(1001, "create", "g", "/a")])),
    )
    .await;
    let p = h.provider(h.config());
    let page = p
        .poll(Some(&checkpoint(1000, 0, None, true)))
        .await
        .unwrap();
    assert_eq!(
        page.checkpoint,
        checkpoint_seen(1001, 0, Some(NOW), false, 10)
    );
}

/// The filters on the wire: `folder`, `type` pipe-joined, `suppress`, `count`, and the v1 path.
/// Which events each filter lets through: `tests/it/egnyte/filters.rs`.
#[tokio::test]
async fn sends_the_filters_exactly() {
    let h = Harness::new().await;
    h.list(1, no_content()).await;
    let mut config = h.config();
    config.folder = Some("/Shared/marketing events".into());
    config.types = vec!["file_system".into(), "note".into()];
    config.suppress = Suppress::User;
    config.page_size = 25;
    h.provider(config)
        .poll(Some(&checkpoint(1, 0, Some(NOW), false)))
        .await
        .unwrap();

    let mut config = h.config();
    config.suppress = Suppress::None;
    config.api_version = tributary_egnyte::ApiVersion::V1;
    h.mount(
        Mock::given(method("GET"))
            .and(path("/pubapi/v1/events"))
            .respond_with(no_content()),
    )
    .await;
    h.provider(config)
        .poll(Some(&checkpoint(2, 0, Some(NOW), false)))
        .await
        .unwrap();

    let requests = h.requests().await;
    let pairs: Vec<Vec<(String, String)>> = requests
        .iter()
        .map(|r| r.url.query_pairs().into_owned().collect())
        .collect();
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        pairs,
        vec![
            owned(&[
                ("id", "1"),
                ("count", "25"),
                ("folder", "/Shared/marketing events"),
                ("type", "file_system|note"),
                ("suppress", "user"),
            ]),
            owned(&[("id", "2"), ("count", "100")]),
        ]
    );
    assert_eq!(requests[1].url.path(), "/pubapi/v1/events");
}

async fn poll_error(response: ResponseTemplate) -> ProviderError {
    let h = Harness::new().await;
    h.list(7, response).await;
    let p = h.provider(h.config());
    p.poll(Some(&checkpoint(7, 0, Some(NOW), false)))
        .await
        .unwrap_err()
}

fn mashery(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(403)
        .insert_header("X-Mashery-Error-Code", code)
        .set_body_raw("<h1>Developer Over Qps</h1>", "text/html")
}

/// Throttles are classified here, with exact messages and `Retry-After` (given or defaulted).
/// That a throttled poll commits nothing and passes once the clock moves: `limits.rs`.
#[tokio::test]
async fn throttles_become_rate_limited_with_retry_after() {
    assert_eq!(
        poll_error(mashery("ERR_403_DEVELOPER_OVER_QPS").insert_header("Retry-After", "3")).await,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: "GET /pubapi/v2/events: throttled by Egnyte (ERR_403_DEVELOPER_OVER_QPS), retry after 3s"
                .into()
        }
    );
    let retry = |e: ProviderError| match e {
        ProviderError::RateLimited { retry_after, .. } => retry_after,
        other => panic!("not rate limited: {other:?}"),
    };
    assert_eq!(
        retry(
            poll_error(mashery("ERR_403_DEVELOPER_OVER_RATE").insert_header("Retry-After", "7200"))
                .await
        ),
        Some(Duration::from_secs(7200))
    );
    assert_eq!(
        retry(poll_error(mashery("ERR_403_DEVELOPER_OVER_RATE")).await),
        Some(Duration::from_secs(3600)),
        "the daily quota never retries in a tight loop"
    );
    assert_eq!(
        retry(poll_error(mashery("ERR_403_DEVELOPER_OVER_QPS")).await),
        Some(Duration::from_secs(1))
    );
    assert_eq!(
        retry(
            poll_error(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", "5")
                    .set_body_json(
                        json!({"fault": {"faultstring": "Rate limit quota violation",
                        "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}})
                    )
            )
            .await
        ),
        Some(Duration::from_secs(5))
    );
    assert_eq!(retry(poll_error(ResponseTemplate::new(429)).await), None);
}

#[tokio::test]
async fn refused_credentials_are_auth_errors() {
    assert_eq!(
        poll_error(ResponseTemplate::new(401).set_body_string("Unauthorized")).await,
        ProviderError::Auth {
            message: "GET /pubapi/v2/events: credentials refused (401): Unauthorized".into()
        }
    );
    assert_eq!(
        poll_error(mashery("ERR_403_DEVELOPER_INACTIVE")).await,
        ProviderError::Auth {
            message: "GET /pubapi/v2/events: credentials refused (403, ERR_403_DEVELOPER_INACTIVE): <h1>Developer Over Qps</h1>"
                .into()
        }
    );
}

#[tokio::test]
async fn permission_and_request_errors_are_fatal() {
    assert_eq!(
        poll_error(ResponseTemplate::new(403).set_body_json(json!({"errorMessage": "Access denied"})))
            .await,
        ProviderError::Fatal {
            message: r#"GET /pubapi/v2/events: permission denied (403 without a throttle code): {"errorMessage":"Access denied"}"#
                .into()
        }
    );
    assert!(matches!(
        poll_error(ResponseTemplate::new(400)).await,
        ProviderError::Fatal { .. }
    ));
}

/// Transient errors are classified here, with exact messages. That such a poll commits nothing
/// and the next one resumes without loss: `faults.rs`.
#[tokio::test]
async fn server_errors_timeouts_and_malformed_answers_are_transient() {
    assert_eq!(
        poll_error(ResponseTemplate::new(503).set_body_string("busy")).await,
        ProviderError::Transient {
            message: "GET /pubapi/v2/events: server error 503: busy".into()
        }
    );
    let malformed =
        poll_error(text_plain(json!("not an envelope")).set_body_string("{\"events\": [")).await;
    assert!(
        matches!(&malformed, ProviderError::Transient { message } if message.starts_with("GET /pubapi/v2/events: unexpected answer: EOF while parsing")),
        "{malformed:?}"
    );
    let not_array = poll_error(text_plain(json!({"events": {"id": 1}}))).await;
    assert!(
        matches!(not_array, ProviderError::Transient { .. }),
        "{not_array:?}"
    );

    let h = Harness::new().await;
    h.list(
        7,
        ResponseTemplate::new(204).set_delay(Duration::from_secs(10)),
    )
    .await;
    let mut config = h.config();
    config.request_timeout_ms = 50;
    let err = h
        .provider(config)
        .poll(Some(&checkpoint(7, 0, Some(NOW), false)))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Transient {
            message: "GET /pubapi/v2/events: no answer within 50ms".into()
        }
    );
}

#[tokio::test]
async fn a_foreign_checkpoint_is_fatal() {
    let h = Harness::new().await;
    let p = h.provider(h.config());
    let foreign = Checkpoint::from_json(json!({"version": "V1", "since": "x"})).unwrap();
    assert!(matches!(
        p.poll(Some(&foreign)).await.unwrap_err(),
        ProviderError::Fatal { .. }
    ));
}

#[tokio::test]
async fn counts_calls_quota_and_unmapped_actions() {
    let h = Harness::new().await;
    let lock = json!({"id": 8, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1, "type": "file_system",
                      "action": "lock", "data": {"target_path": "/a", "target_group_id": "g", "is_folder": false}});
    let perm = json!({"id": 9, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1,
                      "type": "permission_change", "action": "permission_change",
                      "data": {"target_path": "/Shared", "is_folder": true}});
    h.list(
        7,
        text_plain(json!({"latest_id": 10, "events": [lock.clone(), perm, {"no": "id"}, lock]}))
            .insert_header("X-Accesstoken-Quota-Current", "17")
            .insert_header("X-Accesstoken-Quota-Allotted", "1000"),
    )
    .await;
    let p = h.provider(h.config());
    let page = p
        .poll(Some(&checkpoint(7, 0, Some(NOW), false)))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["8", "9", "8"]);
    assert!(
        page.events
            .iter()
            .all(|e| e.event_type == EventType::Update && e.upstream.raw.is_some())
    );
    assert_eq!(page.checkpoint, checkpoint(10, 0, Some(NOW), false));
    let stats = p.stats();
    assert_eq!(stats.calls, 1);
    assert_eq!(
        (stats.quota_used, stats.quota_allotted),
        (Some(17), Some(1000))
    );
    assert_eq!(stats.unreadable, 1);
    assert_eq!(
        stats.unmapped.into_iter().collect::<Vec<_>>(),
        [
            ("file_system/lock".to_owned(), 2),
            ("permission_change/permission_change".to_owned(), 1)
        ]
    );
    assert!(!stats.credential.contains("tok"));
}

fn oauth(access: Option<&str>, expires_at: Option<&str>) -> Credentials {
    Credentials::Oauth {
        client_id: "cid".into(),
        client_secret: Secret::new("csecret"),
        refresh_token: Secret::new("refresh-1"),
        access_token: access.map(Secret::new),
        access_token_expires_at: expires_at.map(t),
    }
}

async fn token_endpoint(h: &Harness, answer: Value) {
    h.mount(
        Mock::given(method("POST"))
            .and(path("/puboauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer)),
    )
    .await;
}

/// Wire half of the refresh before expiry, for a configured `access_token_expires_at` (60 s
/// early): the exact requests with their bearer tokens and the refresh's form fields. A lifetime
/// from `expires_in`, the token shared by a credential's sources, and polling on:
/// `auth::oauth_refreshes_before_expires_in_runs_out_shares_the_token_and_keeps_polling`.
#[tokio::test]
async fn refreshes_a_token_with_a_configured_expiry_a_minute_early_with_the_exact_form() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("old"))
            .respond_with(no_content()),
    )
    .await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("new"))
            .respond_with(no_content()),
    )
    .await;
    token_endpoint(
        &h,
        json!({"access_token": "new", "token_type": "bearer", "expires_in": 3600,
               "refresh_token": "refresh-2"}),
    )
    .await;
    let mut config = EgnyteConfig::new(
        h.server.uri(),
        oauth(Some("old"), Some("2026-01-05T09:30:00.000Z")),
    );
    config.cursor_check_interval_ms = NO_CURSOR_CHECK_MS;
    let p = h.provider(config);
    let cp = checkpoint(7, 0, Some(NOW), false);

    p.poll(Some(&cp)).await.unwrap();
    h.clock.advance(Duration::from_secs(9 * 60)); // 09:29, within a minute of expiry
    p.poll(Some(&cp)).await.unwrap();
    h.clock.advance(Duration::from_secs(30 * 60)); // well within the new token's hour
    p.poll(Some(&cp)).await.unwrap();

    let requests = h.requests().await;
    assert_eq!(
        authorized_calls(&requests),
        [
            (format!("GET {EVENTS}"), "Bearer old".to_owned()),
            ("POST /puboauth/token".to_owned(), String::new()),
            (format!("GET {EVENTS}"), "Bearer new".to_owned()),
            (format!("GET {EVENTS}"), "Bearer new".to_owned()),
        ]
    );
    let form: Vec<(String, String)> =
        url_pairs(&String::from_utf8(requests[1].body.clone()).unwrap());
    assert_eq!(
        form,
        [
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), "refresh-1".to_owned()),
            ("client_id".to_owned(), "cid".to_owned()),
            ("client_secret".to_owned(), "csecret".to_owned()),
        ]
    );
    assert_eq!(p.stats().token_refreshes, 1);
}

/// Stores rotations, or refuses while `fail` is set; says what it stored.
#[derive(Default)]
struct Rotations {
    saved: std::sync::Mutex<Vec<(String, String)>>,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl tributary_core::CredentialWriter for Rotations {
    async fn save_rotated(
        &self,
        r: &tributary_core::RotatedRefreshToken,
    ) -> Result<(), tributary_core::CredentialWriteError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tributary_core::CredentialWriteError("disk full".into()));
        }
        assert_eq!((r.provider, r.client_id.as_str()), ("egnyte", "cid"));
        self.saved.lock().unwrap().push((
            r.previous.expose().to_owned(),
            r.current.expose().to_owned(),
        ));
        Ok(())
    }
}

/// A rotated refresh token goes to the credential writer before the new access token is used;
/// a failed write fails the poll (transient) without a request made with that token, and the next
/// poll refreshes with the rotated token and stores the newer one.
#[tokio::test]
async fn a_rotated_refresh_token_is_stored_before_use_and_a_failed_write_fails_the_poll() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("POST"))
            .and(path("/puboauth/token"))
            .and(wiremock::matchers::body_string_contains(
                "refresh_token=refresh-1",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "a1", "token_type": "bearer", "expires_in": 3600,
                "refresh_token": "refresh-2"}))),
    )
    .await;
    h.mount(
        Mock::given(method("POST"))
            .and(path("/puboauth/token"))
            .and(wiremock::matchers::body_string_contains(
                "refresh_token=refresh-2",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "a2", "token_type": "bearer", "expires_in": 3600,
                "refresh_token": "refresh-3"}))),
    )
    .await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .respond_with(no_content()),
    )
    .await;
    let mut config = EgnyteConfig::new(h.server.uri(), oauth(None, None));
    config.cursor_check_interval_ms = NO_CURSOR_CHECK_MS;
    let writer = Arc::new(Rotations::default());
    writer.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let p = h.provider(config).with_credential_writer(writer.clone());
    let cp = checkpoint(7, 0, Some(NOW), false);

    let e = p.poll(Some(&cp)).await.unwrap_err();
    assert_eq!(
        e,
        tributary_core::ProviderError::Transient {
            message: "egnyte: could not store the rotated refresh token: disk full; the next \
                      poll refreshes again"
                .into()
        }
    );
    writer
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    p.poll(Some(&cp)).await.unwrap();
    assert_eq!(
        *writer.saved.lock().unwrap(),
        [("refresh-1".to_owned(), "refresh-3".to_owned())]
    );
    assert_eq!(
        authorized_calls(&h.requests().await),
        [
            ("POST /puboauth/token".to_owned(), String::new()),
            ("POST /puboauth/token".to_owned(), String::new()),
            (format!("GET {EVENTS}"), "Bearer a2".to_owned()),
        ]
    );
}

/// `METHOD path` and the `Authorization` header (empty if none) of every request, in order.
fn authorized_calls(requests: &[Request]) -> Vec<(String, String)> {
    requests
        .iter()
        .map(|r| {
            let auth = r
                .headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (format!("{} {}", r.method, r.url.path()), auth)
        })
        .collect()
}

fn url_pairs(form: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{form}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A token without a lifetime is used until refused; a refused one is replaced once and the
/// request retried: the wire half (exact requests). That the retried poll stores its events:
/// `auth::oauth_refreshes_once_after_a_401_and_stores_what_the_retried_call_read`.
#[tokio::test]
async fn a_token_without_lifetime_is_kept_until_refused() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("stale"))
            .respond_with(ResponseTemplate::new(401)),
    )
    .await;
    h.mount(
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("forever"))
            .respond_with(no_content()),
    )
    .await;
    token_endpoint(&h, json!({"access_token": "forever", "expires_in": "-1"})).await;
    // No access token yet: the first request refreshes; -1 means it never expires.
    let mut config = EgnyteConfig::new(h.server.uri(), oauth(None, None));
    config.cursor_check_interval_ms = NO_CURSOR_CHECK_MS;
    let p = h.provider(config);
    let cp = checkpoint(7, 0, Some(NOW), false);
    p.poll(Some(&cp)).await.unwrap();
    h.clock.advance(Duration::from_secs(90 * 24 * 3600));
    p.poll(Some(&cp)).await.unwrap();
    assert_eq!(p.stats().token_refreshes, 1);

    // A refused token is replaced once, and the request retried.
    let h2 = Harness::new().await;
    for m in [
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("stale"))
            .respond_with(ResponseTemplate::new(401)),
        Mock::given(method("GET"))
            .and(path(EVENTS))
            .and(bearer_token("forever"))
            .respond_with(no_content()),
    ] {
        h2.mount(m).await;
    }
    token_endpoint(&h2, json!({"access_token": "forever"})).await;
    let p2 = h2.provider(EgnyteConfig::new(
        h2.server.uri(),
        oauth(Some("stale"), None),
    ));
    p2.poll(Some(&cp)).await.unwrap();
    assert_eq!(p2.stats().token_refreshes, 1);
    assert_eq!(p2.stats().calls, 3);
    assert_eq!(
        authorized_calls(&h2.requests().await),
        [
            (format!("GET {EVENTS}"), "Bearer stale".to_owned()),
            ("POST /puboauth/token".to_owned(), String::new()),
            (format!("GET {EVENTS}"), "Bearer forever".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_refused_refresh_is_an_auth_error() {
    let h = Harness::new().await;
    h.mount(
        Mock::given(method("POST"))
            .and(path("/puboauth/token"))
            .respond_with(
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})),
            ),
    )
    .await;
    let p = h.provider(EgnyteConfig::new(h.server.uri(), oauth(None, None)));
    let err = p
        .poll(Some(&checkpoint(7, 0, Some(NOW), false)))
        .await
        .unwrap_err();
    // The kit reads the RFC 6749 error body (`error`, `error_description`) for every provider.
    assert_eq!(
        err,
        ProviderError::Auth {
            message: "POST /puboauth/token: credentials refused (400): invalid_grant".into()
        }
    );
}

#[tokio::test]
async fn the_clock_is_the_injected_one() {
    let h = Harness::new().await;
    h.list(7, no_content()).await;
    h.cursor(7, 1).await; // years after the last check: due
    let p = h.provider(h.config());
    h.clock.set(t("2030-06-01T00:00:10.000Z"));
    let page = p
        .poll(Some(&checkpoint(7, 0, Some(NOW), false)))
        .await
        .unwrap();
    assert_eq!(
        page.watermark,
        Some(Watermark::new(t("2030-06-01T00:00:08.000Z")))
    );
    assert_eq!(h.clock.now(), t("2030-06-01T00:00:10.000Z"));
}

/// A small event store behind wiremock: ids `1..=n`, the `false` ones hidden (by a filter, or by
/// permissions), answering the list endpoint as Egnyte does.
struct Store {
    visible: Vec<u64>,
}

impl wiremock::Respond for Store {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let q: std::collections::HashMap<String, String> =
            r.url.query_pairs().into_owned().collect();
        let after: u64 = q["id"].parse().unwrap();
        let count: usize = q["count"].parse().unwrap();
        let page: Vec<Value> = self
            .visible
            .iter()
            .filter(|&&i| i > after)
            .take(count)
            .map(|&i| file_event(i, "create", &format!("g{i}"), "/Shared/a.txt"))
            .collect();
        if page.is_empty() {
            return no_content();
        }
        text_plain(events_page(page))
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    #[test]
    fn paging_returns_every_visible_event_once_in_order(
        mask in proptest::collection::vec(proptest::bool::ANY, 0..300),
        page_size in 1u32..=100,
        max_pages in 1u32..=4,
        start in 0u64..20,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let visible: Vec<u64> = mask
            .iter()
            .enumerate()
            .filter(|(_, v)| **v)
            .map(|(i, _)| i as u64 + 1)
            .collect();
        let (seen, polls, requests) = rt.block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path(EVENTS))
                .respond_with(Store { visible: visible.clone() })
                .mount(&server)
                .await;
            let limiters =
                RateLimiters::new(governor::Quota::per_second(NonZeroU32::new(100_000).unwrap()));
            let mut config = EgnyteConfig::new(server.uri(), Credentials::bearer("tok"));
            config.page_size = page_size;
            config.max_pages_per_poll = max_pages;
            let provider = EgnyteProvider::new(
                SourceId::new("egnyte-acme").unwrap(),
                config,
                Arc::new(MemoryObjectState::new()),
                &limiters,
                Arc::new(ManualClock::new(t(NOW))),
                tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
            )
            .unwrap();
            let mut cp = checkpoint(start, 0, Some(NOW), false);
            let mut seen = Vec::new();
            let mut polls = 0;
            loop {
                let page = provider.poll(Some(&cp)).await.unwrap();
                polls += 1;
                seen.extend(page.events.iter().map(|e| e.upstream.id.parse::<u64>().unwrap()));
                cp = page.checkpoint;
                if !page.more || polls > 1_000 {
                    break;
                }
            }
            let requests = server.received_requests().await.unwrap().len();
            (seen, polls, requests)
        });
        let want: Vec<u64> = visible.into_iter().filter(|&i| i > start).collect();
        // Every full page, then the one that is not (empty when the last page was full).
        let expected_requests = want.len() / page_size as usize + 1;
        proptest::prop_assert_eq!(seen, want);
        proptest::prop_assert_eq!(requests, expected_requests);
        proptest::prop_assert_eq!(polls, expected_requests.div_ceil(max_pages as usize));
    }
}
