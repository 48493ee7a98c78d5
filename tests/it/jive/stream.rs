//! The property: for any workload, page size, window size and skew, the synthesized stream is
//! the simulator's ground truth as the model says polling can see it: same events, same order,
//! nothing lost, nothing doubled.

use super::harness::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    items: usize,
    page_size: u32,
    max_window_ms: u64,
    skew_ms: u64,
    /// Per round, batches of (operations, ms to wait after them). Operations of one batch share
    /// one millisecond.
    rounds: Vec<Vec<(usize, i64)>>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        0usize..25,
        2u32..9,
        prop_oneof![Just(40u64), Just(700), Just(3_600_000)],
        prop_oneof![Just(50u64), Just(400), Just(1_000)],
        prop::collection::vec(prop::collection::vec((1usize..15, 0i64..4), 1..5), 1..5),
    )
        .prop_map(
            |(seed, items, page_size, max_window_ms, skew_ms, rounds)| Case {
                seed,
                items,
                page_size,
                max_window_ms,
                skew_ms,
                rounds,
            },
        )
}

async fn run(case: Case) {
    let h = Harness::start(sim_config(case.items, case.seed)).await;
    let src = h.source("jive").await;
    let mut config = h.config();
    config.page_size = case.page_size;
    config.max_window_ms = case.max_window_ms;
    config.skew_ms = case.skew_ms;
    let p = h.provider(&src, config);
    h.drain(&src, &p).await;
    let skew = i64::try_from(case.skew_ms).unwrap();
    let mut model = Model::new(&h.sim, now(&h) - ms(skew));
    for round in &case.rounds {
        for (ops, wait) in round {
            h.sim.generate(*ops);
            h.advance(ms(*wait));
        }
        h.settle(case.skew_ms);
        model.round(&h.sim);
        h.drain(&src, &p).await;
    }
    let seen = h.seen(&src).await;
    assert_seen(&seen, &model.expected);
    let mut ids: Vec<&str> = seen.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "an event id repeats");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_synthesized_stream_is_the_ground_truth_polling_can_see(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(case));
    }
}
