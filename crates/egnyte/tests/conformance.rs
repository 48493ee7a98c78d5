//! Egnyte against the provider conformance suite (`tributary_provider_kit::conformance`), over the
//! Egnyte simulator on 127.0.0.1 (port 0) driven by a manual clock.
//!
//! This file is also the template for a new provider's conformance test: a [`Harness`] that
//! starts the provider's test upstream, gives the source config, makes changes of known kinds
//! (answering the unified types they must become), moves the clock, and, where the upstream can,
//! throttles the next request and makes an action the provider cannot map.

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use governor::Quota;
use serde_json::{Value, json};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Clock, EventType, ManualClock};
use tributary_egnyte::{EgnyteFactory, RateLimiters};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::conformance::{self, Check, Harness};
use tributary_sim::egnyte::{ActorSpec, EgnyteSim, EgnyteSimConfig, ThrottleMode};

/// The simulator's token (user 1001 through the client `tributary-app`).
const TOKEN: &str = "test-token";
/// The simulator's allowance once a throttle is lifted: never reached.
const QPS: u32 = 100_000;

struct EgnyteHarness {
    clock: Arc<ManualClock>,
    sim: EgnyteSim,
    base: String,
    /// Rounds of changes made, so each round works in its own folder.
    rounds: usize,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl EgnyteHarness {
    async fn start() -> Self {
        // A quarter second into a second: a per-second throttle then asks `Retry-After: 1`.
        let t0 = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
            + chrono::Duration::milliseconds(250);
        let clock = Arc::new(ManualClock::new(t0));
        let config = EgnyteSimConfig {
            throttle: ThrottleMode::Off,
            qps: QPS,
            daily_quota: None,
            ..EgnyteSimConfig::default()
        };
        let sim = EgnyteSim::new(config, clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sim.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Self {
            clock,
            sim,
            base,
            rounds: 0,
            _stop: stop,
        }
    }

    /// Changes are made in the web UI by another user: the source's default `suppress: app`
    /// hides only what its own API client does.
    fn by() -> ActorSpec {
        ActorSpec::web(1002)
    }
}

#[async_trait::async_trait]
impl Harness for EgnyteHarness {
    fn config(&self) -> Value {
        // Small pages and two pages a poll, so a round takes several polls (`more`) and the
        // crashing run crashes between pages of one drain.
        json!({
            "base_url": self.base,
            "credentials": {"kind": "bearer", "token": TOKEN},
            "page_size": 3,
            "max_pages_per_poll": 2,
        })
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn outbound(&self) -> Outbound {
        Outbound::new(AddressPolicy::loopback()).unwrap()
    }

    /// Cycles of ten file-system and note actions in a folder of the round's own, each one
    /// Egnyte event, until at least `n` are made.
    async fn change(&mut self, n: usize) -> Vec<EventType> {
        let mut types = Vec::new();
        while types.len() < n.max(1) {
            self.rounds += 1;
            let dir = format!("/Shared/round{}", self.rounds);
            let by = Self::by();
            let sim = &self.sim;
            sim.create_folder(&dir, &by).unwrap();
            sim.create_file(&format!("{dir}/a.txt"), &by).unwrap();
            sim.new_version(&format!("{dir}/a.txt"), &by).unwrap();
            sim.rename(&format!("{dir}/a.txt"), "b.txt", &by).unwrap();
            sim.create_folder(&format!("{dir}/sub"), &by).unwrap();
            sim.move_to(&format!("{dir}/b.txt"), &format!("{dir}/sub"), &by)
                .unwrap();
            sim.copy(&format!("{dir}/sub/b.txt"), &format!("{dir}/c.txt"), &by)
                .unwrap();
            sim.delete(&format!("{dir}/c.txt"), &by).unwrap();
            sim.restore(&format!("{dir}/c.txt"), &by).unwrap();
            sim.create_note(&format!("{dir}/sub/b.txt"), &by).unwrap();
            types.extend([
                EventType::Add,     // the folder
                EventType::Add,     // a.txt, a new file group
                EventType::Update,  // its new version (the group is known)
                EventType::Rename,  // a.txt → b.txt
                EventType::Add,     // the folder sub
                EventType::Move,    // b.txt → sub/
                EventType::Copy,    // sub/b.txt → c.txt
                EventType::Delete,  // c.txt to the trash
                EventType::Restore, // and back
                EventType::Add,     // a note on sub/b.txt
            ]);
        }
        types
    }

    async fn settle(&mut self) {
        // Past the default watermark skew (2 s), keeping the quarter second.
        self.clock.advance(Duration::from_secs(3));
    }

    /// Egnyte's newer gateway: `429` with `Retry-After` in whole seconds to the next second.
    async fn throttle_next(&mut self) -> Option<Duration> {
        self.sim.set_throttle(ThrottleMode::Http429);
        self.sim.set_qps(0);
        Some(Duration::from_secs(1))
    }

    async fn wait(&mut self, retry_after: Duration) {
        self.sim.set_qps(QPS);
        self.sim.set_throttle(ThrottleMode::Off);
        self.clock.advance(retry_after);
    }

    /// A v2 `permission_change`: no unified type, published as `update` and counted.
    async fn unmappable(&mut self) -> Option<Vec<EventType>> {
        self.sim
            .change_permission("/Shared/round1", 1003, "Viewer", &Self::by())
            .unwrap();
        Some(vec![EventType::Update])
    }
}

#[tokio::test]
async fn egnyte_passes_the_conformance_suite() {
    let mut harness = EgnyteHarness::start().await;
    // A client-side limit no test waits on (the default is Egnyte's 2 calls a second).
    let per_second = Quota::per_second(NonZeroU32::new(QPS).unwrap());
    let factory = EgnyteFactory::with_limiters(RateLimiters::new(per_second));
    let report = conformance::run(&factory, &mut harness).await;
    report.assert_passed();
    assert_eq!(report.skipped(), Vec::<Check>::new(), "{report}");
    // Three rounds and the throttled one of two ten-action cycles each, and the permission change.
    assert_eq!(report.exercised.events, 4 * 20 + 1, "{report}");
    assert!(report.exercised.rate_limited, "{report}");
    assert!(
        report.exercised.pages > 4 * 20 / 6,
        "several pages a round: {report}"
    );
}
