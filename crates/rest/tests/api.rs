//! `rest` polling a small JSON API served by the test itself (axum on 127.0.0.1:0): a plain list
//! of items with `updated_at` / `created_at`, filtered by `since` / `until`, sorted by
//! `updated_at`, paged by page number, and a list of deleted items. Time is a `ManualClock`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Api, Item, Served, Shared, serve, time};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tributary_core::{
    Checkpoint, Clock, Event, EventType, ManualClock, MemoryObjectState, NoCredentialWriter, Page,
    Provider, ProviderError, SourceId,
};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::{BuildContext, ProviderFactory, SourceSpec};
use tributary_rest::RestFactory;

const T0: &str = "2026-03-02T10:00:00.000Z";

fn config(base: &str, max_size: Option<u32>) -> Value {
    let mut items = common::items_resource(100);
    if let Some(m) = max_size {
        items["paging"]["max_size"] = json!(m);
    }
    json!({"base_url": base, "skew_ms": 1000, "resources": {"items": items}})
}

struct Source {
    clock: Arc<ManualClock>,
    objects: Arc<MemoryObjectState>,
    provider: Arc<dyn Provider>,
    checkpoint: Option<Checkpoint>,
}

fn build(config: Value) -> Source {
    let clock = Arc::new(ManualClock::new(time(T0)));
    let objects = Arc::new(MemoryObjectState::new());
    let id = SourceId::new("api").unwrap();
    let built = RestFactory
        .build(
            SourceSpec { id: &id, config },
            BuildContext {
                outbound: Outbound::new(AddressPolicy::loopback()).unwrap(),
                clock: clock.clone(),
                objects: objects.clone(),
                credentials: Arc::new(NoCredentialWriter),
            },
        )
        .unwrap();
    Source {
        clock,
        objects,
        provider: built.provider,
        checkpoint: None,
    }
}

impl Source {
    /// Polls until the source is caught up, committing each page as the engine would.
    async fn drain(&mut self) -> (Vec<Event>, Vec<Page>) {
        let mut events = Vec::new();
        let mut pages = Vec::new();
        for _ in 0..100 {
            let page = self.provider.poll(self.checkpoint.as_ref()).await.unwrap();
            self.objects.apply(&page.objects);
            self.checkpoint = Some(page.checkpoint.clone());
            events.extend(page.events.iter().cloned());
            let more = page.more;
            pages.push(page);
            if !more {
                return (events, pages);
            }
        }
        panic!("the source never caught up");
    }

    fn advance_to(&self, t: DateTime<Utc>) {
        self.clock.set(t);
    }
}

fn at(offset_ms: i64) -> DateTime<Utc> {
    time(T0) + TimeDelta::milliseconds(offset_ms)
}

/// `(type, id, occurred_at offset from T0 in ms)` of each event.
fn summary(events: &[Event]) -> Vec<(EventType, String, i64)> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e.provider, "rest");
            assert_eq!(e.source.as_str(), "api");
            (
                e.event_type,
                e.object.id.clone(),
                (e.occurred_at - time(T0)).num_milliseconds(),
            )
        })
        .collect()
}

fn item(id: u64, created: i64, updated: i64) -> Item {
    Item {
        id,
        name: format!("item {id}"),
        created: at(created),
        updated: at(updated),
    }
}

/// The scenario both tie orders run: 3 items, then 250 created in one millisecond (three pages
/// of 100), an item older than the source; then edits, a new item and a deletion; then nothing.
async fn scenario(
    shuffle_ties: bool,
    max_size: Option<u32>,
) -> (Vec<Vec<(EventType, String, i64)>>, Shared, Source, Served) {
    let api: Shared = Arc::new(Mutex::new(Api {
        shuffle_ties,
        ..Api::default()
    }));
    let served = serve(api.clone()).await;
    let mut source = build(config(&served.base, max_size));
    let mut rounds = Vec::new();

    // First poll: the source starts now (less the skew), with nothing to emit.
    let (events, pages) = source.drain().await;
    assert!(events.is_empty());
    assert_eq!(pages[0].watermark.unwrap().time(), at(-1000));

    {
        let mut a = api.lock().unwrap();
        a.items.push(item(4, -3_600_000, -3_600_000)); // before the source: never seen
        for id in 1..=3 {
            a.items
                .push(item(id, 10_000 + id as i64, 10_000 + id as i64));
        }
        for id in 100..350 {
            a.items.push(item(id, 20_000, 20_000));
        }
    }
    source.advance_to(at(25_000));
    let (events, _) = source.drain().await;
    rounds.push(summary(&events));

    {
        let mut a = api.lock().unwrap();
        a.items.iter_mut().find(|i| i.id == 1).unwrap().updated = at(40_000);
        a.items.iter_mut().find(|i| i.id == 4).unwrap().updated = at(41_000);
        a.items.push(item(5, 42_000, 42_000));
        a.items.retain(|i| i.id != 2);
        a.deleted.push((2, at(43_000)));
        // Edited within this window: its last state is what the window holds.
        a.items.iter_mut().find(|i| i.id == 200).unwrap().updated = at(44_000);
    }
    source.advance_to(at(60_000));
    let (events, _) = source.drain().await;
    rounds.push(summary(&events));

    source.advance_to(at(120_000));
    let (events, _) = source.drain().await;
    rounds.push(summary(&events));
    (rounds, api, source, served)
}

fn expected() -> Vec<Vec<(EventType, String, i64)>> {
    let mut first = vec![
        (EventType::Add, "1".to_owned(), 10_001),
        (EventType::Add, "2".to_owned(), 10_002),
        (EventType::Add, "3".to_owned(), 10_003),
    ];
    first.extend((100..350).map(|id| (EventType::Add, id.to_string(), 20_000)));
    let second = vec![
        (EventType::Update, "1".to_owned(), 40_000),
        (EventType::Update, "4".to_owned(), 41_000),
        (EventType::Add, "5".to_owned(), 42_000),
        (EventType::Delete, "2".to_owned(), 43_000),
        (EventType::Update, "200".to_owned(), 44_000),
    ];
    vec![first, second, Vec::new()]
}

#[tokio::test]
async fn page_number_paging_gives_the_exact_add_update_delete_stream_with_250_ties() {
    let (rounds, _, source, _served) = scenario(false, None).await;
    assert_eq!(rounds[0].len(), 253);
    assert_eq!(rounds, expected());
    assert_eq!(
        source.objects.len(),
        255,
        "every object seen is remembered once"
    );
}

#[tokio::test]
async fn ties_in_a_new_order_on_every_request_still_give_every_item_exactly_once() {
    let (rounds, api, _, _served) = scenario(true, Some(500)).await;
    assert_eq!(rounds, expected());
    // Three passes of three pages disagreed before bigger pages made the window one request.
    assert!(api.lock().unwrap().requests >= 9);
}

#[tokio::test]
async fn passes_that_cannot_agree_are_emitted_with_a_gap_and_no_duplicates() {
    let api: Shared = Arc::new(Mutex::new(Api {
        shuffle_ties: true,
        ..Api::default()
    }));
    let served = serve(api.clone()).await;
    let mut source = build(config(&served.base, None));
    source.drain().await;
    {
        let mut a = api.lock().unwrap();
        for id in 100..350 {
            a.items.push(item(id, 20_000, 20_000));
        }
    }
    source.advance_to(at(25_000));
    let (events, pages) = source.drain().await;
    let gaps: Vec<_> = pages.iter().flat_map(|p| p.gaps.iter()).collect();
    assert_eq!(gaps.len(), 1, "{pages:?}");
    assert!(gaps[0].reason.contains("disagreed"), "{}", gaps[0].reason);
    let mut ids: Vec<String> = events.iter().map(|e| e.object.id.clone()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an item emitted twice");
    assert!(n > 100, "the union of the passes is emitted, got {n}");
}

#[tokio::test]
async fn a_replayed_window_emits_nothing_already_emitted() {
    let (_, _, source, _served) = scenario(false, None).await;
    // The engine hands back an older checkpoint (a restore): the memory says what was emitted.
    let old =
        Checkpoint::from_json(json!({"version": "V1", "through": "2026-03-02T09:59:59.000Z"}))
            .unwrap();
    let page = source.provider.poll(Some(&old)).await.unwrap();
    assert!(page.events.is_empty(), "{:?}", summary(&page.events));
}

#[tokio::test]
async fn a_next_page_on_another_origin_is_refused() {
    let api: Shared = Arc::new(Mutex::new(Api::default()));
    let served = serve(api).await;
    let mut c = config(&served.base, None);
    c["resources"]["items"]["url"] = json!("/foreign?since=${after:epoch_millis}");
    c["resources"]["items"]["paging"] = json!({"mode": "next_url", "field": "/next"});
    c["resources"]["items"]
        .as_object_mut()
        .unwrap()
        .remove("deleted");
    c["start"] = json!("2026-03-02T09:00:00Z");
    let source = build(c);
    source.advance_to(at(60_000));
    match source.provider.poll(None).await {
        Err(ProviderError::Transient { message }) => {
            assert!(message.contains("elsewhere.example.com"), "{message}");
            assert!(message.contains("not followed"), "{message}");
        }
        other => panic!("expected a refused link, got {other:?}"),
    }
    assert!(source.clock.now() > time(T0));
}
