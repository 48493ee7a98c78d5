//! Paging end to end: a backlog drained once in id order with one request per page, several
//! pages per poll (`max_pages_per_poll`) committed as one, `latest` and `oldest` starts,
//! exclusive ids (no repeat reaches the store), `more` while pages are full, and idle polls: the
//! poll steps, the stored events, watermark and counters.
//!
//! The wire half (each request's `id`, the `Page` and checkpoint a poll returns, no request
//! after a page that is not full) is checked once, in `crates/egnyte/tests/http.rs`; the request
//! counts here are of whole drains, which only the simulator can serve.

use super::harness::{Harness, assert_events, expected, ingested, sim_config, t0, visible};
use std::time::Duration;
use tributary_egnyte::{StartPosition, Suppress};
use tributary_sim::egnyte::ActorSpec;
use tributary_store::EventStore;

// Backlog drain.

#[tokio::test]
async fn drains_the_backlog_from_oldest_once_in_id_order_with_one_request_per_page() {
    let h = Harness::start(sim_config(250)).await;
    let src = h.source("egnyte-backlog").await;
    let p = h.provider(&src, h.config()); // suppress = app, page_size = 100
    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| visible(e, Suppress::App))
            .map(|e| (0, e)),
    );
    let n = want.len();
    assert!(
        n > 100 && n < 250,
        "the workload acts through our app too: {n}"
    );

    // One poll (max_pages_per_poll = 10): the full pages, then the short one (or an empty one
    // when n is a multiple of 100).
    assert_eq!(h.drain(&src, &p, 10).await, 1);
    let stats = p.stats();
    assert_eq!(
        stats.calls,
        1 + (n / 100 + 1) as u64,
        "one /cursor, then one list per page"
    );
    assert_eq!(
        stats.quota_used,
        Some(stats.calls),
        "the simulator counted the same"
    );
    assert_events(&h.unified(&src).await, &want);
    assert!(h.store.gaps(&src).unwrap().is_empty());
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(
        state.watermark.map(|w| w.time()),
        Some(t0() - chrono::Duration::seconds(2)),
        "caught up: the poll's start minus the 2 s skew"
    );
}

#[tokio::test]
async fn a_backlog_of_whole_pages_ends_with_one_empty_list() {
    for (max_pages, polls) in [
        // One page per poll: two full polls, then an empty one.
        (1, vec![(100, true), (100, true), (0, false)]),
        // Two pages per poll: the budget ends the first poll, the empty list the second.
        (2, vec![(200, true), (0, false)]),
        // Enough budget: the empty list ends the one poll.
        (10, vec![(200, false)]),
    ] {
        let h = Harness::start(sim_config(200)).await;
        let src = h.source(&format!("egnyte-whole-pages-{max_pages}")).await;
        let mut config = h.config();
        config.suppress = Suppress::None;
        config.max_pages_per_poll = max_pages;
        let p = h.provider(&src, config);
        for (i, (accepted, more)) in polls.into_iter().enumerate() {
            assert_eq!(
                h.poll(&src, &p).await,
                ingested(accepted, more),
                "max {max_pages}, poll {i}"
            );
        }
        assert_eq!(
            p.stats().calls,
            1 + 3,
            "max {max_pages}: /cursor, 2 full, 1 empty"
        );
        h.assert_unified_is_the_log(&src).await;
    }
}

/// Outcome half of several pages per poll: each poll is one commit of up to
/// `page_size × max_pages_per_poll` events, the stored watermark moves only once caught up, and
/// the whole backlog is stored once. Wire half: `http.rs`,
/// `one_poll_reads_full_pages_until_one_is_not_full_and_commits_them_as_one_page` and
/// `a_poll_stops_at_its_page_budget_and_says_more`.
#[tokio::test]
async fn a_poll_reads_up_to_max_pages_per_poll_and_commits_them_as_one_page() {
    let h = Harness::start(sim_config(1_050)).await;
    let src = h.source("egnyte-multi-page").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.max_pages_per_poll = 4;
    let p = h.provider(&src, config);

    for (accepted, more) in [
        (400, true),
        (400, true),
        // 2 full pages, then the page of 50 says we caught up.
        (250, false),
    ] {
        assert_eq!(h.poll(&src, &p).await, ingested(accepted, more));
        let watermark = h.store.source_state(&src).unwrap().unwrap().watermark;
        assert_eq!(
            watermark.map(|w| w.time()),
            (!more).then(|| t0() - chrono::Duration::seconds(2)),
            "a watermark only once caught up"
        );
    }
    h.assert_unified_is_the_log(&src).await;
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(
        (state.events_ingested, state.duplicates_absorbed),
        (1_050, 0)
    );
}

/// Outcome half of `start = "latest"`: only what happens after the first poll is stored. The
/// requests and checkpoint: `http.rs`, `first_poll_starts_at_the_latest_event_and_reads_204_as_nothing`.
#[tokio::test]
async fn starting_at_latest_delivers_only_what_happens_afterwards() {
    let h = Harness::start(sim_config(40)).await;
    let src = h.source("egnyte-latest").await;
    let mut config = h.config();
    config.start = StartPosition::Latest;
    config.suppress = Suppress::None;
    let p = h.provider(&src, config);

    assert_eq!(h.poll(&src, &p).await, ingested(0, false));
    h.sim.generate(30);
    h.sim
        .create_file("/Shared/after start.txt", &ActorSpec::web(1002))
        .unwrap();
    assert_eq!(h.drain(&src, &p, 5).await, 1);

    let log = h.sim.log();
    let want = expected(&src, log.iter().filter(|e| e.wire.id > 40).map(|e| (0, e)));
    assert_eq!(want.len(), 31);
    assert_events(&h.unified(&src).await, &want);
}

// Exclusive ids, `more` while pages are full.

/// Outcome half of exclusive paging: one commit per full page with `more`, and the event at the
/// saved id never comes back (`duplicates: 0`). The `id` each list sends and the checkpoints:
/// `http.rs`, `pages_exclusively_and_drains_full_pages_before_promising_a_watermark`.
#[tokio::test]
async fn lists_strictly_after_the_saved_id_and_says_more_while_pages_are_full() {
    let h = Harness::start(sim_config(25)).await;
    let src = h.source("egnyte-exclusive").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.page_size = 10;
    config.max_pages_per_poll = 1; // a checkpoint per page
    let p = h.provider(&src, config);

    // `duplicates: 0` on every page: the event at the saved id never comes back.
    for (accepted, more) in [(10, true), (10, true), (5, false), (0, false)] {
        assert_eq!(h.poll(&src, &p).await, ingested(accepted, more));
    }
    h.assert_unified_is_the_log(&src).await;
}

// Idle.

/// An idle poll commits only the idle flag and a newer watermark. That no `/cursor` is read
/// before its interval: `http.rs`, `a_quiet_filtered_stream_reads_the_cursor_when_due_and_its_204_moves_the_id_there`.
#[tokio::test]
async fn an_idle_poll_commits_nothing_but_the_idle_flag_and_a_newer_watermark() {
    let h = Harness::start(sim_config(15)).await;
    let src = h.source("egnyte-idle").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    let p = h.provider(&src, config);
    assert_eq!(h.drain(&src, &p, 3).await, 1);
    let busy = h.checkpoint(&src);
    assert_eq!(
        (busy.last_id, busy.epoch, busy.cursor_checked_at, busy.idle),
        (15, 0, Some(t0()), false)
    );

    h.advance(Duration::from_secs(10));
    assert_eq!(h.poll(&src, &p).await, ingested(0, false));
    let idle = h.checkpoint(&src);
    assert_eq!(
        idle.clone(),
        tributary_egnyte::CheckpointV1 { idle: true, ..busy }
    );
    assert_eq!(h.poll(&src, &p).await, ingested(0, false));
    assert_eq!(h.checkpoint(&src), idle);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(
        state.watermark.map(|w| w.time()),
        Some(t0() + chrono::Duration::seconds(8))
    );
    assert!(h.store.gaps(&src).unwrap().is_empty());
    assert_eq!(h.unified(&src).await.len(), 15);
}
