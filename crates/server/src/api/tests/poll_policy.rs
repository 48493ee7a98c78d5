//! A source's `poll` policy given in part: `POST /v1/sources` fills the rest from the
//! provider's defaults, `PATCH /v1/sources/{id}` from the source's current policy; the policy is
//! stored (and shown) whole. What is still invalid is refused naming the field. The sources are
//! created paused: nothing polls.

use super::*;
use serde_json::json;
use tributary_core::SystemClock;

fn sources_api(store: &SledStore) -> Api {
    let keys = ApiKeys::new([KeyEntry::new("a", KEY_A)]).unwrap();
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let state = ApiState::new(dyn_store.clone(), keys);
    Api::new(with_sources(
        state,
        dyn_store,
        Arc::new(SystemClock),
        tributary_http::AddressPolicy::loopback(),
    ))
}

fn new_source(id: &str, provider: &str, poll: Value) -> Value {
    let credentials = match provider {
        "egnyte" => json!({"kind": "bearer", "token": "tok"}),
        _ => json!({"kind": "basic", "username": "u", "password": "p"}),
    };
    json!({"id": id, "provider": provider, "paused": true,
        "config": {"base_url": "http://127.0.0.1:9", "poll": poll}, "credentials": credentials})
}

fn policy(min: u64, max: u64, multiplier: f64, jitter: f64) -> Value {
    json!({"min_interval_ms": min, "max_interval_ms": max, "multiplier": multiplier,
        "jitter": jitter})
}

async fn stored_poll(api: &Api, id: &str) -> Value {
    let (status, body) =
        call_json(api, "GET", Some(KEY_A), &format!("/v1/sources/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body["config"]["poll"].clone()
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_partial_policy_is_created_with_the_providers_defaults() {
    let store = SledStore::temporary().unwrap();
    let api = sources_api(&store);
    for (id, provider, filled) in [
        ("eg1", "egnyte", policy(2_000, 900_000, 2.0, 0.1)),
        ("jv1", "jive", policy(2_000, 300_000, 2.0, 0.1)),
    ] {
        let new = new_source(id, provider, json!({"min_interval_ms": 2000}));
        let (status, created) =
            call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(new)).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["config"]["poll"], filled, "{provider}");
        assert_eq!(stored_poll(&api, id).await, filled, "{provider}");
    }
    // An empty policy is every default.
    let new = new_source("eg2", "egnyte", json!({}));
    let (status, created) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(new)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["config"]["poll"],
        policy(300_000, 900_000, 2.0, 0.1)
    );
}

#[tokio::test]
async fn a_partial_policy_still_invalid_is_refused_at_creation_naming_the_field() {
    let store = SledStore::temporary().unwrap();
    let api = sources_api(&store);
    let cases = [
        (
            new_source("s1", "egnyte", json!({"min_interval_ms": 1_000_000})),
            "invalid_source",
            "source s1: invalid egnyte config: egnyte: poll policy: max_interval_ms (900000) must be at least min_interval_ms (1000000)",
        ),
        (
            new_source("s2", "jive", json!({"multiplier": 0.5})),
            "invalid_source",
            "source s2: invalid jive config: jive poll policy: multiplier must be a number >= 1.0, got 0.5",
        ),
        (
            new_source("s3", "egnyte", json!({"min_interval": 2000})),
            "invalid_source",
            "source s3: invalid egnyte config: unknown field `min_interval`, expected one of `min_interval_ms`, `max_interval_ms`, `multiplier`, `jitter`",
        ),
    ];
    for (new, code, message) in cases {
        let (status, body) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(new)).await;
        assert_eq!((status, error(&body)), (400, (code, message)), "{body}");
    }
    let (status, list) = call_json(&api, "GET", Some(KEY_A), "/v1/sources", None).await;
    assert_eq!((status, &list["count"]), (200, &json!(0)), "{list}");
}

#[tokio::test]
async fn a_partial_change_keeps_the_sources_other_values() {
    let store = SledStore::temporary().unwrap();
    let api = sources_api(&store);
    let new = new_source("eg1", "egnyte", policy(60_000, 600_000, 3.0, 0.2));
    let (status, created) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(new)).await;
    assert_eq!(status, 201, "{created}");

    let change = json!({"poll": {"min_interval_ms": 2000}});
    let (status, changed) =
        call_json(&api, "PATCH", Some(KEY_A), "/v1/sources/eg1", Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["config"]["poll"], policy(2_000, 600_000, 3.0, 0.2));
    let change = json!({"poll": {"jitter": 0.0}});
    let (status, changed) =
        call_json(&api, "PATCH", Some(KEY_A), "/v1/sources/eg1", Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["config"]["poll"], policy(2_000, 600_000, 3.0, 0.0));
    assert_eq!(
        stored_poll(&api, "eg1").await,
        policy(2_000, 600_000, 3.0, 0.0)
    );

    // Refused changes leave the stored policy as it was.
    let cases = [
        (
            json!({"poll": {"min_interval_ms": 700_000}}),
            "invalid_source",
            "source eg1: invalid egnyte config: egnyte: poll policy: max_interval_ms (600000) must be at least min_interval_ms (700000)",
        ),
        (
            json!({"poll": {"multiplier": 0.5}}),
            "invalid_source",
            "source eg1: invalid egnyte config: egnyte: poll policy: multiplier must be a number >= 1.0, got 0.5",
        ),
    ];
    for (change, code, message) in cases {
        let (status, body) =
            call_json(&api, "PATCH", Some(KEY_A), "/v1/sources/eg1", Some(change)).await;
        assert_eq!((status, error(&body)), (400, (code, message)), "{body}");
    }
    let (status, body) = call_json(
        &api,
        "PATCH",
        Some(KEY_A),
        "/v1/sources/eg1",
        Some(json!({"poll": {"max": 5}})),
    )
    .await;
    assert_eq!((status, error(&body).0), (400, "invalid_body"), "{body}");
    assert!(error(&body).1.contains("unknown field `max`"), "{body}");
    assert_eq!(
        stored_poll(&api, "eg1").await,
        policy(2_000, 600_000, 3.0, 0.0)
    );
}

#[tokio::test]
async fn a_change_fills_a_stored_partial_policy_from_the_providers_defaults() {
    // A record written before policies were stored whole (or by hand): its `poll` is partial.
    let store = SledStore::temporary().unwrap();
    let api = sources_api(&store);
    let new = new_source("jv1", "jive", json!({}));
    let (status, created) = call_json(&api, "POST", Some(KEY_A), "/v1/sources", Some(new)).await;
    assert_eq!(status, 201, "{created}");
    let id = SourceId::new("jv1").unwrap();
    let mut record = tributary_store::EventStore::source(&store, "a", &id)
        .unwrap()
        .unwrap();
    record.config["poll"] = json!({"max_interval_ms": 100_000});
    tributary_store::EventStore::put_source(&store, record)
        .await
        .unwrap();

    let change = json!({"poll": {"min_interval_ms": 2000}});
    let (status, changed) =
        call_json(&api, "PATCH", Some(KEY_A), "/v1/sources/jv1", Some(change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["config"]["poll"], policy(2_000, 100_000, 2.0, 0.1));
}
