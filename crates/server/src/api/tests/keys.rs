//! `/v1/keys`: created keys, their scopes, deletion, persistence, and who may manage them.

use super::*;
use serde_json::json;

/// The admin key of these tests.
const ADMIN_KEY: &str = "the-admin-key";

/// Configured keys `a` and `b`, the admin key, and the keys created in `store` before.
fn keys(store: &SledStore) -> ApiKeys {
    ApiKeys::new([KeyEntry::new("a", KEY_A), KeyEntry::new("b", KEY_B)])
        .unwrap()
        .with_admins([AdminKeyEntry::new(ADMIN_KEY)])
        .unwrap()
        .with_created(store.api_keys().unwrap())
        .unwrap()
}

fn start(store: &SledStore) -> Api {
    Api::new(ApiState::new(Arc::new(store.clone()), keys(store)))
}

async fn create(api: &Api, body: Value) -> Value {
    let (status, created) = api
        .call("POST", Some(ADMIN_KEY), "/v1/keys", Some(&body.to_string()))
        .await;
    assert_eq!(status, 201, "{body}: {created}");
    created
}

fn secret(created: &Value) -> &str {
    created["key"].as_str().unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_key_that_reads_its_tenants_events_at_once() {
    let store = fixture().await;
    let api = start(&store);
    let created = create(&api, json!({"tenant": "a", "label": "CI reader"})).await;
    let key = secret(&created);
    assert!(key.starts_with("trb_") && key.len() == 4 + 64, "{key}");
    assert!(created["id"].as_str().unwrap().starts_with("key-"));
    assert_eq!(created["tenant"], "a");
    assert_eq!(created["source"], Value::Null);
    assert_eq!(created["label"], "CI reader");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // Tenant `a`'s events, and nothing of tenant `b`'s.
    assert_eq!(api.all_ids(key, "").await, api.all_ids(KEY_A, "").await);
    let (status, body) = api
        .call("GET", Some(key), "/v1/events?source=b1", None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    let (status, _) = api.call("GET", Some(key), "/v1/events/latest", None).await;
    assert_eq!(status, 200);

    // Only the hash is stored.
    let stored = store.api_keys().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, created["id"].as_str().unwrap());
    assert_eq!(stored[0].key_sha256, key_sha256_hex(key));
    assert!(!serde_json::to_string(&stored[0]).unwrap().contains(key));
}

#[tokio::test]
async fn a_source_scoped_created_key_reads_only_its_source() {
    let store = fixture().await;
    let api = start(&store);
    let created = create(&api, json!({"tenant": "a", "source": "a1"})).await;
    assert_eq!(created["source"], "a1");
    let key = secret(&created);
    assert_eq!(api.all_ids(key, "").await, ["e0", "e3", "e6", "e9", "e12"]);
    for other in ["a2", "b1"] {
        let (status, body) = api
            .call(
                "GET",
                Some(key),
                &format!("/v1/events?source={other}"),
                None,
            )
            .await;
        assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    }
    // `me` is its one source in the Kloudless-compatible API.
    let (status, body) = api
        .call("GET", Some(key), "/v1/accounts/me/events", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 5);

    // The source must be the tenant's.
    for (body, source) in [
        (json!({"tenant": "a", "source": "b1"}), "b1"),
        (json!({"tenant": "a", "source": "nope"}), "nope"),
    ] {
        let (status, answer) = api
            .call("POST", Some(ADMIN_KEY), "/v1/keys", Some(&body.to_string()))
            .await;
        assert_eq!((status, error_code(&answer)), (404, "source_not_found"));
        assert!(error_message(&answer).contains(source), "{answer}");
    }
    assert_eq!(store.api_keys().unwrap().len(), 1);
}

#[tokio::test]
async fn a_deleted_key_is_refused_at_once() {
    let store = fixture().await;
    let api = start(&store);
    let created = create(&api, json!({"tenant": "b"})).await;
    let (id, key) = (created["id"].as_str().unwrap(), secret(&created));
    let path = format!("/v1/keys/{id}");
    let (status, _) = api.call("GET", Some(key), "/v1/events", None).await;
    assert_eq!(status, 200);
    let (status, body) = api.call("GET", Some(ADMIN_KEY), &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], id);

    let (status, _) = api.call("DELETE", Some(ADMIN_KEY), &path, None).await;
    assert_eq!(status, 204);
    let (status, body) = api.call("GET", Some(key), "/v1/events", None).await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    for method in ["GET", "DELETE"] {
        let (status, body) = api.call(method, Some(ADMIN_KEY), &path, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (404, "key_not_found"),
            "{method}"
        );
    }
    assert!(store.api_keys().unwrap().is_empty());
    // The configured keys are not created keys: they cannot be deleted here.
    let (status, _) = api.call("GET", Some(KEY_B), "/v1/events", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn created_keys_survive_a_store_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (wide, scoped, deleted) = {
        let store = SledStore::open(dir.path()).unwrap();
        fill(&store).await;
        let api = start(&store);
        let wide = create(&api, json!({"tenant": "a"})).await;
        let scoped = create(&api, json!({"tenant": "a", "source": "a2"})).await;
        let deleted = create(&api, json!({"tenant": "b"})).await;
        let path = format!("/v1/keys/{}", deleted["id"].as_str().unwrap());
        let (status, _) = api.call("DELETE", Some(ADMIN_KEY), &path, None).await;
        assert_eq!(status, 204);
        (wide, scoped, deleted)
    };
    let store = SledStore::open(dir.path()).unwrap();
    let api = start(&store);
    assert_eq!(
        api.all_ids(secret(&wide), "").await,
        api.all_ids(KEY_A, "").await
    );
    assert_eq!(
        api.all_ids(secret(&scoped), "").await,
        ["e1", "e4", "e7", "e10", "e13"]
    );
    let (status, _) = api
        .call("GET", Some(secret(&deleted)), "/v1/events", None)
        .await;
    assert_eq!(status, 401);
    let (status, list) = api.call("GET", Some(ADMIN_KEY), "/v1/keys", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["id"])
        .collect();
    assert_eq!(ids, [&wide["id"], &scoped["id"]]);
}

#[tokio::test]
async fn an_admin_key_is_refused_on_tenant_endpoints() {
    let store = fixture().await;
    let api = start(&store);
    for (method, path, body) in [
        ("GET", "/v1/events", None),
        ("GET", "/v1/events/latest", None),
        ("GET", "/v1/events/stream", None),
        ("GET", "/v1/accounts/me/events", None),
        ("GET", "/v1/accounts/me/events/latest", None),
        ("GET", "/v1/sources", None),
        ("GET", "/v1/sources/a1", None),
        ("DELETE", "/v1/sources/a1", None),
        ("POST", "/v1/sources", Some("{}")),
        ("POST", "/v1/oauth/egnyte/start", Some("{}")),
    ] {
        let (status, answer) = api.call(method, Some(ADMIN_KEY), path, body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (403, "admin_key_not_allowed"),
            "{method} {path}"
        );
        assert!(
            error_message(&answer).contains("tenant's API key"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_tenant_key_is_refused_on_the_key_endpoints() {
    let store = fixture().await;
    let api = start(&store);
    let created = create(&api, json!({"tenant": "a"})).await;
    let path = format!("/v1/keys/{}", created["id"].as_str().unwrap());
    let new = json!({"tenant": "a"}).to_string();
    for key in [KEY_A, secret(&created)] {
        for (method, path, body) in [
            ("POST", "/v1/keys", Some(new.as_str())),
            ("GET", "/v1/keys", None),
            ("GET", path.as_str(), None),
            ("DELETE", path.as_str(), None),
        ] {
            let (status, answer) = api.call(method, Some(key), path, body).await;
            assert_eq!(
                (status, error_code(&answer)),
                (403, "admin_key_required"),
                "{method} {path}"
            );
            assert!(error_message(&answer).contains("admin key"), "{answer}");
        }
    }
    // Nothing was created or deleted.
    assert_eq!(store.api_keys().unwrap().len(), 1);
}

#[tokio::test]
async fn the_key_endpoints_need_a_known_key() {
    let store = fixture().await;
    let api = start(&store);
    for key in [None, Some("not-a-key")] {
        for (method, path) in [
            ("POST", "/v1/keys"),
            ("GET", "/v1/keys"),
            ("GET", "/v1/keys/key-0000000000000000"),
            ("DELETE", "/v1/keys/key-0000000000000000"),
        ] {
            let (status, body) = api.call(method, key, path, Some("{}")).await;
            assert_eq!(
                (status, error_code(&body)),
                (401, "unauthorized"),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn bad_bodies_are_refused_with_the_field_named() {
    let store = fixture().await;
    let api = start(&store);
    let long_label = "x".repeat(201);
    let long_label = json!({"tenant": "a", "label": long_label}).to_string();
    for (body, says) in [
        ("{}", "missing field `tenant`"),
        (r#"{"source": "a1"}"#, "missing field `tenant`"),
        (r#"{"tenant": ""}"#, "invalid `tenant`: must not be empty"),
        (r#"{"tenant": " a"}"#, "invalid `tenant`"),
        (r#"{"tenant": 7}"#, "invalid type"),
        (r#"{"tenant": "a", "source": "a b"}"#, "invalid `source`"),
        (r#"{"tenant": "a", "source": ""}"#, "invalid `source`"),
        (r#"{"tenant": "a", "key": "mine"}"#, "unknown field `key`"),
        (
            r#"{"tenant": "a", "key_sha256": "00"}"#,
            "unknown field `key_sha256`",
        ),
        (long_label.as_str(), "invalid `label`: longer than 200"),
        ("tenant=a", "not valid"),
        ("", "not valid"),
        ("[]", "expected a JSON object"),
        (r#"["a"]"#, "expected a JSON object"),
    ] {
        let (status, answer) = api
            .call("POST", Some(ADMIN_KEY), "/v1/keys", Some(body))
            .await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "invalid_body"),
            "{body}"
        );
        assert!(
            error_message(&answer).contains(says),
            "{body}: {answer} should say {says:?}"
        );
    }
    for query in ["tenant=", "tenant=a&tenant=b", "owner=a"] {
        let (status, answer) = api
            .call("GET", Some(ADMIN_KEY), &format!("/v1/keys?{query}"), None)
            .await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "invalid_parameter"),
            "{query}"
        );
    }
    assert!(store.api_keys().unwrap().is_empty());
}

#[tokio::test]
async fn the_list_shows_no_key_nor_hash_and_filters_by_tenant() {
    let store = fixture().await;
    let api = start(&store);
    let a = create(&api, json!({"tenant": "a", "label": "first"})).await;
    let b = create(&api, json!({"tenant": "b", "source": "b1"})).await;
    let (status, list) = api.call("GET", Some(ADMIN_KEY), "/v1/keys", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 2);
    let text = list.to_string();
    for created in [&a, &b] {
        assert!(!text.contains(secret(created)));
        assert!(!text.contains(&key_sha256_hex(secret(created))));
    }
    for object in list["objects"].as_array().unwrap() {
        let mut fields: Vec<&str> = object
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["created_at", "id", "label", "source", "tenant"]);
    }
    let (status, list) = api
        .call("GET", Some(ADMIN_KEY), "/v1/keys?tenant=b", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["objects"][0]["id"], b["id"]);
    assert_eq!(list["objects"][0]["source"], "b1");
    assert_eq!(list["objects"][0]["label"], Value::Null);
    let (status, list) = api
        .call("GET", Some(ADMIN_KEY), "/v1/keys?tenant=c", None)
        .await;
    assert_eq!(
        (status, &list["objects"], &list["count"]),
        (200, &json!([]), &json!(0))
    );
    // One key read alone is the listed object.
    let path = format!("/v1/keys/{}", a["id"].as_str().unwrap());
    let (status, one) = api.call("GET", Some(ADMIN_KEY), &path, None).await;
    assert_eq!(status, 200);
    let mut listed = a.clone();
    listed.as_object_mut().unwrap().remove("key");
    assert_eq!(one, listed);
}
