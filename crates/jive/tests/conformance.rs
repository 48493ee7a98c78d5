//! Jive against the provider conformance suite (`tributary_provider_kit::conformance`), over the
//! Jive simulator on 127.0.0.1 (port 0) driven by a manual clock.
//!
//! Jive has no event stream: the provider diffs what it sees against its object memory, and sees
//! each changed item once per poll, in its last state. So each round changes an item at most once
//! (restore what the last round deleted, then edit, rename, move or delete each live item in
//! turn, then create), 10 ms apart, and the clock then moves past the skew. Jive has no action the
//! provider could fail to map (every sighting maps by construction), so that check is skipped.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Clock, EventType, ManualClock};
use tributary_http::{AddressPolicy, Outbound};
use tributary_jive::JiveFactory;
use tributary_provider_kit::conformance::{self, Check, Harness};
use tributary_sim::jive::{ContentId, JiveFault, JiveSim, JiveSimConfig, PlaceId};

const USER: &str = "api";
const PASSWORD: &str = "secret";
/// The source's skew: a change is read once the clock is this far past it.
const SKEW_MS: u64 = 1_000;
/// Between two changes, so that each has its own time and the order is the order made.
const STEP: Duration = Duration::from_millis(10);

/// What the next change to a live item is.
#[derive(Debug, Clone, Copy)]
enum Act {
    Edit,
    Rename,
    Move,
    Delete,
}

const ACTS: [Act; 4] = [Act::Edit, Act::Rename, Act::Move, Act::Delete];

struct JiveHarness {
    clock: Arc<ManualClock>,
    sim: JiveSim,
    base: String,
    places: Vec<PlaceId>,
    /// Live items and the index of their place in `places`.
    live: Vec<(ContentId, usize)>,
    /// Items the last round deleted (with their place).
    deleted: Vec<(ContentId, usize)>,
    /// Changes made so far (picks the next act and names subjects).
    made: usize,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl JiveHarness {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
        ));
        let sim = JiveSim::new(JiveSimConfig::new(USER, PASSWORD), clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sim.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        let places = sim.places().iter().map(|p| p.place_id).collect();
        Self {
            clock,
            sim,
            base,
            places,
            live: Vec::new(),
            deleted: Vec::new(),
            made: 0,
            _stop: stop,
        }
    }

    /// After each change, the clock moves on a step.
    fn made(&mut self, t: EventType, types: &mut Vec<EventType>) {
        types.push(t);
        self.made += 1;
        self.clock.advance(STEP);
    }
}

#[async_trait::async_trait]
impl Harness for JiveHarness {
    fn config(&self) -> Value {
        // Small pages and short windows, so a round takes several windows (`more`) and a busy
        // window is halved: the rebuilt providers of the crashing run, which forget the span that
        // fitted, read other windows than the plain run's.
        json!({
            "base_url": self.base,
            "credentials": {"kind": "basic", "username": USER, "password": PASSWORD},
            "page_size": 3,
            "max_window_ms": 200,
            "skew_ms": SKEW_MS,
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
        let mut touched = Vec::new();
        for (id, place) in std::mem::take(&mut self.deleted) {
            if types.len() == n {
                self.deleted.push((id, place));
                continue;
            }
            self.sim.restore(id).unwrap();
            touched.push((id, place));
            self.made(EventType::Restore, &mut types);
        }
        let mut still = Vec::new();
        for (id, place) in std::mem::take(&mut self.live) {
            if types.len() == n {
                still.push((id, place));
                continue;
            }
            match ACTS[self.made % ACTS.len()] {
                Act::Edit => {
                    self.sim.edit(id).unwrap();
                    still.push((id, place));
                    self.made(EventType::Update, &mut types);
                }
                Act::Rename => {
                    self.sim
                        .rename(id, &format!("renamed {}", self.made))
                        .unwrap();
                    still.push((id, place));
                    self.made(EventType::Rename, &mut types);
                }
                Act::Move => {
                    let to = (place + 1) % self.places.len();
                    self.sim.move_to(id, self.places[to]).unwrap();
                    still.push((id, to));
                    self.made(EventType::Move, &mut types);
                }
                Act::Delete => {
                    self.sim.delete(id).unwrap();
                    self.deleted.push((id, place));
                    self.made(EventType::Delete, &mut types);
                }
            }
        }
        while types.len() < n {
            let place = self.made % self.places.len();
            let id = self
                .sim
                .create(
                    "document",
                    &format!("doc {}", self.made),
                    self.places[place],
                )
                .unwrap();
            still.push((id, place));
            self.made(EventType::Add, &mut types);
        }
        self.live = touched.into_iter().chain(still).collect();
        types
    }

    async fn settle(&mut self) {
        self.clock.advance(Duration::from_millis(SKEW_MS + 1));
    }

    /// Jive's `429` with `Retry-After: 2` on the next request.
    async fn throttle_next(&mut self) -> Option<Duration> {
        self.sim.inject(JiveFault::Status {
            status: 429,
            retry_after: Some(2),
            next: 1,
        });
        Some(Duration::from_secs(2))
    }

    async fn wait(&mut self, retry_after: Duration) {
        self.clock.advance(retry_after);
    }
}

#[tokio::test]
async fn jive_passes_the_conformance_suite() {
    let mut harness = JiveHarness::start().await;
    let report = conformance::run(&JiveFactory, &mut harness).await;
    report.assert_passed();
    assert_eq!(
        report.skipped(),
        [Check::UnmappedActionsCounted],
        "{report}"
    );
    // Three rounds and the throttled one, twelve changes each.
    assert_eq!(report.exercised.events, 4 * 12, "{report}");
    assert!(report.exercised.rate_limited, "{report}");
    // The crashing run's providers are rebuilt at every page and forget the window span that
    // fitted, so they read wider windows: fewer pages than the plain run, the same stream.
    assert!(
        report.exercised.crashes < report.exercised.pages,
        "{report}"
    );
}
