//! Lost events, never silent, end to end: what the store holds after the engine ran through a
//! `404` reset, ids going backwards (a new epoch of event ids), a reset whose ids overtake ours,
//! and a quiet filtered stream kept inside retention by the cursor check: the exact events in
//! order, the gaps recorded (their ranges), and no repeats.
//!
//! The wire half of each rule (the requests, the exact `Gap` with its reason, the checkpoint, the
//! provider's counters) is checked once, in `crates/egnyte/tests/http.rs`.

use super::harness::{Harness, assert_events, expected, ids, ingested, sim_config, t0, under};
use std::time::Duration;
use tributary_egnyte::{StartPosition, Suppress};
use tributary_sim::egnyte::{ActorSpec, Gc, Retention};
use tributary_store::EventStore;

// 404 reset.

/// Outcome half of the 404 rule: the ids up to and including the new oldest are recorded as one
/// gap, everything after it is stored once, in order. Wire half: `http.rs`,
/// `a_404_on_the_saved_id_reads_the_cursor_and_lists_after_the_oldest_with_the_exact_gap`.
#[tokio::test]
async fn a_404_on_the_saved_id_stores_the_events_after_the_oldest_and_records_the_gap() {
    let h = Harness::start(sim_config(50)).await;
    let src = h.source("egnyte-404").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    let p = h.provider(&src, config);
    h.drain(&src, &p, 3).await;
    assert_eq!(h.checkpoint(&src).last_id, 50, "precondition: all 50 read");

    h.sim.generate(30); // 51..=80
    let cursor = h.sim.gc(Gc::BeforeId(71));
    assert_eq!(cursor.oldest_event_id, 71);
    // 51..=71 are lost (71 too: the list is exclusive); 72..=80 arrive.
    assert_eq!(h.poll(&src, &p).await, ingested(9, false));
    let gaps = h.store.gaps(&src).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (gaps[0].after.as_str(), gaps[0].resumed_at.as_str()),
        ("50", "71")
    );
    assert_eq!(gaps[0].detected_at, t0());

    h.sim.generate(5); // 81..=85
    h.drain(&src, &p, 3).await;
    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| e.wire.id <= 50 || e.wire.id > 71)
            .map(|e| (0, e)),
    );
    assert_eq!(want.len(), 50 + 14);
    assert_events(&h.unified(&src).await, &want);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!((state.gaps_recorded, state.duplicates_absorbed), (1, 0));
}

/// Outcome half of `start = "oldest"` when Egnyte refuses the id before its oldest: the one
/// unreadable event is the one gap recorded, every later one is stored. Wire half: `http.rs`,
/// `starting_at_oldest_lists_after_the_id_before_it_and_its_404_returns_a_one_event_gap`.
#[tokio::test]
async fn starting_at_oldest_after_a_collection_stores_all_but_the_one_unreadable_event() {
    let h = Harness::start(sim_config(50)).await;
    let cursor = h.sim.gc(Gc::KeepLast(20));
    assert_eq!(cursor.oldest_event_id, 31);
    let src = h.source("egnyte-oldest-404").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    let p = h.provider(&src, config);

    assert_eq!(h.poll(&src, &p).await, ingested(19, false));
    let gaps = h.store.gaps(&src).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (gaps[0].after.as_str(), gaps[0].resumed_at.as_str()),
        ("30", "31")
    );
    let log = h.sim.log();
    let want = expected(&src, log.iter().filter(|e| e.wire.id > 31).map(|e| (0, e)));
    assert_events(&h.unified(&src).await, &want);
}

// Ids going backwards.

/// Outcome half of a reset with ids below ours: one gap recorded, and the new store's events,
/// its oldest included, stored under `r1-` ids after the old store's, none absorbed as a repeat.
/// Wire half: `http.rs`, `ids_going_backwards_restart_before_the_new_oldest_with_a_reset_gap_and_prefixed_ids`.
#[tokio::test]
async fn ids_going_backwards_record_a_gap_and_store_the_new_store_under_a_new_epoch() {
    let h = Harness::start(sim_config(20)).await;
    let src = h.source("egnyte-reset").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.cursor_check_interval_ms = 1_000;
    let p = h.provider(&src, config);
    h.drain(&src, &p, 3).await;
    assert_eq!(h.poll(&src, &p).await, ingested(0, false), "idle");

    let cursor = h.sim.reset_ids(5);
    assert_eq!(cursor.latest_event_id, 4);
    h.sim.generate(8); // 5..=12 of the new store: below the saved id 20
    h.advance(Duration::from_secs(2));
    // The cursor check sees latest 12 < 20. The new store has events (latest 12 > oldest 5), so
    // the list starts after 4 and reads 5 too: only the old store's unread tail could be lost.
    assert_eq!(h.poll(&src, &p).await, ingested(8, false));
    let gaps = h.store.gaps(&src).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (gaps[0].after.as_str(), gaps[0].resumed_at.as_str()),
        ("20", "4")
    );

    h.sim.generate(3); // 13..=15
    h.drain(&src, &p, 3).await;
    let log = h.sim.log();
    let want = expected(&src, log.iter().map(|e| (e.epoch, e)));
    assert_eq!(want.len(), 20 + 11);
    let got = h.unified(&src).await;
    assert_events(&got, &want);
    assert_eq!(ids(&got)[20..23], ["r1-5", "r1-6", "r1-7"]);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(state.duplicates_absorbed, 0);
}

/// A reset store that refuses the id before its oldest: the reset gap and the one-event gap of
/// the 404 rule, both recorded, and everything after stored. Checked here only (requests too).
#[tokio::test]
async fn a_reset_store_that_refuses_the_id_before_its_oldest_loses_exactly_that_event() {
    let h = Harness::start(sim_config(20)).await;
    let src = h.source("egnyte-reset-collected").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.cursor_check_interval_ms = 1_000;
    let p = h.provider(&src, config);
    h.drain(&src, &p, 3).await;
    assert_eq!(h.poll(&src, &p).await, ingested(0, false), "idle");

    h.sim.reset_ids(5);
    h.sim.generate(8); // 5..=12
    assert_eq!(h.sim.gc(Gc::BeforeId(7)).oldest_event_id, 7); // 5, 6 collected: 6 is refused
    h.advance(Duration::from_secs(2));
    let calls = p.stats().calls;
    // Reset: restart after 6; Egnyte answers 404; the 404 rule loses 7 alone; 8..=12 arrive.
    assert_eq!(h.poll(&src, &p).await, ingested(5, false));
    assert_eq!(
        p.stats().calls,
        calls + 4,
        "/cursor, 404 after 6, /cursor, list after 7"
    );
    let gaps = h.store.gaps(&src).unwrap();
    let ranges: Vec<_> = gaps
        .iter()
        .map(|g| (g.after.as_str(), g.resumed_at.as_str()))
        .collect();
    assert_eq!(ranges, [("20", "6"), ("6", "7")]);
    let c = h.checkpoint(&src);
    assert_eq!((c.epoch, c.last_id, c.oldest_event_id), (1, 12, Some(7)));

    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| e.epoch == 0 || e.wire.id > 7)
            .map(|e| (e.epoch, e)),
    );
    assert_events(&h.unified(&src).await, &want);
}

/// Outcome half of a reset whose ids pass ours while the source is busy: the new store's ids up
/// to the saved one are recorded as a gap (not skipped in silence), the ones after it are stored
/// once under `r1-` ids. Wire half: `http.rs`,
/// `a_due_cursor_check_while_busy_returns_the_gap_of_a_reset_whose_ids_passed_the_saved_id`.
#[tokio::test]
async fn a_reset_whose_ids_overtake_the_saved_id_while_busy_stores_a_gap_not_silence() {
    let h = Harness::start(sim_config(30)).await;
    let src = h.source("egnyte-reset-busy").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.page_size = 10;
    config.max_pages_per_poll = 1;
    config.cursor_check_interval_ms = 1_000;
    let p = h.provider(&src, config);
    assert_eq!(h.poll(&src, &p).await, ingested(10, true)); // /cursor (oldest 1), 1..=10
    assert_eq!(h.poll(&src, &p).await, ingested(10, true)); // 11..=20
    // Collect what was read (Egnyte refuses ids below its oldest, so keep the saved 20).
    assert_eq!(h.sim.gc(Gc::BeforeId(20)).oldest_event_id, 20);

    // Busy, past the interval: one extra call, which records the oldest id (20).
    h.advance(Duration::from_secs(2));
    assert_eq!(h.poll(&src, &p).await, ingested(10, true)); // 21..=30

    // The store is reset and its new ids pass the saved id 30 before we poll again: listing
    // after 30 would silently skip the new store's 5..=30.
    h.sim.reset_ids(5);
    h.sim.generate(40); // 5..=44
    assert_eq!(h.sim.cursor().latest_event_id, 44);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.poll(&src, &p).await, ingested(10, true)); // r1-31..=r1-40
    let gaps = h.store.gaps(&src).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (gaps[0].after.as_str(), gaps[0].resumed_at.as_str()),
        ("4", "30"),
        "the new store's ids 5..=30 were not read"
    );
    assert_eq!(gaps[0].detected_at, t0() + chrono::Duration::seconds(4));

    assert_eq!(h.poll(&src, &p).await, ingested(4, false)); // r1-41..=r1-44
    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| e.epoch == 0 || e.wire.id > 30)
            .map(|e| (e.epoch, e)),
    );
    assert_eq!(want.len(), 30 + 14);
    let got = h.unified(&src).await;
    assert_events(&got, &want);
    assert_eq!(ids(&got)[29..32], ["30", "r1-31", "r1-32"]);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!((state.gaps_recorded, state.duplicates_absorbed), (1, 0));
}

/// A reset noticed while the new store is empty: one gap, and none of the new store's later
/// events lost (restarting before an empty store's oldest would 404 into a false gap). Checked
/// here only.
#[tokio::test]
async fn a_reset_noticed_before_the_new_store_has_events_loses_none_of_them() {
    let h = Harness::start(sim_config(20)).await;
    let src = h.source("egnyte-reset-empty").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.cursor_check_interval_ms = 1_000;
    let p = h.provider(&src, config);
    h.drain(&src, &p, 3).await;
    assert_eq!(h.poll(&src, &p).await, ingested(0, false), "idle");

    h.sim.reset_ids(5); // empty: /cursor says latest = oldest = 4
    h.advance(Duration::from_secs(2));
    assert_eq!(h.poll(&src, &p).await, ingested(0, false));
    let gaps = h.store.gaps(&src).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        (gaps[0].after.as_str(), gaps[0].resumed_at.as_str()),
        ("20", "4")
    );
    assert_eq!(h.checkpoint(&src).epoch, 1);

    h.sim.generate(3); // 5..=7
    h.drain(&src, &p, 3).await;
    let log = h.sim.log();
    let got = h.unified(&src).await;
    assert_events(&got, &expected(&src, log.iter().map(|e| (e.epoch, e))));
    assert_eq!(ids(&got)[20..], ["r1-5", "r1-6", "r1-7"]);
}

// Filter starvation.

/// Outcome half of starvation: a folder filter that sees nothing while retention moves far past
/// its first id never 404s into a gap, and the one event inside the folder is stored. Wire half
/// (the due `/cursor` read, the `204` moving the id): `http.rs`,
/// `a_quiet_filtered_stream_reads_the_cursor_when_due_and_its_204_moves_the_id_there`.
#[tokio::test]
async fn a_quiet_folder_filter_never_falls_out_of_retention_or_records_a_gap() {
    let mut config = sim_config(0);
    config.retention = Retention {
        max_events: Some(20),
        max_age: None,
    };
    let h = Harness::start(config).await;
    let web = ActorSpec::web(1002);
    let watched = "/Shared/Équipe Watched";
    h.sim.create_folder(watched, &web).unwrap();
    h.sim.create_folder("/Shared/Busy", &web).unwrap();
    let src = h.source("egnyte-starving").await;
    let mut config = h.config();
    config.start = StartPosition::Latest;
    config.suppress = Suppress::None;
    config.folder = Some(watched.into()); // sent percent-encoded
    config.cursor_check_interval_ms = 1_000;
    let p = h.provider(&src, config);
    assert_eq!(h.poll(&src, &p).await, ingested(0, false));
    assert_eq!(
        h.checkpoint(&src).last_id,
        2,
        "precondition: starts after 2"
    );

    for round in 0..4 {
        for i in 0..15 {
            h.sim
                .create_file(&format!("/Shared/Busy/r{round}-{i}.txt"), &web)
                .unwrap();
        }
        h.advance(Duration::from_secs(2));
        assert_eq!(h.poll(&src, &p).await, ingested(0, false), "round {round}");
    }
    // 62 events, 20 retained: the first saved id (2) is long gone, yet no 404 and no gap.
    assert_eq!(h.sim.cursor().oldest_event_id, 43);
    assert!(h.store.gaps(&src).unwrap().is_empty());

    let inside = h
        .sim
        .create_file(&format!("{watched}/report.txt"), &web)
        .unwrap();
    assert_eq!(h.poll(&src, &p).await, ingested(1, false));
    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| e.wire.id > 2 && under(e, watched))
            .map(|e| (0, e)),
    );
    assert_eq!(ids(&want), [inside.event_id.to_string()]);
    assert_events(&h.unified(&src).await, &want);
}
