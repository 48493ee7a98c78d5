//! Crash at any poll → restart → the identical stream. The provider keeps nothing between polls
//! but what the store commits with each page (checkpoint, object memory), so a crash at any point
//! of a poll is a poll whose page was never committed: here the page is thrown away, the store
//! closed and reopened from disk, and a new provider (with no memory of window sizes) goes on.

use super::harness::*;
use std::sync::Arc;
use tributary_core::{Event, ManualClock, Provider};
use tributary_jive::{Credentials, JiveConfig};
use tributary_server::engine::runner::{PollStep, poll_once};
use tributary_sim::jive::JiveSim;
use tributary_store::EventStore;

const SKEW: u64 = 300;

/// The scenario: a seeded community, three rounds of seeded changes, each drained. `crash_at`
/// is the index of the poll whose page is lost.
async fn scenario(dir: &std::path::Path, crash_at: Option<usize>) -> (Vec<Event>, usize) {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = JiveSim::new(sim_config(12, 99), clock.clone());
    let (base, _stop) = crate::on_loopback(|l, stopped| sim.clone().serve(l, stopped)).await;
    let mut config = JiveConfig::new(base.clone(), Credentials::basic(USER, PASSWORD));
    config.page_size = 4;
    config.max_window_ms = 250;
    config.skew_ms = SKEW;
    let mut store = open(dir);
    let mut src = register(&store, "jive").await;
    let mut provider = provider_on(&store, &src, config.clone(), clock.clone());
    let mut polls = 0;
    for round in 0..4 {
        if round > 0 {
            run_round(&sim, &clock, round);
        }
        clock.advance(std::time::Duration::from_millis(SKEW + 1));
        loop {
            if Some(polls) == crash_at {
                // The poll runs; its page is lost with the process.
                let checkpoint = store.source_state(&src).unwrap().map(|st| st.checkpoint);
                provider.poll(checkpoint.as_ref()).await.unwrap();
                polls += 1;
                drop(provider);
                drop(store);
                store = open(dir);
                // The reopened store names the same incarnation.
                let reopened = store.source(TENANT, &src.id).unwrap().unwrap().source_ref();
                assert_eq!(
                    reopened, src,
                    "crash at poll {polls}: the incarnation survives"
                );
                src = reopened;
                provider = provider_on(&store, &src, config.clone(), clock.clone());
                continue;
            }
            polls += 1;
            match poll_once(&store, &src, &provider).await {
                PollStep::Ingested { more: false, .. } => break,
                PollStep::Ingested { more: true, .. } => {}
                other => panic!("poll {polls}: {other:?}"),
            }
        }
    }
    // Links name the simulator's port, which differs from run to run.
    let mut events = unified(&store, &src).await;
    for e in &mut events {
        for o in std::iter::once(&mut e.object).chain(e.previous.as_mut()) {
            o.url = o.url.take().map(|u| u.replace(&base, "http://sim"));
        }
    }
    (events, polls)
}

fn run_round(sim: &JiveSim, clock: &Arc<ManualClock>, round: usize) {
    for batch in 0..3 {
        sim.generate(4 + round + batch);
        clock.advance(std::time::Duration::from_millis(40));
    }
}

#[tokio::test]
async fn a_crash_at_any_poll_replays_to_the_identical_stream() {
    let reference_dir = tempfile::tempdir().unwrap();
    let (reference, polls) = scenario(reference_dir.path(), None).await;
    assert!(
        reference.len() > 20,
        "a scenario worth crashing: {}",
        reference.len()
    );
    assert!(polls > 8, "{polls} polls");
    for crash_at in 0..polls {
        let dir = tempfile::tempdir().unwrap();
        let (events, _) = scenario(dir.path(), Some(crash_at)).await;
        assert_eq!(
            events.iter().map(Seen::of).collect::<Vec<_>>(),
            reference.iter().map(Seen::of).collect::<Vec<_>>(),
            "crash at poll {crash_at}"
        );
        for (i, (e, r)) in events.iter().zip(&reference).enumerate() {
            assert_eq!(
                e, r,
                "crash at poll {crash_at}: event {i} differs in detail"
            );
        }
    }
}
