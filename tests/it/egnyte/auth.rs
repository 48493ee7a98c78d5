//! Credentials end to end: a refused bearer token stops the source, OAuth tokens are refreshed
//! before `expires_in` runs out and after a 401 with the polls' events stored, and the token
//! endpoint's throttle is a throttle.
//!
//! The exact requests (bearer tokens, the refresh's form fields) and the exact error messages are
//! checked once, in `crates/egnyte/tests/http.rs`.

use super::harness::{Harness, OWN_CLIENT, ingested, sim_config, t0};
use std::time::Duration;
use tributary_core::Clock;
use tributary_egnyte::{Credentials, Secret, Suppress};
use tributary_server::engine::runner::PollStep;
use tributary_sim::egnyte::{ThrottleMode, TokenMode};
use tributary_store::EventStore;

#[tokio::test]
async fn a_refused_bearer_token_stops_the_source_in_both_gateway_styles() {
    let h = Harness::start(sim_config(5)).await;
    for inactive in [false, true] {
        h.sim.set_inactive_on_bad_token(inactive);
        let src = h.source(&format!("egnyte-bad-token-{inactive}")).await;
        let mut config = h.config();
        config.credentials = Credentials::bearer("not-a-token");
        let p = h.provider(&src, config);
        match h.poll(&src, &p).await {
            PollStep::Stopped { error } => {
                let word = if inactive {
                    "ERR_403_DEVELOPER_INACTIVE"
                } else {
                    "401"
                };
                assert!(error.contains(word), "{error}");
            }
            other => panic!("inactive={inactive}: expected the source to stop, got {other:?}"),
        }
        assert!(
            h.store.source_state(&src).unwrap().is_none(),
            "nothing committed"
        );
    }
}

// OAuth.

/// A refresh token (and access token) from the simulator's password grant.
async fn password_grant(h: &Harness) -> (String, String) {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/puboauth/token", h.base))
        .form(&[
            ("grant_type", "password"),
            ("client_id", OWN_CLIENT),
            ("client_secret", "tributary-secret"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("expiring mode gives one")
            .to_owned(),
    )
}

fn oauth(refresh: &str, access: Option<&str>) -> Credentials {
    Credentials::Oauth {
        client_id: OWN_CLIENT.into(),
        client_secret: Secret::new("tributary-secret"),
        refresh_token: Secret::new(refresh),
        access_token: access.map(Secret::new),
        access_token_expires_at: None,
    }
}

/// A lifetime from `expires_in` (600 s): refreshed `min(60 s, lifetime/2)` early, not before;
/// a second source of the same OAuth client shares the token; every poll's events are stored.
/// The exact requests and form, for a configured expiry: `http.rs`,
/// `refreshes_a_token_with_a_configured_expiry_a_minute_early_with_the_exact_form`.
#[tokio::test]
async fn oauth_refreshes_before_expires_in_runs_out_shares_the_token_and_keeps_polling() {
    let mut config = sim_config(30);
    config.token_mode = TokenMode::Expiring { lifetime_secs: 600 };
    let h = Harness::start(config).await;
    let (_, refresh) = password_grant(&h).await;
    let src = h.source("egnyte-oauth").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.credentials = oauth(&refresh, None);
    let p = h.provider(&src, config);

    assert_eq!(h.poll(&src, &p).await, ingested(30, false));
    assert_eq!(
        (p.stats().token_refreshes, p.stats().calls),
        (1, 3),
        "token, /cursor, list"
    );
    // A second source with the same OAuth client shares the token: it does not refresh.
    let other = h.source("egnyte-oauth-2").await;
    let q = h.provider(&other, p.config().clone());
    h.drain(&other, &q, 2).await;
    assert_eq!((q.stats().token_refreshes, q.stats().calls), (0, 2));
    // (seconds to advance, refreshes expected after the poll)
    // 500: the token is fresh. 545: past lifetime - 60 s, before expiry: refreshed early.
    // 645: the first token has expired; the second is good until 1145.
    for (at, refreshes) in [(500, 1), (545, 2), (645, 2)] {
        let now = h.clock.now();
        let target = t0() + chrono::Duration::seconds(at);
        h.advance((target - now).to_std().unwrap());
        h.sim.generate(5);
        assert_eq!(h.poll(&src, &p).await, ingested(5, false), "at +{at}s");
        assert_eq!(p.stats().token_refreshes, refreshes, "at +{at}s");
    }
    h.assert_unified_is_the_log(&src).await;
}

/// Outcome half of the 401 rule: a revoked token is refreshed once and the poll's events are
/// stored. The exact requests (401, token, the retried list): `http.rs`,
/// `a_token_without_lifetime_is_kept_until_refused`.
#[tokio::test]
async fn oauth_refreshes_once_after_a_401_and_stores_what_the_retried_call_read() {
    let mut config = sim_config(10);
    config.token_mode = TokenMode::Expiring {
        lifetime_secs: 3_600,
    };
    let h = Harness::start(config).await;
    let (access, refresh) = password_grant(&h).await;
    let src = h.source("egnyte-oauth-401").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    // A token without a known expiry is used until Egnyte refuses it.
    config.credentials = oauth(&refresh, Some(&access));
    let p = h.provider(&src, config);
    assert_eq!(h.poll(&src, &p).await, ingested(10, false));
    assert_eq!((p.stats().token_refreshes, p.stats().calls), (0, 2));

    assert!(h.sim.revoke_token(&access));
    h.sim.generate(4);
    assert_eq!(h.poll(&src, &p).await, ingested(4, false));
    assert_eq!(p.stats().token_refreshes, 1);
    h.assert_unified_is_the_log(&src).await;
}

#[tokio::test]
async fn a_throttled_token_endpoint_is_a_throttle_not_an_auth_failure() {
    let mut config = sim_config(10);
    config.throttle = ThrottleMode::Mashery;
    config.qps = 100;
    config.daily_quota = None;
    config.token_requests_per_hour = Some(1);
    config.token_mode = TokenMode::Expiring {
        lifetime_secs: 7_200,
    };
    let h = Harness::start(config).await;
    let (_, refresh) = password_grant(&h).await; // the hour's one token request
    let src = h.source("egnyte-oauth-409").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    config.credentials = oauth(&refresh, None);
    let p = h.provider(&src, config);

    match h.poll(&src, &p).await {
        // 409 + Retry-After: seconds to the next hour from 09:00:00.250.
        PollStep::Throttled { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3_600)));
        }
        other => panic!("expected a throttle, got {other:?}"),
    }
    h.advance(Duration::from_secs(3_600));
    assert_eq!(h.poll(&src, &p).await, ingested(10, false));
    assert_eq!(p.stats().token_refreshes, 1);
}
