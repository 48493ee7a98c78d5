//! Where a Jive source may send requests: never to an address the outbound policy forbids
//! (checked for IP literals when the provider is built, and by the resolver at connect time), and
//! never where a redirect points. Over real HTTP on 127.0.0.1 (port 0).

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use tributary_core::{MemoryObjectState, Provider, ProviderError, SourceId, SystemClock};
use tributary_http::{AddressPolicy, Outbound};
use tributary_jive::{ConfigError, Credentials, JiveConfig, JiveProvider};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn provider(base: String, policy: AddressPolicy) -> Result<JiveProvider, ConfigError> {
    JiveProvider::new(
        SourceId::new("jive-acme").unwrap(),
        JiveConfig::new(base, Credentials::basic("u", "p")),
        Arc::new(MemoryObjectState::new()),
        Arc::new(SystemClock),
        Outbound::new(policy).unwrap(),
    )
}

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
    let p = provider(base, AddressPolicy::strict()).unwrap();
    assert_eq!(
        fatal(p.poll(None).await.unwrap_err()),
        "GET /api/version: address not allowed: localhost resolves to 127.0.0.1, a loopback \
         address"
    );
    assert_eq!(hits(&server).await, 0);
}

#[tokio::test]
async fn an_ipv6_loopback_literal_is_refused_when_the_provider_is_built() {
    let e = provider("http://[::1]:9".into(), AddressPolicy::strict()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "jive base_url: address not allowed: [::1] is a loopback address"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_becomes_the_sources_error() {
    let target = internal().await;
    let origin = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/api/version", target.uri())),
        )
        .mount(&origin)
        .await;
    let p = provider(origin.uri(), AddressPolicy::loopback()).unwrap();
    assert_eq!(
        fatal(p.poll(None).await.unwrap_err()),
        "GET /api/version: answered 302, a redirect; redirects are not followed (check the base \
         URL)"
    );
    assert_eq!(hits(&origin).await, 1);
    assert_eq!(hits(&target).await, 0);
}
