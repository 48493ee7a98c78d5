//! Credentials, throttling, faults and instance quirks, over HTTP.

use super::harness::*;
use std::time::Duration;
use tributary_core::EventType;
use tributary_jive::{Credentials, Secret};
use tributary_server::engine::runner::PollStep;
use tributary_sim::jive::JiveFault;

/// A refresh token from the simulator's `password` grant, as an add-on would obtain one.
async fn refresh_token(h: &Harness) -> String {
    let c = h.sim.config();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth2/token", h.base))
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", USER),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn oauth_tokens_are_refreshed_on_401_and_before_they_expire() {
    let h = Harness::start(sim_config(0, 11)).await;
    h.sim.set_token_lifetime(Duration::from_secs(600));
    let c = h.sim.config().clone();
    let mut config = h.config();
    config.credentials = Credentials::Oauth {
        client_id: c.client_id.clone(),
        client_secret: Secret::new(c.client_secret.clone()),
        refresh_token: Secret::new(refresh_token(&h).await),
        access_token: Some(Secret::new("stale-token")),
        access_token_expires_at: None,
    };
    let src = h.source("jive").await;
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p).await;
    let place = h.sim.places()[0].place_id;
    let a = h.sim.create("document", "A", place).unwrap();
    h.settle(config.skew_ms);
    h.drain(&src, &p).await;
    assert_eq!(
        p.stats().token_refreshes,
        1,
        "the stale token was refused once"
    );

    h.advance(ms(700_000)); // past the 600 s lifetime
    h.sim.edit(a).unwrap();
    h.settle(config.skew_ms);
    h.drain(&src, &p).await;
    assert_eq!(p.stats().token_refreshes, 2, "refreshed before it expired");
    let seen = h.seen(&src).await;
    assert_eq!(
        seen.iter().map(|s| s.ty).collect::<Vec<_>>(),
        vec![EventType::Add, EventType::Update]
    );
}

#[tokio::test]
async fn wrong_credentials_stop_the_source_with_the_reason() {
    let h = Harness::start(sim_config(0, 12)).await;
    let mut config = h.config();
    config.credentials = Credentials::basic(USER, "wrong");
    let src = h.source("jive").await;
    let p = h.provider(&src, config);
    // The first poll of a `latest` source lists nothing; the second does.
    h.drain(&src, &p).await;
    h.settle(1_000);
    match poll_once(&h, &src, &p).await {
        PollStep::Stopped { error } => assert!(error.contains("401"), "{error}"),
        other => panic!("{other:?}"),
    }
}

async fn poll_once(
    h: &Harness,
    src: &tributary_store::SourceRef,
    p: &tributary_jive::JiveProvider,
) -> PollStep {
    tributary_server::engine::runner::poll_once(&h.store, src, p).await
}

#[tokio::test]
async fn throttling_is_rate_limited_with_retry_after_and_loses_nothing() {
    let h = Harness::start(sim_config(0, 13)).await;
    let src = h.source("jive").await;
    let config = h.config();
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p).await;
    let mut model = Model::new(&h.sim, now(&h) - ms(1_000));
    h.sim.generate(30);
    h.settle(config.skew_ms);
    model.round(&h.sim);
    for fault in [
        JiveFault::status(503, Some(7), 1),
        JiveFault::status(429, Some(2), 1),
    ] {
        h.sim.inject(fault);
        match poll_once(&h, &src, &p).await {
            PollStep::Throttled { retry_after, .. } => {
                assert!(
                    retry_after == Some(Duration::from_secs(7))
                        || retry_after == Some(Duration::from_secs(2))
                );
            }
            other => panic!("{other:?}"),
        }
    }
    h.drain(&src, &p).await;
    assert_seen(&h.seen(&src).await, &model.expected);
}

#[tokio::test]
async fn server_errors_and_broken_bodies_are_retried_without_loss_or_doubling() {
    let h = Harness::start(sim_config(10, 14)).await;
    let src = h.source("jive").await;
    let mut config = h.config();
    config.page_size = 3;
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p).await;
    let mut model = Model::new(&h.sim, now(&h) - ms(1_000));
    let mut failures = 0;
    for (i, fault) in [
        JiveFault::status(500, None, 1),
        JiveFault::MalformedJson { next: 1 },
        JiveFault::Html404 { next: 1 },
        JiveFault::status(502, None, 2),
    ]
    .into_iter()
    .enumerate()
    {
        h.sim.generate(8 + i);
        h.settle(config.skew_ms);
        model.round(&h.sim);
        h.sim.inject(fault);
        for _ in 0..100 {
            match poll_once(&h, &src, &p).await {
                PollStep::Ingested { more: false, .. } => break,
                PollStep::Ingested { more: true, .. } => {}
                PollStep::Failed { .. } | PollStep::Stopped { .. } => failures += 1,
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(failures >= 4, "{failures} failed polls");
    assert_seen(&h.seen(&src).await, &model.expected);
}

#[tokio::test]
async fn an_instance_without_deleted_objects_is_refused_with_the_reason() {
    let mut sc = sim_config(0, 15);
    sc.core_revision = 11;
    let h = Harness::start(sc).await;
    let src = h.source("jive").await;
    let p = h.provider(&src, h.config());
    match poll_once(&h, &src, &p).await {
        PollStep::Stopped { error } => {
            assert!(error.contains("revision 11"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bodies_without_the_security_prefix_read_the_same() {
    let h = Harness::start(sim_config(0, 16)).await;
    h.sim.set_prefix(false);
    let src = h.source("jive").await;
    let config = h.config();
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p).await;
    let mut model = Model::new(&h.sim, now(&h) - ms(1_000));
    h.sim.generate(20);
    h.settle(config.skew_ms);
    model.round(&h.sim);
    h.drain(&src, &p).await;
    assert!(!model.expected.is_empty());
    assert_seen(&h.seen(&src).await, &model.expected);
}

#[tokio::test]
async fn a_place_filter_sees_only_that_place() {
    let h = Harness::start(sim_config(0, 17)).await;
    let places = h.sim.places();
    let src = h.source("jive").await;
    let mut config = h.config();
    config.places = vec![places[1].uri.clone()];
    config.types = vec!["document".into()];
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p).await;
    let _outside = h
        .sim
        .create("document", "elsewhere", places[0].place_id)
        .unwrap();
    let wrong_type = h
        .sim
        .create("discussion", "talk", places[1].place_id)
        .unwrap();
    let inside = h
        .sim
        .create("document", "here", places[1].place_id)
        .unwrap();
    h.settle(config.skew_ms);
    h.drain(&src, &p).await;
    h.sim.delete(inside).unwrap();
    h.sim.delete(wrong_type).unwrap();
    h.settle(config.skew_ms);
    h.drain(&src, &p).await;
    let seen = h.seen(&src).await;
    assert_eq!(
        seen.iter()
            .map(|s| (s.ty, s.content.clone()))
            .collect::<Vec<_>>(),
        vec![
            (EventType::Add, inside.to_string()),
            (EventType::Delete, inside.to_string()),
        ]
    );
}
