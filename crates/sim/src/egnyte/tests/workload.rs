//! The seeded workload generator.

use super::*;
use std::collections::BTreeSet;

fn sim(seed: u64, backlog: usize) -> EgnyteSim {
    let config = EgnyteSimConfig {
        seed,
        backlog,
        ..quiet()
    };
    EgnyteSim::new(config, Arc::new(ManualClock::new(t0())))
}

fn fingerprint(sim: &EgnyteSim) -> Vec<(WireEvent, Option<String>)> {
    sim.log()
        .into_iter()
        .map(|e| (e.wire, e.client_id))
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_events() {
    let (a, b) = (sim(42, 300), sim(42, 300));
    a.generate(200);
    b.generate(200);
    let (fa, fb) = (fingerprint(&a), fingerprint(&b));
    assert_eq!(fa.len(), 500);
    assert_eq!(fa, fb);
    let c = sim(43, 300);
    assert_ne!(fingerprint(&c)[..300], fa[..300]);
}

#[test]
fn the_backlog_has_consecutive_ids_and_past_non_decreasing_times() {
    let s = sim(7, 1000);
    let log = s.log();
    let ids: Vec<i64> = log.iter().map(LoggedEvent::id).collect();
    assert_eq!(ids, (1..=1000).collect::<Vec<_>>());
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(log.iter().all(|e| e.at <= t0()));
    assert!(log[0].at < t0() - chrono::Duration::seconds(900));
    assert_eq!(s.cursor().latest_event_id, 1000);
}

#[test]
fn the_workload_covers_every_action_source_and_the_callers_own_client() {
    let s = sim(1, 3000);
    let log = s.log();
    let actions: BTreeSet<String> = log
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e.wire.kind.as_str(),
                serde_json::to_value(e.wire.action).unwrap()
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        "file_system/\"create\"",
        "file_system/\"delete\"",
        "file_system/\"rename\"",
        "file_system/\"move\"",
        "file_system/\"copy\"",
        "file_system/\"restore\"",
        "note/\"create\"",
        "note/\"delete\"",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(actions, expected);
    let sources: BTreeSet<_> = log
        .iter()
        .map(|e| format!("{:?}", e.wire.action_source))
        .collect();
    assert_eq!(
        sources,
        ["Mobile", "PublicAPI", "SyncEngine", "WebUI"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
    assert!(
        log.iter()
            .any(|e| e.client_id.as_deref() == Some("tributary-app"))
    );
    assert!(
        log.iter()
            .any(|e| e.client_id.as_deref() == Some("partner-sync"))
    );
    let users: BTreeSet<i64> = log.iter().map(|e| e.wire.actor).collect();
    assert_eq!(users, BTreeSet::from([1001, 1002, 1003, 1004]));
    // Versions: some group id is created more than once.
    let mut creates = std::collections::HashMap::<String, usize>::new();
    for e in &log {
        if e.wire.action == Action::Create
            && let Some(g) = &e.wire.data.target_group_id
        {
            *creates.entry(g.clone()).or_default() += 1;
        }
    }
    assert!(creates.values().any(|&n| n > 1));
}

#[test]
fn a_large_backlog_stays_fast() {
    let started = std::time::Instant::now();
    let s = sim(3, 50_000);
    assert_eq!(s.cursor().latest_event_id, 50_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
