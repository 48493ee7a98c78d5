//! Injected faults (5xx, slow answers, malformed JSON, `text/plain`) survived end to end: the
//! failed poll commits nothing, the next ones resume, and the store ends with every event once.
//!
//! How each answer is classified (the exact `ProviderError` and message), what a poll that fails
//! on a later page returns, and reading JSON labelled `text/plain` are checked once, on the wire,
//! in `crates/egnyte/tests/http.rs`; the error substrings here only confirm which fault fired.

use super::harness::{Harness, assert_events, expected, ingested, sim_config, visible};
use tributary_egnyte::Suppress;
use tributary_server::engine::runner::PollStep;
use tributary_sim::egnyte::{Fault, FaultKind};
use tributary_store::EventStore;

/// Drains a backlog of 250 with `fault` injected on the second page's request: that poll fails
/// as a transient error, commits nothing, and the next polls read on without loss or repeats.
async fn survives(fault: FaultKind, timeout_ms: Option<u64>, expect_error: &str) {
    let h = Harness::start(sim_config(250)).await;
    let src = h.source("egnyte-fault").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.max_pages_per_poll = 1; // the fault hits the first page of a poll
    if let Some(ms) = timeout_ms {
        config.request_timeout_ms = ms;
    }
    let p = h.provider(&src, config);
    assert_eq!(h.poll(&src, &p).await, ingested(100, true));
    let before = h.checkpoint(&src);

    h.sim.inject(Fault::next(fault, 1));
    match h.poll(&src, &p).await {
        PollStep::Failed { error } => assert!(error.contains(expect_error), "{fault:?}: {error}"),
        other => panic!("{fault:?}: expected a transient failure, got {other:?}"),
    }
    assert_eq!(h.checkpoint(&src), before, "{fault:?}: nothing committed");
    assert!(h.sim.faults().is_empty(), "{fault:?} was spent");
    assert_eq!(h.drain(&src, &p, 5).await, 2);
    h.assert_unified_is_the_log(&src).await;
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!((state.events_ingested, state.duplicates_absorbed), (250, 0));
}

#[tokio::test]
async fn a_server_error_fails_the_poll_and_the_next_one_resumes_where_it_stopped() {
    survives(
        FaultKind::ServerError { status: 503 },
        None,
        "server error 503",
    )
    .await;
}

#[tokio::test]
async fn an_answer_slower_than_the_request_timeout_fails_the_poll_and_nothing_is_lost() {
    // 0.5 s of real time: the simulator sleeps on the wall clock; the client gives up first.
    survives(
        FaultKind::Delay { ms: 3_000 },
        Some(500),
        "no answer within",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_fails_the_poll_and_nothing_is_lost() {
    survives(FaultKind::MalformedJson, None, "unexpected answer").await;
}

/// Outcome half of an error on a later page: the pages before it are committed (no watermark),
/// the next poll fails on the same page and commits nothing, and the backlog ends stored once
/// with no gap. Wire half, for every kind of failure: `http.rs`,
/// `an_error_on_a_later_page_commits_the_pages_read_and_says_more`.
#[tokio::test]
async fn a_fault_on_a_later_page_commits_the_pages_before_it_and_the_next_poll_retries() {
    let h = Harness::start(sim_config(1_050)).await;
    let src = h.source("egnyte-fault-mid-poll").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.max_pages_per_poll = 4;
    let p = h.provider(&src, config);
    assert_eq!(h.poll(&src, &p).await, ingested(400, true));

    // The 3rd page of the next poll fails, and so does the request after it (the fault lasts):
    // the poll commits its 2 pages, with `more`.
    h.sim
        .inject(Fault::next(FaultKind::ServerError { status: 503 }, 2).after(2));
    assert_eq!(h.poll(&src, &p).await, ingested(200, true));
    let committed = h.checkpoint(&src);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(state.watermark, None, "not caught up");
    // The next poll meets the fault on its first page: nothing committed.
    match h.poll(&src, &p).await {
        PollStep::Failed { error } => assert!(error.contains("server error 503"), "{error}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(h.checkpoint(&src), committed, "nothing committed");
    assert!(h.sim.faults().is_empty(), "the fault was spent");
    // The one after continues from there.
    assert_eq!(h.poll(&src, &p).await, ingested(400, true));
    assert_eq!(h.poll(&src, &p).await, ingested(50, false));

    h.assert_unified_is_the_log(&src).await;
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(
        (state.events_ingested, state.duplicates_absorbed),
        (1_050, 0)
    );
    assert!(h.store.gaps(&src).unwrap().is_empty());
}

/// 5xx, malformed JSON and `text/plain` answers mixed at random: the store ends with every
/// visible event once, in order, and no gap.
#[tokio::test]
async fn a_storm_of_mixed_faults_loses_and_doubles_nothing() {
    let h = Harness::start(sim_config(1_000)).await;
    let src = h.source("egnyte-storm").await;
    let p = h.provider(&src, h.config()); // suppress = app
    h.sim.inject(Fault::fraction(
        FaultKind::ServerError { status: 502 },
        0.25,
    ));
    h.sim
        .inject(Fault::fraction(FaultKind::MalformedJson, 0.25));
    h.sim.inject(Fault::fraction(FaultKind::TextPlain, 0.5));
    let (_, failures) = h.drain_through_faults(&src, &p, 200).await;
    assert!(failures > 0, "the faults fired");
    h.sim.clear_faults();
    h.sim.generate(20);
    h.drain(&src, &p, 3).await;

    let log = h.sim.log();
    let want = expected(
        &src,
        log.iter()
            .filter(|e| visible(e, Suppress::App))
            .map(|e| (0, e)),
    );
    assert_events(&h.unified(&src).await, &want);
    let state = h.store.source_state(&src).unwrap().unwrap();
    assert_eq!(state.events_ingested, want.len() as u64);
    assert_eq!(state.duplicates_absorbed, 0, "no page was ever read twice");
    assert!(h.store.gaps(&src).unwrap().is_empty());
}
