//! Throttles in both gateway styles (per second and daily) end to end: the engine's throttled
//! step carries the simulator's `Retry-After`, commits nothing, and the source resumes with
//! nothing lost once the clock moves; and one limiter and quota report per credential.
//!
//! How each throttle answer is classified (exact message, `Retry-After` given or defaulted) is
//! checked once, in `crates/egnyte/tests/http.rs`; the error substrings here only confirm which
//! gateway style answered.

use super::harness::{Harness, OWN_CLIENT, TOKEN, ingested, sim_config};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tributary_egnyte::{Credentials, RateLimiters, Suppress};
use tributary_server::engine::runner::PollStep;
use tributary_sim::egnyte::ThrottleMode;

#[tokio::test]
async fn qps_throttles_in_both_gateway_modes_carry_retry_after_and_pass_when_the_clock_moves() {
    for (mode, word) in [
        (ThrottleMode::Mashery, "ERR_403_DEVELOPER_OVER_QPS"),
        (ThrottleMode::Http429, "429"),
    ] {
        let mut config = sim_config(250);
        config.throttle = mode;
        config.qps = 2;
        config.daily_quota = None;
        let h = Harness::start(config).await;
        let src = h.source("egnyte-qps").await;
        let mut config = h.config();
        config.suppress = Suppress::None;
        config.max_pages_per_poll = 1; // a throttle on the first page of a poll
        let p = h.provider(&src, config);

        assert_eq!(
            h.poll(&src, &p).await,
            ingested(100, true),
            "{mode:?}: 2 calls"
        );
        let before = h.checkpoint(&src);
        match h.poll(&src, &p).await {
            PollStep::Throttled { retry_after, error } => {
                assert_eq!(retry_after, Some(Duration::from_secs(1)), "{mode:?}");
                assert!(error.contains(word), "{mode:?}: {error}");
            }
            other => panic!("{mode:?}: expected a throttle, got {other:?}"),
        }
        assert_eq!(
            h.checkpoint(&src),
            before,
            "{mode:?}: a throttle commits nothing"
        );
        h.advance(Duration::from_secs(1));
        assert_eq!(h.poll(&src, &p).await, ingested(100, true), "{mode:?}");
        assert_eq!(h.poll(&src, &p).await, ingested(50, false), "{mode:?}");
        h.assert_unified_is_the_log(&src).await;
    }
}

#[tokio::test]
async fn the_daily_quota_throttles_until_midnight_utc_and_loses_nothing() {
    for mode in [ThrottleMode::Mashery, ThrottleMode::Http429] {
        let mut config = sim_config(250);
        config.throttle = mode;
        config.qps = 100;
        config.daily_quota = Some(3);
        let h = Harness::start(config).await;
        let src = h.source("egnyte-quota").await;
        let mut config = h.config();
        config.suppress = Suppress::None;
        config.max_pages_per_poll = 1; // a throttle on the first page of a poll
        let p = h.provider(&src, config);

        assert_eq!(h.poll(&src, &p).await, ingested(100, true), "{mode:?}");
        assert_eq!(h.poll(&src, &p).await, ingested(100, true), "{mode:?}");
        assert_eq!(p.stats().quota_used, Some(3));
        assert_eq!(p.stats().quota_allotted, Some(3));
        // 09:00:00.250 → 00:00 UTC the next day: 14 h 59 min 59.75 s, rounded up.
        for _ in 0..2 {
            match h.poll(&src, &p).await {
                PollStep::Throttled { retry_after, .. } => {
                    assert_eq!(retry_after, Some(Duration::from_secs(54_000)), "{mode:?}");
                }
                other => panic!("{mode:?}: expected a throttle, got {other:?}"),
            }
        }
        h.advance(Duration::from_secs(54_000));
        assert_eq!(h.poll(&src, &p).await, ingested(50, false), "{mode:?}");
        assert_eq!(
            p.stats().quota_used,
            Some(2),
            "{mode:?}: a new day: the cursor check (due after 15 h, busy or not), the list"
        );
        h.assert_unified_is_the_log(&src).await;
    }
}

/// Sources with one credential share one limiter (one budget spent by both) and one quota report
/// (the simulator counts calls per token); another credential gets its own. Checked here only.
#[tokio::test]
async fn sources_with_the_same_credential_share_one_limiter_and_quota_report() {
    let burst = NonZeroU32::new(4).unwrap();
    let limiters = RateLimiters::new(governor::Quota::per_hour(burst));
    let h = Harness::start_with(sim_config(10), limiters).await;
    let (a, b) = (
        h.source("egnyte-shared-a").await,
        h.source("egnyte-shared-b").await,
    );
    let pa = h.provider(&a, h.config());
    let pb = h.provider(&b, h.config());
    assert_eq!(h.limiters.len(), 1);
    assert_eq!(pa.credential(), pb.credential());
    let shared = h.limiters.credential(&Credentials::bearer(TOKEN), &h.base);
    assert!(Arc::ptr_eq(
        &shared,
        &h.limiters.credential(&h.config().credentials, &h.base)
    ));

    h.drain(&a, &pa, 1).await; // 2 calls
    h.drain(&b, &pb, 1).await; // 2 calls
    assert_eq!((pa.stats().calls, pb.stats().calls), (2, 2));
    // One budget of 4 for both: spent. Two limiters would each have 2 left.
    assert!(shared.limiter().check().is_err());
    assert_eq!(
        pa.stats().quota_used,
        Some(4),
        "the quota report is shared too"
    );

    h.sim.add_token("other-token", 1002, OWN_CLIENT, None);
    let mut other = h.config();
    other.credentials = Credentials::bearer("other-token");
    let pc = h.provider(&h.source("egnyte-shared-c").await, other.clone());
    assert_eq!(h.limiters.len(), 2);
    assert_ne!(pc.credential(), pa.credential());
    assert!(
        h.limiters
            .credential(&other.credentials, &h.base)
            .limiter()
            .check()
            .is_ok()
    );
}
