//! The bounds no Egnyte answer can push a poll past, over real HTTP on 127.0.0.1 (port 0):
//! requests and time per poll (the pages read before a bound are committed, as after a failed
//! later page), and the size of an answer.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{
    Checkpoint, ManualClock, MemoryObjectState, Provider, ProviderError, SourceId,
};
use tributary_egnyte::{Credentials, EgnyteConfig, EgnyteProvider, RateLimiters};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const EVENTS: &str = "/pubapi/v2/events";
const CURSOR: &str = "/pubapi/v2/events/cursor";
const NOW: &str = "2026-01-05T09:20:00.000Z";

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(tributary_core::time::parse(NOW).unwrap()))
}

fn provider(
    base: String,
    clock: Arc<ManualClock>,
    f: impl FnOnce(&mut EgnyteConfig),
) -> EgnyteProvider {
    let mut config = EgnyteConfig::new(base, Credentials::bearer("tok"));
    f(&mut config);
    // A limiter that never makes these tests wait.
    let limiters = RateLimiters::new(governor::Quota::per_second(
        NonZeroU32::new(100_000).unwrap(),
    ));
    EgnyteProvider::new(
        SourceId::new("egnyte-acme").unwrap(),
        config,
        Arc::new(MemoryObjectState::new()),
        &limiters,
        clock,
        tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
    )
    .unwrap()
}

/// A checkpoint after event `last_id`, whose cursor check is not due (checked at `checked`).
fn checkpoint(last_id: u64, checked: Option<&str>) -> Checkpoint {
    Checkpoint::from_json(json!({
        "version": "V1", "last_id": last_id, "epoch": 0, "cursor_checked_at": checked, "idle": false
    }))
    .unwrap()
}

fn transient(e: ProviderError) -> String {
    match e {
        ProviderError::Transient { message } => message,
        other => panic!("expected a transient error, got {other:?}"),
    }
}

/// A backlog without end: every list answers a full page of the 100 events after its `id`,
/// each answer taking `tick` on the source's clock (a slow upstream, without waiting).
struct Backlog {
    clock: Arc<ManualClock>,
    tick: Duration,
}

impl Respond for Backlog {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.clock.advance(self.tick);
        let after: u64 = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "id")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap();
        let events: Vec<Value> = (after + 1..=after + 100)
            .map(|id| {
                json!({"id": id, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1204,
                       "type": "file_system", "action": "create",
                       "data": {"target_path": format!("/Shared/f{id}"), "is_folder": false}})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(
            json!({"count": 100, "oldest_id": after + 1, "latest_id": after + 100, "events": events}),
        )
    }
}

async fn backlog(clock: &Arc<ManualClock>, tick: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(Backlog {
            clock: clock.clone(),
            tick,
        })
        .mount(&server)
        .await;
    server
}

async fn count(server: &MockServer, of: &str) -> usize {
    let requests = server.received_requests().await.unwrap();
    requests.iter().filter(|r| r.url.path() == of).count()
}

/// `max_requests_per_poll` below the page budget: the poll sends exactly that many requests and
/// commits the pages read, with `more` and no watermark; the next poll goes on after them.
#[tokio::test]
async fn a_poll_ends_at_max_requests_per_poll_with_the_pages_read() {
    let clock = clock();
    let server = backlog(&clock, Duration::ZERO).await;
    let p = provider(server.uri(), clock, |c| c.max_requests_per_poll = Some(3));
    let page = p.poll(Some(&checkpoint(0, Some(NOW)))).await.unwrap();
    assert_eq!(count(&server, EVENTS).await, 3);
    assert_eq!(page.events.len(), 300);
    assert!(page.more);
    assert_eq!(page.watermark, None);
    assert_eq!(page.checkpoint.as_json()["last_id"], 300);

    let page = p.poll(Some(&page.checkpoint)).await.unwrap();
    assert_eq!(count(&server, EVENTS).await, 6);
    assert_eq!(page.checkpoint.as_json()["last_id"], 600);
    assert_eq!(p.stats().calls, 6);
}

/// A slow upstream: each page takes 50 s on the source's clock. With `max_poll_time_ms` at
/// 120 s, the third page starts at 100 s, the fourth is never asked for, and the three pages read
/// are committed.
#[tokio::test]
async fn a_poll_ends_at_max_poll_time_with_the_pages_read() {
    let clock = clock();
    let server = backlog(&clock, Duration::from_secs(50)).await;
    let p = provider(server.uri(), clock.clone(), |c| {
        c.max_poll_time_ms = 120_000;
        c.max_pages_per_poll = 1_000;
    });
    let page = p.poll(Some(&checkpoint(0, Some(NOW)))).await.unwrap();
    assert_eq!(count(&server, EVENTS).await, 3);
    assert_eq!(page.events.len(), 300);
    assert!(page.more);
    assert_eq!(page.checkpoint.as_json()["last_id"], 300);
}

/// Out of time before the first page (a cursor check that took 130 s): the poll fails as
/// transient, naming the bound, and the list is never asked for.
#[tokio::test]
async fn a_poll_out_of_time_before_its_first_page_fails() {
    let clock = clock();
    let server = backlog(&clock, Duration::ZERO).await;
    let slow = clock.clone();
    Mock::given(method("GET"))
        .and(path(CURSOR))
        .respond_with(move |_: &Request| {
            slow.advance(Duration::from_secs(130));
            ResponseTemplate::new(200)
                .set_body_json(json!({"latest_event_id": 500, "oldest_event_id": 1}))
        })
        .mount(&server)
        .await;
    let p = provider(server.uri(), clock, |_| {});
    let e = p.poll(Some(&checkpoint(0, None))).await.unwrap_err();
    assert_eq!(
        transient(e),
        "the poll reached its time limit of 120000 ms (max_poll_time_ms) and ends here; \
         the next poll starts again"
    );
    assert_eq!(count(&server, CURSOR).await, 1);
    assert_eq!(count(&server, EVENTS).await, 0);
}

/// An answer whose `Content-Length` passes `max_response_bytes` is refused before it is read.
#[tokio::test]
async fn an_answer_declared_larger_than_max_response_bytes_is_refused() {
    let server = MockServer::start().await;
    let big = json!({"count": 0, "events": [], "padding": "x".repeat(4096)}).to_string();
    Mock::given(method("GET"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(200).set_body_string(big.clone()))
        .mount(&server)
        .await;
    let p = provider(server.uri(), clock(), |c| c.max_response_bytes = 1024);
    let e = p.poll(Some(&checkpoint(0, Some(NOW)))).await.unwrap_err();
    assert_eq!(
        transient(e),
        format!(
            "GET {EVENTS}: the answer is larger than the limit of 1024 bytes (Content-Length {}), \
             set by max_response_bytes; the rest was not read",
            big.len()
        )
    );
    assert_eq!(count(&server, EVENTS).await, 1);
}

/// An answer without a `Content-Length` (chunked, 64 MiB offered) is refused once what was read
/// passes `max_response_bytes`.
#[tokio::test]
async fn an_unsized_answer_is_refused_once_it_passes_max_response_bytes() {
    let base = tributary_http::testing::chunked_server(1024, 65_536)
        .await
        .unwrap();
    let p = provider(base, clock(), |c| c.max_response_bytes = 1024 * 1024);
    let e = p.poll(Some(&checkpoint(0, Some(NOW)))).await.unwrap_err();
    assert_eq!(
        transient(e),
        format!(
            "GET {EVENTS}: the answer is larger than the limit of 1048576 bytes, set by \
             max_response_bytes; the rest was not read"
        )
    );
}
