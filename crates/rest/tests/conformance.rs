//! `rest` against the provider conformance suite (`tributary_provider_kit::conformance`), over the
//! JSON API of `common/` on 127.0.0.1 (port 0), its items dated by a manual clock.
//!
//! `rest` synthesizes events from a list's state, like Jive: a window holds an item's last state
//! only, so each round changes an item at most once (update or delete each live item in turn,
//! then create), 10 ms apart, and the clock then moves past the skew. Every item maps by
//! construction (created inside the window: `add`; otherwise `update`; on the deleted list:
//! `delete`): rest reads no upstream action it could fail to map, so that check is skipped.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Api, Item, Served, Shared, serve, time};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_core::{Clock, EventType, ManualClock};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::conformance::{self, Check, Harness};
use tributary_rest::RestFactory;

const TOKEN: &str = "conformance-token";
/// The source's skew: a change is read once the clock is this far past it.
const SKEW_MS: u64 = 1_000;
/// Between two changes, so that each has its own time and the order is the order made.
const STEP: Duration = Duration::from_millis(10);
/// The `Retry-After` of the throttle, in seconds.
const RETRY_AFTER: u64 = 2;

struct RestHarness {
    clock: Arc<ManualClock>,
    api: Shared,
    served: Served,
    /// Ids of the live items, in the order they are changed.
    live: Vec<u64>,
    next_id: u64,
    /// Changes made so far (every third change of a live item deletes it).
    made: usize,
}

impl RestHarness {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::new(time("2026-03-02T10:00:00Z")));
        let api: Shared = Arc::new(Mutex::new(Api {
            token: Some(TOKEN.into()),
            ..Api::default()
        }));
        let served = serve(api.clone()).await;
        Self {
            clock,
            api,
            served,
            live: Vec::new(),
            next_id: 1,
            made: 0,
        }
    }

    /// The next change's time: a step after the last one.
    fn tick(&mut self) -> chrono::DateTime<chrono::Utc> {
        self.made += 1;
        self.clock.advance(STEP);
        self.clock.now()
    }
}

#[async_trait::async_trait]
impl Harness for RestHarness {
    fn config(&self) -> Value {
        // Pages of 3 and windows of 100 ms (up to ten changes), so a drain takes many polls
        // (`more`), a window several pages (read in two agreeing passes), and the crashing run
        // crashes inside a drain.
        json!({
            "base_url": self.served.base,
            "credentials": {"kind": "bearer", "token": TOKEN},
            "skew_ms": SKEW_MS,
            "max_window_ms": 100,
            "resources": {"items": common::items_resource(3)},
        })
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn outbound(&self) -> Outbound {
        Outbound::new(AddressPolicy::loopback()).unwrap()
    }

    async fn change(&mut self, n: usize) -> Vec<EventType> {
        let n = n.max(1);
        let mut types = Vec::new();
        let mut still = Vec::new();
        for id in std::mem::take(&mut self.live) {
            if types.len() == n {
                still.push(id);
                continue;
            }
            let delete = self.made % 3 == 2;
            let now = self.tick();
            let mut api = self.api.lock().unwrap();
            if delete {
                api.items.retain(|i| i.id != id);
                api.deleted.push((id, now));
                types.push(EventType::Delete);
            } else {
                let item = api.items.iter_mut().find(|i| i.id == id).unwrap();
                item.updated = now;
                item.name = format!("item {id}, change {}", self.made);
                still.push(id);
                types.push(EventType::Update);
            }
        }
        while types.len() < n {
            let now = self.tick();
            let id = self.next_id;
            self.next_id += 1;
            self.api.lock().unwrap().items.push(Item {
                id,
                name: format!("item {id}"),
                created: now,
                updated: now,
            });
            still.push(id);
            types.push(EventType::Add);
        }
        self.live = still;
        types
    }

    async fn settle(&mut self) {
        self.clock.advance(Duration::from_millis(SKEW_MS + 1));
    }

    /// The API's next list request answers `429` with `Retry-After: 2`.
    async fn throttle_next(&mut self) -> Option<Duration> {
        self.api.lock().unwrap().throttle = Some(RETRY_AFTER);
        Some(Duration::from_secs(RETRY_AFTER))
    }

    async fn wait(&mut self, retry_after: Duration) {
        self.clock.advance(retry_after);
    }
}

#[tokio::test]
async fn rest_passes_the_conformance_suite() {
    let mut harness = RestHarness::start().await;
    let report = conformance::run(&RestFactory, &mut harness).await;
    report.assert_passed();
    assert_eq!(
        report.skipped(),
        [Check::UnmappedActionsCounted],
        "{report}"
    );
    // Three rounds and the throttled one, twelve changes each.
    assert_eq!(report.exercised.events, 4 * 12, "{report}");
    assert!(report.exercised.rate_limited, "{report}");
    // A window is set by the checkpoint and the clock alone, so a rebuilt provider reads the
    // same windows: the crashing run commits as many pages as the plain run.
    assert_eq!(report.exercised.crashes, report.exercised.pages, "{report}");
}
