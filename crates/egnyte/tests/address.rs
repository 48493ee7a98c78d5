//! Where an Egnyte source may send requests: never to an address the outbound policy forbids
//! (checked for IP literals when the provider is built, and by the resolver at connect time), and
//! never where a redirect points. Over real HTTP on 127.0.0.1 (port 0).

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;
use std::sync::Arc;
use tributary_core::{ManualClock, MemoryObjectState, Provider, ProviderError, SourceId};
use tributary_egnyte::{ConfigError, Credentials, EgnyteConfig, EgnyteProvider, RateLimiters};
use tributary_http::{AddressPolicy, ForbiddenRange, Outbound};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn provider(base: String, policy: AddressPolicy) -> Result<EgnyteProvider, ConfigError> {
    build(EgnyteConfig::new(base, Credentials::bearer("tok")), policy)
}

fn build(config: EgnyteConfig, policy: AddressPolicy) -> Result<EgnyteProvider, ConfigError> {
    let limiters = RateLimiters::new(governor::Quota::per_second(
        NonZeroU32::new(100_000).unwrap(),
    ));
    let clock = tributary_core::time::parse("2026-01-05T09:20:00.000Z").unwrap();
    EgnyteProvider::new(
        SourceId::new("egnyte-acme").unwrap(),
        config,
        Arc::new(MemoryObjectState::new()),
        &limiters,
        Arc::new(ManualClock::new(clock)),
        Outbound::new(policy).unwrap(),
    )
}

/// An upstream answering everything with a body a tenant must not see.
async fn internal() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("internal secret"))
        .mount(&server)
        .await;
    server
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn fatal(e: ProviderError) -> String {
    match e {
        ProviderError::Fatal { message } => message,
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
    let server = internal().await;
    let base = format!("http://localhost:{}", server.address().port());
    // A name builds (what it resolves to may change): the resolver judges at every connection.
    let p = provider(base, AddressPolicy::strict()).unwrap();
    let message = fatal(p.poll(None).await.unwrap_err());
    assert_eq!(
        message,
        "GET /pubapi/v2/events/cursor: address not allowed: localhost resolves to 127.0.0.1, \
         a loopback address"
    );
    assert_eq!(hits(&server).await, 0);
}

#[tokio::test]
async fn an_ip_literal_in_a_forbidden_range_is_refused_when_the_provider_is_built() {
    let server = internal().await;
    let base = format!("http://2130706433:{}", server.address().port());
    let e = provider(base, AddressPolicy::strict()).unwrap_err();
    let ConfigError::AddressNotAllowed(refused) = &e else {
        panic!("expected an address refusal, got {e:?}");
    };
    assert_eq!(refused.host, "127.0.0.1");
    assert_eq!(refused.range, ForbiddenRange::Loopback);
    assert_eq!(
        e.to_string(),
        "egnyte: address not allowed: 127.0.0.1 is a loopback address"
    );
    // `domain` names the host too: the cloud metadata service.
    let mut metadata = EgnyteConfig::new(String::new(), Credentials::bearer("tok"));
    metadata.base_url = None;
    metadata.domain = Some("169.254.169.254".into());
    let e = build(metadata, AddressPolicy::strict()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "egnyte: address not allowed: 169.254.169.254 is a link-local address"
    );
    assert_eq!(hits(&server).await, 0);
}

#[tokio::test]
async fn allow_private_lets_127_0_0_1_through() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "latest_event_id": 7, "oldest_event_id": 1
        })))
        .mount(&server)
        .await;
    let allowed = AddressPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let p = provider(server.uri(), allowed).unwrap();
    p.poll(None).await.unwrap();
    assert!(hits(&server).await >= 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_becomes_the_sources_error() {
    let target = internal().await;
    let origin = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/latest/meta-data", target.uri())),
        )
        .mount(&origin)
        .await;
    let p = provider(origin.uri(), AddressPolicy::loopback()).unwrap();
    let message = fatal(p.poll(None).await.unwrap_err());
    assert_eq!(
        message,
        "GET /pubapi/v2/events/cursor: answered 302, a redirect; redirects are not followed \
         (check the base URL)"
    );
    assert_eq!(hits(&origin).await, 1);
    assert_eq!(hits(&target).await, 0);
}
