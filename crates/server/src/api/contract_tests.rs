//! The API contract: a real answer of every documented operation (successes and errors),
//! validated against the schema that the served `/openapi.json` declares for its path, method,
//! status and content type. Requests go through [`router`] with `oneshot`, no socket.
//!
//! The schemas are checked as JSON Schema 2020-12 (what OpenAPI 3.1 uses), with `format`s
//! asserted (`date-time` times) and every object schema closed (`unevaluatedProperties: false`),
//! so a field the document lacks fails as surely as a missing or mistyped one.
//!
//! The store is the fixture of [`super::tests`] (sources `a1`, `a2` of tenant `a`, `b1` of `b`),
//! plus events of `a1` with every optional field set; sources are managed by a control whose
//! engine is never run (the sources created here are paused, so nothing polls).

use super::tests::{KEY_A, KEY_B, fixture, t0};
use super::*;
use axum::body::Body;
use axum::http::{Request, header};
use chrono::Duration as ChronoDuration;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tower::ServiceExt;
use tributary_core::{
    Actor, Checkpoint, Clock, Event, EventId, EventType, Object, ObjectKind, Page, SourceId,
    SystemClock, Upstream, Watermark,
};
use tributary_store::{Retention, SledStore};

const ADMIN_KEY: &str = "the-admin-key";
/// A key of tenant `a` limited to source `a1`.
const KEY_A1: &str = "key-for-a1-only";

/// An event of `a1` with every optional field set.
fn rich_event(n: u32, event_type: EventType) -> Event {
    let at = t0() + ChronoDuration::seconds(100 + i64::from(n));
    let mut object = Object::new(format!("rich-{n}"), ObjectKind::Document, "Report.docx");
    object.path = Some("/Shared/Reports/Report.docx".into());
    object.parent = Some("folder-7".into());
    object.size = Some(4096);
    object.modified = Some(at - ChronoDuration::seconds(1));
    object.url = Some("https://example.test/rich".into());
    let mut previous = Object::new(format!("rich-{n}"), ObjectKind::Other("page".into()), "Old");
    previous.path = Some("/Shared/Old".into());
    Event {
        id: EventId::new(format!("rich-{n}")).unwrap(),
        seq: None,
        source: SourceId::new("a1").unwrap(),
        provider: "test".into(),
        event_type,
        occurred_at: at,
        observed_at: at + ChronoDuration::milliseconds(250),
        object,
        previous: Some(previous),
        actor: Some(Actor {
            id: "user-1".into(),
            name: Some("Ada".into()),
            email: Some("ada@example.test".into()),
            via: Some("WebUI".into()),
        }),
        upstream: Upstream {
            id: format!("up-{n}"),
            action: "move".into(),
            raw: Some(json!({"anything": [1, "two", null]})),
        },
        late: false,
    }
}

/// The fixture plus two rich events of `a1`.
async fn store() -> SledStore {
    let store = fixture().await;
    let a1 = store
        .source("a", &SourceId::new("a1").unwrap())
        .unwrap()
        .unwrap();
    let checkpoint = Checkpoint::from_json(json!({"version": "V1", "n": 2})).unwrap();
    let events = vec![
        rich_event(1, EventType::Move),
        rich_event(2, EventType::Copy),
    ];
    let frontier = t0() + ChronoDuration::days(1);
    let page = Page::new(events, checkpoint, Some(Watermark::new(frontier)), false);
    store.ingest(&a1.source_ref(), page).await.unwrap();
    store
        .merge_tenants(vec![("a".into(), frontier)])
        .await
        .unwrap();
    store
}

/// The API over `store` with tenant keys, a source-scoped key and an admin key; with source
/// management when `sources` is set.
fn state(store: &SledStore, sources: bool) -> ApiState {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A1).for_source("a1"),
    ])
    .unwrap()
    .with_admins([AdminKeyEntry::new(ADMIN_KEY)])
    .unwrap();
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let state = ApiState::new(dyn_store.clone(), keys);
    if !sources {
        return state;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = crate::engine::Engine::new(
        dyn_store.clone(),
        clock.clone(),
        crate::engine::EngineConfig::default(),
    );
    let quota = governor::Quota::per_second(std::num::NonZeroU32::new(100).unwrap());
    let limiters = tributary_egnyte::RateLimiters::new(quota);
    let registry = crate::registry::Registry::new(dyn_store, clock.clone(), limiters);
    state.with_sources(SourceControl::new(engine, registry, clock))
}

/// Sets `unevaluatedProperties: false` on every schema that lists `properties` and says nothing
/// of others: the document's objects are closed, so an undocumented field fails validation.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let lists = map.get("properties").is_some_and(Value::is_object);
            let says = map.contains_key("additionalProperties")
                || map.contains_key("unevaluatedProperties");
            if lists && !says {
                map.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The documented path template that `path` (no query) is an instance of; literal segments
/// win over parameters (`/v1/events/latest` is not `/v1/events/{x}`).
fn template_of<'d>(doc: &'d Value, path: &str) -> &'d str {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|template| {
            let t: Vec<&str> = template.split('/').collect();
            let fits = t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || t.starts_with('{'));
            fits.then(|| (t.iter().filter(|t| !t.starts_with('{')).count(), template))
        })
        .max()
        .map(|(_, template)| template.as_str())
        .unwrap_or_else(|| panic!("no documented path matches {path}"))
}

/// Calls the router and checks each answer against the document it serves.
struct Contract {
    router: axum::Router,
    doc: Value,
    /// The document's components, closed, for the response schemas' `$ref`s to resolve in.
    components: Value,
    /// `(method, template, status)` of every answer checked.
    checked: BTreeSet<(String, String, u16)>,
}

impl Contract {
    async fn new(state: ApiState) -> Self {
        let router = router(state);
        let response = router
            .clone()
            .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut components = doc["components"].clone();
        close_objects(&mut components);
        // Every schema of the document is itself a valid JSON Schema 2020-12.
        for (name, schema) in components["schemas"].as_object().unwrap() {
            assert!(
                jsonschema::draft202012::meta::is_valid(schema),
                "schema {name} is not valid JSON Schema 2020-12: {schema}"
            );
        }
        Self {
            router,
            doc,
            components,
            checked: BTreeSet::new(),
        }
    }

    /// `method uri` with `key` (as a bearer) and a JSON `body`; checks the answer against the
    /// document and returns its status and JSON body (`null` for a 204).
    async fn call(
        &mut self,
        method: &str,
        key: Option<&str>,
        uri: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let path = uri.split('?').next().unwrap();
        let template = template_of(&self.doc, path).to_owned();
        let method = method.to_lowercase();
        let documented = &self.doc["paths"][&template][&method]["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which it does not document: {}",
            String::from_utf8_lossy(&bytes)
        );
        self.checked
            .insert((method.clone(), template.clone(), status));
        let Some(content_type) = content_type else {
            assert!(
                bytes.is_empty(),
                "{method} {uri}: a body without a content type"
            );
            assert!(
                documented.get("content").is_none(),
                "{method} {template} {status} documents a body but none came"
            );
            return (status, Value::Null);
        };
        let media = content_type.split(';').next().unwrap().trim();
        let declared = &documented["content"][media];
        assert!(
            declared.is_object(),
            "{method} {template} {status}: answered {media}, documented {}",
            documented["content"]
        );
        if media != "application/json" {
            // Prometheus text (`/metrics`): a string, nothing more to check.
            assert_eq!(declared["schema"]["type"], "string");
            return (status, Value::Null);
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {uri}: {status} is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        self.validate(
            &format!("{method} {uri} → {status}"),
            &declared["schema"],
            &body,
        );
        (status, body)
    }

    /// Fails unless `body` is valid against `schema` (from the document).
    fn validate(&self, what: &str, schema: &Value, body: &Value) {
        let errors = self.errors(what, schema, body);
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the document:\n  {}\nschema: {schema}\nbody: {body}",
            errors.join("\n  ")
        );
    }

    /// Why `body` is not valid against `schema` (from the document), whose `$ref`s point into
    /// the document's components.
    fn errors(&self, what: &str, schema: &Value, body: &Value) -> Vec<String> {
        let mut root = schema.clone();
        close_objects(&mut root);
        let Value::Object(map) = &mut root else {
            panic!("{what}: the documented schema is not an object: {schema}");
        };
        map.insert("components".into(), self.components.clone());
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not build: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("at {}: {e}", e.instance_path()))
            .collect()
    }

    /// Every documented operation has had at least one answer checked.
    fn assert_every_operation_checked(&self) {
        for (template, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                assert!(
                    self.checked
                        .iter()
                        .any(|(m, t, _)| m == method && t == template),
                    "{method} {template} was never called"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_route_answers_as_the_document_says() {
    let store = store().await;
    let mut api = Contract::new(state(&store, true)).await;

    // Health, metrics, the document itself.
    assert_eq!(api.call("GET", None, "/healthz", None).await.0, 200);
    assert_eq!(api.call("GET", None, "/readyz", None).await.0, 200);
    assert_eq!(api.call("GET", None, "/metrics", None).await.0, 200);
    assert_eq!(api.call("GET", None, "/openapi.json", None).await.0, 200);

    // The unified log: pages with and without filters, the rich events among them.
    let (status, page) = api.call("GET", Some(KEY_A), "/v1/events", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["count"], 12, "{page}");
    let rich = &page["objects"][11];
    assert_eq!(rich["id"], "rich-2");
    assert!(rich["previous"]["kind"] == "page" && rich["actor"]["via"] == "WebUI");
    for query in [
        "page_size=2",
        "source=a1&type=move,copy",
        "type=add&type=delete&path_prefix=/A",
        "since=2026-11-23T09:00:03Z&until=2026-11-23T09:00:09.500Z",
        "source=a1,a2&page_size=1000",
    ] {
        let (status, body) = api
            .call("GET", Some(KEY_A), &format!("/v1/events?{query}"), None)
            .await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    let (_, first) = api
        .call("GET", Some(KEY_A), "/v1/events?page_size=3", None)
        .await;
    let next = format!("/v1/events?cursor={}", first["cursor"].as_str().unwrap());
    assert_eq!(api.call("GET", Some(KEY_A), &next, None).await.0, 200);
    let (status, latest) = api
        .call("GET", Some(KEY_A), "/v1/events/latest", None)
        .await;
    assert_eq!(status, 200);
    let at_end = format!("/v1/events?cursor={}", latest["cursor"].as_str().unwrap());
    let (_, empty) = api.call("GET", Some(KEY_A), &at_end, None).await;
    assert_eq!(empty["count"], 0);
    // A source-scoped key reads its source only.
    let (status, own) = api.call("GET", Some(KEY_A1), "/v1/events", None).await;
    assert_eq!((status, &own["count"]), (200, &json!(7)), "{own}");

    // The log's errors.
    for (uri, status) in [
        ("/v1/events?page_size=0", 400),
        ("/v1/events?cursor=not-a-cursor", 400),
        ("/v1/events?type=explode", 400),
        ("/v1/events?source=b1", 404),
        ("/v1/events/stream?page_size=3", 400),
        ("/v1/events/stream?source=nope", 404),
    ] {
        let (got, body) = api.call("GET", Some(KEY_A), uri, None).await;
        assert_eq!(got, status, "{uri}: {body}");
    }
    for uri in ["/v1/events", "/v1/events/latest", "/v1/events/stream"] {
        assert_eq!(api.call("GET", None, uri, None).await.0, 401, "{uri}");
        assert_eq!(
            api.call("GET", Some("wrong-key"), uri, None).await.0,
            401,
            "{uri}"
        );
        let (status, body) = api.call("GET", Some(ADMIN_KEY), uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("admin_key_not_allowed"))
        );
    }
    // The stream's 200 is `text/event-stream` and never ends: not read here (tests.rs reads
    // it; each of its events is the `Event` checked above).

    // Sources: the fixture's, then one created, read, changed and deleted.
    let (status, list) = api.call("GET", Some(KEY_A), "/v1/sources", None).await;
    assert_eq!((status, &list["count"]), (200, &json!(2)), "{list}");
    let (status, a1) = api.call("GET", Some(KEY_A), "/v1/sources/a1", None).await;
    assert_eq!(status, 200, "{a1}");
    let account = a1["account_id"].as_u64().unwrap();
    let egnyte = json!({"id": "eg1", "provider": "egnyte", "paused": true,
        "config": {"base_url": "http://127.0.0.1:9", "poll": {"min_interval_ms": 50,
            "max_interval_ms": 200, "multiplier": 2.0, "jitter": 0.0}},
        "credentials": {"kind": "bearer", "token": "secret-token"}});
    let (status, created) = api
        .call("POST", Some(KEY_A), "/v1/sources", Some(egnyte.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"]["running"], false);
    let (status, body) = api
        .call("POST", Some(KEY_A), "/v1/sources", Some(egnyte.clone()))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("source_exists"))
    );
    for (key, body, status) in [
        (KEY_A, json!({"provider": "egnyte"}), 400),
        (
            KEY_A,
            json!({"provider": "dropbox", "config": {}, "credentials": {}}),
            400,
        ),
        (KEY_A1, egnyte.clone(), 403),
    ] {
        let (got, answer) = api.call("POST", Some(key), "/v1/sources", Some(body)).await;
        assert_eq!(got, status, "{answer}");
    }
    let policy = json!({"poll": {"min_interval_ms": 100, "max_interval_ms": 1000,
        "multiplier": 1.5, "jitter": 0.1}});
    for change in [json!({"paused": true}), policy] {
        let (status, body) = api
            .call("PATCH", Some(KEY_A), "/v1/sources/eg1", Some(change))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for (method, uri, body, status) in [
        (
            "PATCH",
            "/v1/sources/eg1",
            Some(json!({"colour": "red"})),
            400,
        ),
        (
            "PATCH",
            "/v1/sources/nope",
            Some(json!({"paused": true})),
            404,
        ),
        ("GET", "/v1/sources/b1", None, 404),
        ("GET", "/v1/sources/bad%20id", None, 400),
        ("DELETE", "/v1/sources/a1", None, 403),
    ] {
        let key = if method == "DELETE" { KEY_A1 } else { KEY_A };
        let (got, answer) = api.call(method, Some(key), uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    let (status, _) = api
        .call("DELETE", Some(KEY_A), "/v1/sources/eg1", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.call("DELETE", Some(KEY_A), "/v1/sources/eg1", None)
            .await
            .0,
        404
    );
    for (method, uri) in [
        ("GET", "/v1/sources"),
        ("POST", "/v1/sources"),
        ("GET", "/v1/sources/a1"),
        ("PATCH", "/v1/sources/a1"),
        ("DELETE", "/v1/sources/a1"),
        ("POST", "/v1/oauth/egnyte/start"),
    ] {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let (status, _) = api.call(method, None, uri, body.clone()).await;
        assert_eq!(status, 401, "{method} {uri}");
        let (status, answer) = api.call(method, Some(ADMIN_KEY), uri, body).await;
        assert_eq!(status, 403, "{method} {uri}: {answer}");
    }

    // OAuth: a flow started; the callback's refusals (its 201 is the source body checked above,
    // and needs a provider's token endpoint: `sources_tests.rs` runs it against the simulator).
    let start = json!({"config": {"domain": "acme"}, "client_id": "app",
        "client_secret": "shh", "redirect_uri": "https://app.example/back"});
    let (status, started) = api
        .call(
            "POST",
            Some(KEY_A),
            "/v1/oauth/egnyte/start",
            Some(start.clone()),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    for (uri, body, status) in [
        ("/v1/oauth/dropbox/start", start.clone(), 400),
        ("/v1/oauth/egnyte/start", json!({"client_id": "app"}), 400),
    ] {
        let (got, answer) = api.call("POST", Some(KEY_A), uri, Some(body)).await;
        assert_eq!(got, status, "{uri}: {answer}");
    }
    let (status, _) = api
        .call("POST", Some(KEY_A1), "/v1/oauth/egnyte/start", Some(start))
        .await;
    assert_eq!(status, 403);
    let issued = started["state"].as_str().unwrap();
    for (provider, query, code) in [
        ("egnyte", "code=abc".to_owned(), "invalid_parameter"),
        (
            "dropbox",
            format!("code=abc&state={issued}"),
            "invalid_parameter",
        ),
        (
            "egnyte",
            "code=abc&state=forged".to_owned(),
            "invalid_oauth_state",
        ),
        // Issued for Egnyte: refused for Jive (and used up).
        (
            "jive",
            format!("code=abc&state={issued}"),
            "invalid_oauth_state",
        ),
        (
            "egnyte",
            format!("error=access_denied&state={issued}"),
            "oauth_denied",
        ),
    ] {
        let uri = format!("/v1/oauth/{provider}/callback?{query}");
        let (status, body) = api.call("GET", None, &uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(code)),
            "{uri}"
        );
    }

    // The Kloudless-compatible routes, the rich events among them.
    let events = format!("/v1/accounts/{account}/events");
    let (status, page) = api.call("GET", Some(KEY_A), &events, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["objects"][5]["previous_metadata"]["parent"].is_null());
    assert_eq!(page["objects"][5]["metadata"]["parent"]["id"], "folder-7");
    for uri in [
        format!("{events}?page_size=2"),
        format!("{events}/latest"),
        "/v1/accounts/me/events".to_owned(),
        "/v1/accounts/me/events/latest".to_owned(),
    ] {
        let key = if uri.contains("/me/") { KEY_A1 } else { KEY_A };
        let (status, body) = api.call("GET", Some(key), &uri, None).await;
        assert_eq!(status, 200, "{uri}: {body}");
    }
    for (uri, status) in [
        ("/v1/accounts/me/events".to_owned(), 400),
        ("/v1/accounts/0/events".to_owned(), 400),
        ("/v1/accounts/x/events/latest".to_owned(), 400),
        (format!("{events}?cursor=junk"), 400),
        ("/v1/accounts/12345/events".to_owned(), 404),
        ("/v1/accounts/12345/events/latest".to_owned(), 404),
    ] {
        let (got, body) = api.call("GET", Some(KEY_A), &uri, None).await;
        assert_eq!(got, status, "{uri}: {body}");
    }
    for uri in [events.clone(), format!("{events}/latest")] {
        assert_eq!(api.call("GET", None, &uri, None).await.0, 401);
        assert_eq!(api.call("GET", Some(ADMIN_KEY), &uri, None).await.0, 403);
    }

    // API keys, with the admin key.
    let (status, key) = api
        .call(
            "POST",
            Some(ADMIN_KEY),
            "/v1/keys",
            Some(json!({"tenant": "a", "source": "a2", "label": "ci"})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let (status, plain) = api
        .call(
            "POST",
            Some(ADMIN_KEY),
            "/v1/keys",
            Some(json!({"tenant": "b"})),
        )
        .await;
    assert_eq!(status, 201, "{plain}");
    let id = key["id"].as_str().unwrap();
    for uri in ["/v1/keys".to_owned(), "/v1/keys?tenant=a".to_owned()] {
        let (status, list) = api.call("GET", Some(ADMIN_KEY), &uri, None).await;
        assert_eq!(status, 200, "{list}");
    }
    let (status, one) = api
        .call("GET", Some(ADMIN_KEY), &format!("/v1/keys/{id}"), None)
        .await;
    assert_eq!((status, &one["label"]), (200, &json!("ci")));
    for (method, uri, body, status) in [
        ("POST", "/v1/keys", Some(json!({"tenant": ""})), 400),
        (
            "POST",
            "/v1/keys",
            Some(json!({"tenant": "a", "source": "b1"})),
            404,
        ),
        ("GET", "/v1/keys?colour=red", None, 400),
        ("GET", "/v1/keys/key-nope", None, 404),
        ("DELETE", "/v1/keys/key-nope", None, 404),
    ] {
        let (got, answer) = api.call(method, Some(ADMIN_KEY), uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    for (method, uri) in [
        ("POST", "/v1/keys"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/keys/key-nope"),
        ("DELETE", "/v1/keys/key-nope"),
    ] {
        let body = (method == "POST").then(|| json!({"tenant": "a"}));
        assert_eq!(api.call(method, None, uri, body.clone()).await.0, 401);
        assert_eq!(api.call(method, Some(KEY_A), uri, body).await.0, 403);
    }
    let (status, _) = api
        .call("DELETE", Some(ADMIN_KEY), &format!("/v1/keys/{id}"), None)
        .await;
    assert_eq!(status, 204);

    // A cursor older than retention, on both lists.
    let expired = first["cursor"].as_str().unwrap().to_owned();
    let retention = Retention {
        max_age: None,
        max_events: Some(5),
    };
    store
        .apply_retention(retention, t0() + ChronoDuration::days(1))
        .await
        .unwrap();
    for uri in [
        format!("/v1/events?cursor={expired}"),
        format!("{events}?cursor={expired}"),
        format!("/v1/events/stream?cursor={expired}"),
    ] {
        let (status, body) = api.call("GET", Some(KEY_A), &uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (410, &json!("cursor_expired"))
        );
    }

    // Without source management: 503 on the sources and OAuth routes.
    let mut bare = Contract::new(state(&store, false)).await;
    for (method, uri, body) in [
        ("GET", "/v1/sources", None),
        ("POST", "/v1/sources", Some(egnyte)),
        ("GET", "/v1/sources/a1", None),
        ("PATCH", "/v1/sources/a1", Some(json!({"paused": true}))),
        ("DELETE", "/v1/sources/a1", None),
        (
            "POST",
            "/v1/oauth/egnyte/start",
            Some(json!({"config": {"domain": "acme"}, "client_id": "app",
                "client_secret": "shh", "redirect_uri": "https://app.example/back"})),
        ),
        ("GET", "/v1/oauth/egnyte/callback?code=a&state=b", None),
    ] {
        let (status, body) = bare.call(method, Some(KEY_A), uri, body).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("sources_unavailable")),
            "{method} {uri}"
        );
    }
    api.checked.append(&mut bare.checked);
    api.assert_every_operation_checked();
}

/// The check itself: an answer that strays from its schema (a wrong type, a missing or an
/// undocumented field, a bad time) is refused.
#[tokio::test]
async fn an_answer_unlike_its_schema_fails_the_check() {
    let store = fixture().await;
    let api = Contract::new(state(&store, false)).await;
    let schema = json!({"$ref": "#/components/schemas/Event"});
    let mut merged = serde_json::to_value(rich_event(1, EventType::Move)).unwrap();
    merged["seq"] = json!(1);
    type Stray = fn(&mut Value);
    let strays: [(&str, Stray); 6] = [
        ("no seq", |e| {
            e.as_object_mut().unwrap().remove("seq");
        }),
        ("late as a string", |e| e["late"] = json!("no")),
        ("an undocumented field", |e| e["colour"] = json!("red")),
        ("a null optional field", |e| {
            e["object"]["path"] = Value::Null
        }),
        ("a bad time", |e| e["occurred_at"] = json!("yesterday")),
        ("an unknown type", |e| e["type"] = json!("explode")),
    ];
    assert!(api.errors("a merged event", &schema, &merged).is_empty());
    for (what, stray) in strays {
        let mut body = merged.clone();
        stray(&mut body);
        let errors = api.errors(what, &schema, &body);
        assert!(!errors.is_empty(), "{what} passed the check: {body}");
    }
}
