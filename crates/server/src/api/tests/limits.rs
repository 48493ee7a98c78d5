//! Greedy tenants: per-tenant limits (`429 tenant_limit`), size limits (`413
//! payload_too_large`), the paged source list, bounded quotes of input in error messages, and
//! the header read timeout. Each limit is set small through [`ApiConfig::limits`]; another
//! tenant is never affected, and a place is given back when what held it ends.

use super::*;
use serde_json::json;
use tributary_core::{Clock, ManualClock};

/// A second key of tenant `a`.
const KEY_A2: &str = "another-key-for-tenant-a";
/// A key of tenant `a` limited to source `a1`.
const KEY_A1: &str = "key-for-a1-only";

fn limits(change: impl FnOnce(&mut Limits)) -> ApiConfig {
    let mut limits = Limits::default();
    change(&mut limits);
    ApiConfig {
        limits,
        ..ApiConfig::default()
    }
}

/// The API over `store` with `config`, source management over a clock the test moves (its
/// engine never runs: the sources created here are paused).
fn managed(store: &SledStore, config: ApiConfig) -> (Api, Arc<ManualClock>) {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("a", KEY_A2),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A1).for_source("a1"),
    ])
    .unwrap();
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let manual = Arc::new(ManualClock::new(t0()));
    let clock: Arc<dyn Clock> = manual.clone();
    let state = with_sources(
        ApiState::with_config(dyn_store.clone(), keys, config),
        dyn_store,
        clock,
        tributary_http::AddressPolicy::loopback(),
    );
    (Api::new(state), manual)
}

async fn post(api: &Api, key: &str, uri: &str, body: &Value) -> (u16, HeaderMap, Value) {
    let request = Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, headers, bytes) = api.send(request).await;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, json)
}

fn egnyte(id: &str) -> Value {
    json!({"id": id, "provider": "egnyte", "paused": true,
        "config": {"base_url": "http://127.0.0.1:9"},
        "credentials": {"kind": "bearer", "token": "secret-token"}})
}

fn oauth_start() -> Value {
    json!({"config": {"domain": "acme"}, "client_id": "app", "client_secret": "shh",
        "redirect_uri": "https://app.example/back"})
}

fn retry_after(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_tenant_at_its_oauth_limit_gets_429_until_its_oldest_flow_expires() {
    let store = fixture().await;
    let (api, clock) = managed(&store, limits(|l| l.oauth_pending_per_tenant = 2));
    let start = "/v1/oauth/egnyte/start";
    let (status, _, first) = post(&api, KEY_A, start, &oauth_start()).await;
    assert_eq!(status, 200, "{first}");
    clock.advance(Duration::from_secs(100));
    let (status, _, _) = post(&api, KEY_A2, start, &oauth_start()).await;
    assert_eq!(status, 200);
    // The third of tenant `a` (whichever key): refused until the first expires, 600 s after it
    // started, 500 s from now.
    let (status, headers, body) = post(&api, KEY_A, start, &oauth_start()).await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    assert_eq!(retry_after(&headers), Some("500"));
    assert!(
        error_message(&body).contains("oauth_pending_per_tenant"),
        "{body}"
    );
    // Another tenant is not affected.
    let (status, _, _) = post(&api, KEY_B, start, &oauth_start()).await;
    assert_eq!(status, 200);
    // A flow called back (here: refused by the user) frees its place at once.
    let state = first["state"].as_str().unwrap();
    let callback = format!("/v1/oauth/egnyte/callback?error=access_denied&state={state}");
    let (status, denied) = api.get(None, &callback).await;
    assert_eq!((status, error_code(&denied)), (400, "oauth_denied"));
    let (status, _, _) = post(&api, KEY_A, start, &oauth_start()).await;
    assert_eq!(status, 200);
    // Both of `a`'s flows started at 100 s now: 600 s to wait.
    let (status, headers, _) = post(&api, KEY_A, start, &oauth_start()).await;
    assert_eq!((status, retry_after(&headers)), (429, Some("600")));
    // Past their expiry, places are free again.
    clock.advance(Duration::from_secs(600));
    let (status, _, _) = post(&api, KEY_A, start, &oauth_start()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_tenant_at_its_source_limit_gets_429_and_a_delete_frees_a_place() {
    let store = fixture().await;
    // Tenant `a` has `a1` and `a2` already.
    let (api, _) = managed(&store, limits(|l| l.sources_per_tenant = 3));
    let (status, _, body) = post(&api, KEY_A, "/v1/sources", &egnyte("eg1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, headers, body) = post(&api, KEY_A, "/v1/sources", &egnyte("eg2")).await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    assert_eq!(retry_after(&headers), None);
    assert!(
        error_message(&body).contains("sources_per_tenant"),
        "{body}"
    );
    // An OAuth flow would create one: refused at its start, before the user authorizes.
    let (status, _, body) = post(&api, KEY_A, "/v1/oauth/egnyte/start", &oauth_start()).await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    // Another tenant is not affected.
    let (status, _, _) = post(&api, KEY_B, "/v1/sources", &egnyte("eg2")).await;
    assert_eq!(status, 201);
    let (status, _) = api
        .call("DELETE", Some(KEY_A), "/v1/sources/eg1", None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = post(&api, KEY_A, "/v1/sources", &egnyte("eg2")).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn oversized_configs_credentials_and_bodies_are_413_naming_the_limit() {
    let store = fixture().await;
    let (api, _) = managed(
        &store,
        limits(|l| {
            l.max_config_bytes = 512;
            l.max_credentials_bytes = 300;
            l.max_body_bytes = 4096;
        }),
    );
    let mut fat_config = egnyte("fat");
    fat_config["config"]["note"] = json!("x".repeat(600));
    let mut fat_credentials = egnyte("fat");
    fat_credentials["credentials"]["token"] = json!("y".repeat(400));
    for (body, says) in [
        (&fat_config, "`config` is "),
        (&fat_credentials, "`credentials` is "),
    ] {
        let (status, _, answer) = post(&api, KEY_A, "/v1/sources", body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (413, "payload_too_large"),
            "{answer}"
        );
        let message = error_message(&answer);
        assert!(message.starts_with(says), "{message}");
        let limit = if says.contains("config") { 512 } else { 300 };
        assert!(
            message.contains(&format!("the limit is {limit} bytes")),
            "{message}"
        );
    }
    // An OAuth flow keeps its config while it waits: the same limit.
    let mut start = oauth_start();
    start["config"]["note"] = json!("x".repeat(600));
    let (status, _, answer) = post(&api, KEY_A, "/v1/oauth/egnyte/start", &start).await;
    assert_eq!(
        (status, error_code(&answer)),
        (413, "payload_too_large"),
        "{answer}"
    );
    // A body over the body limit is refused before it is parsed, as the documented JSON error,
    // on every operation that takes a body.
    let mut huge = egnyte("huge");
    huge["config"]["note"] = json!("z".repeat(5000));
    for uri in ["/v1/sources", "/v1/oauth/egnyte/start"] {
        let (status, headers, answer) = post(&api, KEY_A, uri, &huge).await;
        assert_eq!(
            (status, error_code(&answer)),
            (413, "payload_too_large"),
            "{uri}: {answer}"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert!(
            error_message(&answer).contains("max_body_bytes"),
            "{answer}"
        );
    }
    let request = Request::patch("/v1/sources/a1")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .body(Body::from(vec![b' '; 5000]))
        .unwrap();
    let (status, _, bytes) = api.send(request).await;
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!((status, error_code(&answer)), (413, "payload_too_large"));
}

#[tokio::test]
async fn the_source_list_pages_by_id_with_an_opaque_cursor() {
    let store = fixture().await;
    for id in ["a7", "a3", "a5", "a4", "a6"] {
        put_source(&store, "a", id).await;
    }
    let (api, _) = managed(&store, ApiConfig::default());
    let mut pages = Vec::new();
    let mut uri = "/v1/sources?limit=2".to_owned();
    for _ in 0..10 {
        let (status, page) = api.get(Some(KEY_A), &uri).await;
        assert_eq!(status, 200, "{uri}: {page}");
        let ids: Vec<&str> = page["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap())
            .collect();
        assert_eq!(page["count"], json!(ids.len()));
        pages.push(ids.join(","));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/v1/sources?limit=2&cursor={cursor}"),
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                break;
            }
        }
    }
    assert_eq!(pages, ["a1,a2", "a3,a4", "a5,a6", "a7"]);
    // The default page holds them all, and says there is no more.
    let (_, all) = api.get(Some(KEY_A), "/v1/sources").await;
    assert_eq!(
        (&all["count"], &all["next_cursor"]),
        (&json!(7), &Value::Null)
    );
    // Exactly `limit` left: the page is the last.
    let (_, page) = api.get(Some(KEY_A), "/v1/sources?limit=7").await;
    assert_eq!(
        (&page["count"], &page["next_cursor"]),
        (&json!(7), &Value::Null)
    );
    // A source-scoped key, another tenant: their own sources only.
    let (_, own) = api.get(Some(KEY_A1), "/v1/sources?limit=1").await;
    assert_eq!(
        (&own["count"], &own["next_cursor"]),
        (&json!(1), &Value::Null)
    );
    let (_, b) = api.get(Some(KEY_B), "/v1/sources").await;
    assert_eq!(b["objects"][0]["id"], "b1");
    for (query, code) in [
        ("limit=0", "invalid_parameter"),
        ("limit=1001", "invalid_parameter"),
        ("limit=two", "invalid_parameter"),
        ("limit=1&limit=2", "invalid_parameter"),
        ("page_size=2", "invalid_parameter"),
        ("cursor=", "invalid_cursor"),
        ("cursor=junk", "invalid_cursor"),
        ("cursor=s1.zz", "invalid_cursor"),
        ("cursor=s1.616", "invalid_cursor"),
        // Hex of "a b": not a source id.
        ("cursor=s1.612062", "invalid_cursor"),
    ] {
        let (status, body) = api.get(Some(KEY_A), &format!("/v1/sources?{query}")).await;
        assert_eq!((status, error_code(&body)), (400, code), "{query}: {body}");
    }
}

#[tokio::test]
async fn error_messages_quote_at_most_an_excerpt_of_the_input() {
    let store = fixture().await;
    let (api, _) = managed(&store, ApiConfig::default());
    let long = "Q".repeat(60_000);
    // The reproduction first: a 60 KB cursor.
    let (status, body) = api
        .get(Some(KEY_A), &format!("/v1/events?cursor={long}"))
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_cursor"));
    let message = error_message(&body);
    assert!(message.contains(&"Q".repeat(100)), "{message}");
    assert!(!message.contains(&"Q".repeat(101)), "{message}");
    for (uri, status) in [
        (format!("/v1/events?cursor={long}"), 400),
        (format!("/v1/events?{long}=1"), 400),
        (format!("/v1/events?page_size={long}"), 400),
        (format!("/v1/events?path_prefix={long}"), 400),
        (format!("/v1/events?since={long}"), 400),
        (format!("/v1/events?source={long}"), 400),
        (format!("/v1/events/stream?cursor={long}"), 400),
        (format!("/v1/accounts/{long}/events"), 400),
        (format!("/v1/sources?cursor={long}"), 400),
        (format!("/v1/sources?limit={long}"), 400),
        (format!("/v1/sources/{long}"), 400),
        (format!("/v1/{long}"), 404),
        (format!("/v1/oauth/{long}/callback?state=s&code=c"), 400),
        (
            format!("/v1/oauth/egnyte/callback?state=s&error={long}"),
            400,
        ),
    ] {
        let (got, body) = api.get(Some(KEY_A), &uri).await;
        assert_eq!(got, status, "{}: {body}", &uri[..40]);
        let message = error_message(&body);
        assert!(
            message.len() < 400 && !message.contains(&"Q".repeat(101)),
            "{}: {message}",
            &uri[..40]
        );
    }
    // In a body: a value serde quotes, an id, a URL.
    for body in [
        json!({"provider": "egnyte", "config": {}, "credentials": {"kind": "bearer"}, "paused": long}),
        json!({"id": long, "provider": "egnyte", "config": {}, "credentials": {"kind": "bearer"}}),
    ] {
        let (status, _, answer) = post(&api, KEY_A, "/v1/sources", &body).await;
        assert_eq!(status, 400, "{answer}");
        let message = error_message(&answer);
        assert!(message.len() < 400, "{message}");
    }
    let mut start = oauth_start();
    start["redirect_uri"] = json!(long);
    let (status, _, answer) = post(&api, KEY_A, "/v1/oauth/egnyte/start", &start).await;
    assert_eq!(status, 400);
    assert!(error_message(&answer).len() < 400, "{answer}");
}

/// Opens a live stream with `key` on the listening server: its response, kept open.
async fn open_stream(server: &Listening, key: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/events/stream", server.url))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// Waits (bounded) until tenant `a` has `n` streams open.
async fn until_open(api: &Api, n: usize) {
    let began = std::time::Instant::now();
    while api.state.streams().open_of("a") != n {
        assert!(
            began.elapsed() < WAIT,
            "tenant a has {} streams open, not {n}",
            api.state.streams().open_of("a")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn live_streams_are_limited_per_key_and_tenant_and_freed_when_the_client_goes() {
    let store = fixture().await;
    let config = ApiConfig {
        // Keep-alives every 50 ms: how the server notices a client gone.
        keep_alive: Duration::from_millis(50),
        ..limits(|l| {
            l.streams_per_key = 2;
            l.streams_per_tenant = 3;
        })
    };
    let (api, _) = managed(&store, config);
    let server = api.listen().await;
    let first = open_stream(&server, KEY_A).await;
    let _second = open_stream(&server, KEY_A).await;
    until_open(&api, 2).await;
    // A third on the same key: refused before the stream begins.
    let (status, body) = api.get(Some(KEY_A), "/v1/events/stream").await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    assert!(error_message(&body).contains("streams_per_key"), "{body}");
    // Another key of the tenant: one more, then the tenant's limit.
    let _third = open_stream(&server, KEY_A2).await;
    let (status, body) = api.get(Some(KEY_A2), "/v1/events/stream").await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    assert!(
        error_message(&body).contains("streams_per_tenant"),
        "{body}"
    );
    // Another tenant is not affected.
    let _b = open_stream(&server, KEY_B).await;
    // The first client goes away: its slot is given back.
    drop(first);
    until_open(&api, 2).await;
    let _again = open_stream(&server, KEY_A).await;
    until_open(&api, 3).await;
    // Shutdown ends every stream, and gives every slot back.
    server.stop().await;
    until_open(&api, 0).await;
}

#[tokio::test]
async fn a_half_sent_request_is_disconnected_after_the_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let store = fixture().await;
    let timeout = Duration::from_millis(300);
    let api = api_with(&store, limits(|l| l.header_read_timeout = timeout));
    let server = api.listen().await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let began = std::time::Instant::now();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Silent after connecting: the same bound.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for stream in [&mut half, &mut silent] {
        let mut rest = Vec::new();
        // Closed: end of file, or a reset (either ends the read).
        let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection within the wait");
        assert!(!rest.starts_with(b"HTTP/1.1 200"), "{rest:?}");
    }
    assert!(began.elapsed() >= timeout, "{:?}", began.elapsed());
    // A whole request is answered as ever.
    let status = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    server.stop().await;
}
