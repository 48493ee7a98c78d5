//! The seeded workload, initial items, and scale.

use super::*;
use std::collections::BTreeMap;

fn manual() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(t0()))
}

#[test]
fn the_same_seed_and_clock_give_the_same_log() {
    let run = |seed| {
        let sim = JiveSim::new(
            JiveSimConfig {
                items: 50,
                seed,
                ..JiveSimConfig::new(USER, PASSWORD)
            },
            manual(),
        );
        assert_eq!(sim.generate(300), 300);
        sim.changes()
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a, run(8));
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    for c in &a[50..] {
        *kinds.entry(format!("{:?}", c.kind)).or_default() += 1;
        *types.entry(c.content_type.clone()).or_default() += 1;
    }
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    assert_eq!(types.len(), CONTENT_TYPES.len(), "{types:?}");
    let users: std::collections::BTreeSet<&str> = a.iter().map(|c| c.by.as_str()).collect();
    assert!(users.len() >= 4, "{users:?}");
}

#[test]
fn initial_items_are_logged_in_the_past() {
    let sim = JiveSim::new(
        JiveSimConfig {
            items: 100,
            ..JiveSimConfig::new(USER, PASSWORD)
        },
        manual(),
    );
    let log = sim.changes();
    assert_eq!(log.len(), 100);
    assert_eq!(sim.contents_count(), 100);
    assert!(
        log.iter()
            .all(|c| c.kind == ChangeKind::Create && c.at < t0())
    );
    assert!(log.windows(2).all(|w| w[0].at < w[1].at));
    assert!(log.iter().all(|c| c.published <= c.at));
}

#[tokio::test]
async fn a_large_community_answers_small_windows() {
    let h = start(JiveSimConfig {
        items: 20_000,
        ..plain()
    })
    .await;
    assert_eq!(h.sim.contents_count(), 20_000);
    let log = h.sim.changes();
    let mid = &log[10_000];
    let url = format!(
        "/api/core/v3/contents?filter=modificationDate%28{}%2C{}%29&sort=dateCreatedAsc",
        arg(mid.at),
        arg(mid.at)
    );
    assert_eq!(h.ids(&url).await, vec![mid.content_id.clone()]);
    let newest = h.json("/api/core/v3/contents?count=1").await;
    assert_eq!(ids_of(&newest), vec![log[19_999].content_id.clone()]);
    let deep = h
        .json("/api/core/v3/contents?count=100&startIndex=19950")
        .await;
    assert_eq!(deep["list"].as_array().unwrap().len(), 50);
    assert!(deep["links"].get("next").is_none());
}

/// The benchmark's scale: `cargo test --release -p tributary-sim -- --ignored two_hundred`.
#[tokio::test]
#[ignore = "slow in debug builds; run with --release"]
async fn two_hundred_thousand_items_build_fast_and_windows_stay_cheap() {
    let started = std::time::Instant::now();
    let h = start(JiveSimConfig {
        items: 200_000,
        ..plain()
    })
    .await;
    let built = started.elapsed();
    assert_eq!(h.sim.contents_count(), 200_000);
    h.sim.generate(1000);
    let log = h.sim.changes();
    let at = log[150_000].at;
    let url = format!(
        "/api/core/v3/contents?filter=modificationDate%28{}%2C{}%29&sort=dateCreatedAsc&count=100",
        arg(at + ms(60_000)),
        arg(at)
    );
    let queried = std::time::Instant::now();
    for _ in 0..100 {
        h.json(&url).await;
    }
    let per_query = queried.elapsed() / 100;
    eprintln!("built 200k in {built:?}; window query {per_query:?}");
    assert!(built < std::time::Duration::from_secs(5), "{built:?}");
}
