//! Outbound addresses (`[network]`): a source or OAuth flow whose upstream host is, or resolves
//! only to, a forbidden address (loopback, private, link-local, …) is refused with `400
//! address_not_allowed`, and nothing is sent to it. Live upstreams on 127.0.0.1:0 count what
//! reaches them; the engine is not run (nothing polls).

use super::*;
use serde_json::json;
use tributary_core::SystemClock;
use tributary_http::AddressPolicy;

/// The API with source management whose outbound requests follow `policy`.
fn api_with_policy(store: &SledStore, policy: AddressPolicy) -> Api {
    let keys = ApiKeys::new([KeyEntry::new("a", KEY_A)]).unwrap();
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let state = ApiState::new(dyn_store.clone(), keys);
    Api::new(with_sources(
        state,
        dyn_store,
        Arc::new(SystemClock),
        policy,
    ))
}

/// An upstream answering everything with what a tenant must never see.
async fn internal() -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("internal secret"))
        .mount(&server)
        .await;
    server
}

async fn hits(server: &wiremock::MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn egnyte(id: &str, config: Value) -> Value {
    json!({"id": id, "provider": "egnyte", "paused": true, "config": config,
        "credentials": {"kind": "bearer", "token": "tok"}})
}

#[tokio::test]
async fn every_form_of_a_forbidden_address_is_refused_at_creation() {
    let store = SledStore::temporary().unwrap();
    let api = api_with_policy(&store, AddressPolicy::strict());
    let upstream = internal().await;
    let port = upstream.address().port();
    let cases = [
        (
            "s-dotted",
            json!({"base_url": format!("http://127.0.0.1:{port}")}),
            "127.0.0.1 is a loopback address",
        ),
        (
            "s-v6",
            json!({"base_url": format!("http://[::1]:{port}")}),
            "[::1] is a loopback address",
        ),
        (
            "s-hex",
            json!({"base_url": format!("http://0x7f000001:{port}")}),
            "127.0.0.1 is a loopback address",
        ),
        (
            "s-decimal",
            json!({"base_url": format!("http://2130706433:{port}")}),
            "127.0.0.1 is a loopback address",
        ),
        (
            "s-metadata",
            json!({"domain": "169.254.169.254"}),
            "169.254.169.254 is a link-local address",
        ),
        (
            "s-private",
            json!({"base_url": "https://10.1.2.3"}),
            "10.1.2.3 is a private address",
        ),
    ];
    for (id, config, why) in cases {
        let (status, body) = call_json(
            &api,
            "POST",
            Some(KEY_A),
            "/v1/sources",
            Some(egnyte(id, config)),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "address_not_allowed"),
            "{id}: {body}"
        );
        assert_eq!(
            error_message(&body),
            format!("source {id}: address not allowed: {why}")
        );
    }
    // A name is resolved (with a timeout): `localhost` resolves only to loopback addresses.
    let (status, body) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(egnyte(
            "s-name",
            json!({"base_url": format!("http://localhost:{port}")}),
        )),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "address_not_allowed"));
    let message = error_message(&body);
    assert!(
        message.starts_with("source s-name: address not allowed: localhost resolves to ")
            && message.ends_with(", a loopback address"),
        "{message}"
    );
    // Jive's base URL is checked the same way.
    let jive = json!({"id": "j-v6", "provider": "jive", "paused": true,
        "config": {"base_url": format!("http://[::ffff:127.0.0.1]:{port}")},
        "credentials": {"kind": "basic", "username": "u", "password": "p"}});
    let (status, body) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(jive)).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "address_not_allowed"),
        "{body}"
    );
    // Nothing was stored, nothing was sent.
    for id in [
        "s-dotted",
        "s-v6",
        "s-hex",
        "s-decimal",
        "s-metadata",
        "s-name",
        "j-v6",
    ] {
        let uri = format!("/v1/sources/{id}");
        let (status, _) = call_json(&api, "GET", Some(KEY_A), &uri, None).await;
        assert_eq!(status, 404, "{id}");
    }
    assert_eq!(hits(&upstream).await, 0);
}

#[tokio::test]
async fn allow_private_lets_the_allowed_range_through_and_no_more() {
    let store = SledStore::temporary().unwrap();
    let allowed = AddressPolicy::allowing(["127.0.0.1/32".parse().unwrap()]);
    let api = api_with_policy(&store, allowed);
    let upstream = internal().await;
    let port = upstream.address().port();
    let ok = egnyte(
        "s-allowed",
        json!({"base_url": format!("http://127.0.0.1:{port}")}),
    );
    let (status, body) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(ok)).await;
    assert_eq!(status, 201, "{body}");
    let other = egnyte(
        "s-other-loopback",
        json!({"base_url": format!("http://127.0.0.2:{port}")}),
    );
    let (status, body) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(other)).await;
    assert_eq!((status, error_code(&body)), (400, "address_not_allowed"));
}

#[tokio::test]
async fn oauth_start_refuses_a_forbidden_provider_host() {
    let store = SledStore::temporary().unwrap();
    let api = api_with_policy(&store, AddressPolicy::strict());
    let start = json!({"config": {"base_url": "http://169.254.169.254"}, "client_id": "app",
        "client_secret": "shh", "redirect_uri": "https://app.example/back"});
    let (status, body) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/oauth/jive/start",
        Some(start),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "address_not_allowed"));
    assert_eq!(
        error_message(&body),
        "address not allowed: 169.254.169.254 is a link-local address"
    );
}

#[tokio::test]
async fn the_oauth_token_exchange_refuses_a_forbidden_token_host() {
    let store = SledStore::temporary().unwrap();
    let api = api_with_policy(&store, AddressPolicy::strict());
    let token_endpoint = internal().await;
    let port = token_endpoint.address().port();
    // Hosts that are forbidden by the time the callback exchanges the code (as when a name
    // resolves elsewhere than at `start`): an IP literal, and a name resolving to loopback.
    for token_url in [
        format!("http://127.0.0.1:{port}/puboauth/token"),
        format!("http://localhost:{port}/puboauth/token"),
    ] {
        let start = json!({"config": {"base_url": "https://93.184.215.14"}, "client_id": "app",
            "client_secret": "shh", "redirect_uri": "https://app.example/back"});
        let (status, started) = call_json(
            &api,
            "POST",
            Some(KEY_A),
            "/v1/oauth/egnyte/start",
            Some(start),
        )
        .await;
        assert_eq!(status, 200, "{started}");
        let state = started["state"].as_str().unwrap();
        let control = api.state.sources().unwrap();
        let now = control.clock().now();
        let mut flow = control.oauth().take(state, now).unwrap();
        flow.endpoints.token_url = token_url.clone();
        control
            .oauth()
            .insert(state.to_owned(), flow, now, 100)
            .unwrap();

        let uri = format!("/v1/oauth/egnyte/callback?code=abc&state={state}");
        let (status, body) = call_json(&api, "GET", None, &uri, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "address_not_allowed"),
            "{token_url}: {body}"
        );
        assert!(
            error_message(&body).starts_with(&format!(
                "the token endpoint {token_url} is not reachable: address not allowed: "
            )),
            "{body}"
        );
    }
    assert_eq!(hits(&token_endpoint).await, 0);
}
