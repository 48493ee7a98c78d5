//! The API's tests, all in one layout:
//!
//! - `api/tests/` (this module and its children) tests the API through its router: a request
//!   goes to [`router`] with `oneshot` (no socket), and every answer to a documented route is
//!   checked against the schema `/openapi.json` declares for its path, method and status
//!   ([`Api::send`]). Only live streams, which never end, listen on 127.0.0.1:0
//!   ([`Api::listen`]). One child per area: `events` (pages, filters, cursors, tenants, health,
//!   metrics), `stream` (server-sent events), `keys`, `kloudless`, `address` (outbound addresses
//!   refused), and `contract` (every documented operation answered and checked).
//! - An inline `mod tests` in a file tests that file's private helpers only (parsers, hashing,
//!   ids), never a route.
//! - The sources API with a running engine over the simulators is black-box: `tests/it/sources.rs`.
//!
//! The fixture: 15 events `e0`..`e14`, one second apart, from sources `a1`, `a2` (tenant `a`) and
//! `b1` (tenant `b`) in turn, so event `eK` comes from `[a1, a2, b1][K % 3]`. Every tenant has a
//! log of its own: tenant `a`'s is `e0 e1 e3 e4 e6 e7 e9 e10 e12 e13` at positions 1..=10,
//! tenant `b`'s is `e2 e5 e8 e11 e14` at positions 1..=5.

mod address;
mod contract;
mod events;
mod keys;
mod kloudless;
mod limits;
mod poll_policy;
mod storage;
mod stream;
mod subscriptions;

use super::*;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, header};
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tributary_core::{
    Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, SourceId, Upstream, Watermark,
};
use tributary_store::{MergeReport, SledStore, SourceRecord};

pub(super) const KEY_A: &str = "key-for-tenant-a";
pub(super) const KEY_B: &str = "key-for-tenant-b";
/// How long any single wait on the server may take before the test fails.
pub(super) const WAIT: Duration = Duration::from_secs(10);

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

pub(super) fn source_of(k: u32) -> &'static str {
    ["a1", "a2", "b1"][(k % 3) as usize]
}

/// The tenant of a fixture source.
pub(super) fn tenant_of(source: &str) -> &'static str {
    if source.starts_with('a') { "a" } else { "b" }
}

pub(super) fn type_of(k: u32) -> EventType {
    match k {
        4 => EventType::Move,
        6 | 14 => EventType::Delete,
        3 | 7 => EventType::Update,
        10 => EventType::Copy,
        12 => EventType::Rename,
        13 => EventType::Restore,
        _ => EventType::Add,
    }
}

/// `a1` and `b1` write under `/A`, `a2` under `/B`; `e4` moves a file from `/A` to `/B`.
pub(super) fn event(k: u32, at: DateTime<Utc>) -> Event {
    let source = source_of(k);
    let dir = if source == "a2" { "/B" } else { "/A" };
    let mut object = Object::new(format!("o{k}"), ObjectKind::File, format!("f{k}"));
    object.path = Some(format!("{dir}/f{k}"));
    let previous = (k == 4).then(|| {
        let mut o = object.clone();
        o.path = Some("/A/old".into());
        o
    });
    Event {
        id: EventId::new(format!("e{k}")).unwrap(),
        seq: None,
        source: SourceId::new(source).unwrap(),
        provider: "test".into(),
        event_type: type_of(k),
        occurred_at: at,
        observed_at: at,
        object,
        previous,
        actor: None,
        upstream: Upstream {
            id: format!("u{k}"),
            action: "create".into(),
            raw: None,
        },
        late: false,
    }
}

pub(super) fn page(events: Vec<Event>, n: u64) -> Page {
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": n})).unwrap();
    let watermark = Watermark::new(t0() + ChronoDuration::days(1));
    Page::new(events, checkpoint, Some(watermark), false)
}

/// Ingests the events (each source's in one page) and merges them all: one report per tenant,
/// `a` then `b`.
pub(super) async fn add_events(
    store: &SledStore,
    ks: impl IntoIterator<Item = u32>,
    n: u64,
) -> Vec<(String, MergeReport)> {
    let mut by_source: Vec<(&str, Vec<Event>)> = Vec::new();
    for k in ks {
        let e = event(k, t0() + ChronoDuration::seconds(i64::from(k)));
        match by_source.iter_mut().find(|(s, _)| *s == source_of(k)) {
            Some((_, events)) => events.push(e),
            None => by_source.push((source_of(k), vec![e])),
        }
    }
    for (source, events) in by_source {
        let record = store
            .source(tenant_of(source), &SourceId::new(source).unwrap())
            .unwrap()
            .unwrap_or_else(|| panic!("no source {source}"));
        store
            .ingest(&record.source_ref(), page(events, n))
            .await
            .unwrap();
    }
    let frontier = t0() + ChronoDuration::days(1);
    store
        .merge_tenants(vec![("a".into(), frontier), ("b".into(), frontier)])
        .await
        .unwrap()
}

pub(super) async fn fixture() -> SledStore {
    let store = SledStore::temporary().unwrap();
    fill(&store).await;
    store
}

/// Puts the fixture's sources and events into `store`.
pub(super) async fn fill(store: &SledStore) {
    for (id, tenant) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
        put_source(store, tenant, id).await;
    }
    add_events(store, 0..15, 1).await;
}

/// Stores a source `id` of `tenant` (provider `test`, nothing configured), and answers it as
/// stored (with its incarnation).
pub(super) async fn put_source(store: &SledStore, tenant: &str, id: &str) -> SourceRecord {
    let id = SourceId::new(id).unwrap();
    store
        .put_source(SourceRecord {
            id: id.clone(),
            tenant: tenant.into(),
            incarnation: 0,
            provider: "test".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: t0(),
        })
        .await
        .unwrap();
    store.source(tenant, &id).unwrap().unwrap()
}

/// Retention keeps each tenant's last 5 entries: `a`'s log loses its first 5 (positions 1..=5),
/// `b`'s (5 entries) none.
pub(super) async fn keep_five(store: &SledStore) {
    let report = store
        .apply_retention(
            tributary_store::Retention {
                max_age: None,
                max_events: Some(5),
            },
            t0() + ChronoDuration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(report.removed, 5);
}

/// Ids of the fixture's events that tenant `a` may see, in log order, among `ks`.
pub(super) fn a_ids(ks: impl IntoIterator<Item = u32>) -> Vec<String> {
    ks.into_iter()
        .filter(|k| source_of(*k) != "b1")
        .map(|k| format!("e{k}"))
        .collect()
}

/// The API over a store, called through its router. Every answer to a documented route is
/// checked against the document the router serves.
pub(super) struct Api {
    pub(super) state: ApiState,
    router: axum::Router,
    document: Document,
}

/// `state` with source management: an engine and a registry over `store`, on `clock`, whose
/// outbound requests follow `policy` (the tests' upstreams listen on 127.0.0.1:
/// [`AddressPolicy::loopback`](tributary_http::AddressPolicy::loopback) allows them).
pub(super) fn with_sources(
    state: ApiState,
    store: Arc<dyn tributary_store::EventStore>,
    clock: Arc<dyn tributary_core::Clock>,
    policy: tributary_http::AddressPolicy,
) -> ApiState {
    let engine = crate::engine::Engine::new(
        store.clone(),
        clock.clone(),
        crate::engine::EngineConfig::default(),
    );
    let settings = [(
        "egnyte".to_owned(),
        serde_json::json!({"calls_per_second": 100}),
    )]
    .into();
    let providers = crate::registry::Providers::configure(
        vec![
            Box::new(tributary_egnyte::EgnyteFactory::new()),
            Box::new(tributary_jive::JiveFactory),
        ],
        &settings,
    )
    .unwrap();
    let registry = crate::registry::Registry::new(
        store,
        clock.clone(),
        providers,
        tributary_http::Outbound::new(policy).unwrap(),
    );
    state.with_sources(SourceControl::new(engine, registry, clock))
}

/// [`Api::call`] with a JSON body.
pub(super) async fn call_json(
    api: &Api,
    method: &str,
    key: Option<&str>,
    uri: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    api.call(method, key, uri, body.as_deref()).await
}

/// The API over `store` with tenant keys `a` (in clear) and `b` (hashed).
pub(super) fn api(store: &SledStore) -> Api {
    api_with(store, ApiConfig::default())
}

pub(super) fn api_with(store: &SledStore, config: ApiConfig) -> Api {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::hashed("b", key_sha256_hex(KEY_B)),
    ])
    .unwrap();
    Api::new(ApiState::with_config(Arc::new(store.clone()), keys, config))
}

impl Api {
    pub(super) fn new(state: ApiState) -> Self {
        let router = router(state.clone());
        Self {
            state,
            router,
            document: Document::served(),
        }
    }

    /// Sends `request` through the router; checks the answer against the document when its
    /// route is documented. Returns the status, headers and body.
    pub(super) async fn send(&self, request: Request<Body>) -> (u16, HeaderMap, Bytes) {
        let method = request.method().as_str().to_lowercase();
        let uri = request.uri().to_string();
        let response = tokio::time::timeout(WAIT, self.router.clone().oneshot(request))
            .await
            .unwrap_or_else(|_| panic!("{method} {uri} answers within the wait"))
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes =
            tokio::time::timeout(WAIT, axum::body::to_bytes(response.into_body(), usize::MAX))
                .await
                .unwrap_or_else(|_| panic!("{method} {uri}: the body ends within the wait"))
                .unwrap();
        self.document.check(&method, &uri, status, &headers, &bytes);
        (status, headers, bytes)
    }

    /// `(status, JSON body)` of `method uri` with `key` (as a bearer) and a raw JSON `body`; the
    /// body of an answer without content (a 204) or not JSON is `null`.
    pub(super) async fn call(
        &self,
        method: &str,
        key: Option<&str>,
        uri: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_owned())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let (status, headers, bytes) = self.send(request).await;
        let json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        if bytes.is_empty() || !json {
            // No content (a 204), or text (`/metrics`): checked against the document already.
            return (status, Value::Null);
        }
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {uri} answered {status} with non-JSON {:?}: {e}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, json)
    }

    pub(super) async fn get(&self, key: Option<&str>, uri: &str) -> (u16, Value) {
        self.call("GET", key, uri, None).await
    }

    /// Pages through `/v1/events` with `query` and returns every event id, checking that the
    /// pages' counts add up and that paging ends.
    pub(super) async fn all_ids(&self, key: &str, query: &str) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/v1/events?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = self.get(Some(key), &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            let objects = body["objects"].as_array().unwrap();
            assert_eq!(body["count"].as_u64().unwrap(), objects.len() as u64);
            ids.extend(objects.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
            cursor = Some(body["cursor"].as_str().unwrap().to_owned());
            if body["remaining"] == 0 {
                return ids;
            }
        }
        panic!("paging {query} did not end");
    }

    /// Serves the API on 127.0.0.1:0, for what needs a socket: live streams.
    pub(super) async fn listen(&self) -> Listening {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, self.state.clone(), async move {
            let _ = stopped.await;
        }));
        Listening {
            url,
            stop: Some(stop),
            task,
        }
    }

    /// `(method, path template, status)` of every answer checked so far.
    pub(super) fn checked(&self) -> BTreeSet<(String, String, u16)> {
        self.document.checked.lock().unwrap().clone()
    }

    pub(super) fn document(&self) -> &Value {
        &self.document.doc
    }

    /// Why `body` is not valid against `schema` (whose `$ref`s point into the document).
    pub(super) fn schema_errors(&self, what: &str, schema: &Value, body: &Value) -> Vec<String> {
        self.document.errors(what, schema, body)
    }
}

/// The API listening on a socket.
pub(super) struct Listening {
    pub(super) url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Listening {
    /// Tells the server to stop (gracefully: open streams end).
    pub(super) fn signal(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server and waits for it.
    pub(super) async fn stop(mut self) {
        self.signal();
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("the server stops within the wait")
            .unwrap()
            .unwrap();
    }
}

/// The document the router serves, for checking answers against it.
struct Document {
    doc: Value,
    /// The document's components, closed, for the response schemas' `$ref`s to resolve in.
    components: Value,
    /// `(method, template, status)` of every answer checked.
    checked: std::sync::Mutex<BTreeSet<(String, String, u16)>>,
}

impl Document {
    fn served() -> Self {
        // As a router with source management serves it: the providers' names and configs in.
        let served = super::openapi::Document::new(&openapi_document())
            .with_providers(&crate::test_providers());
        let doc: Value = serde_json::from_slice(&served.0).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut components = doc["components"].clone();
        close_objects(&mut components);
        Self {
            doc,
            components,
            checked: std::sync::Mutex::new(BTreeSet::new()),
        }
    }

    /// Checks an answer to `method uri` against the document: its status is documented for the
    /// operation, its content type too, and a JSON body is valid against the declared schema.
    /// Answers to routes the document does not have (unknown paths, other methods) are the
    /// fallbacks' and are not checked here.
    fn check(&self, method: &str, uri: &str, status: u16, headers: &HeaderMap, bytes: &[u8]) {
        let path = uri.split('?').next().unwrap_or(uri);
        let Some(template) = template_of(&self.doc, path) else {
            return;
        };
        let operation = &self.doc["paths"][&template][method];
        if !operation.is_object() {
            return;
        }
        let documented = &operation["responses"][status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which it does not document: {}",
            String::from_utf8_lossy(bytes)
        );
        self.checked
            .lock()
            .unwrap()
            .insert((method.to_owned(), template.clone(), status));
        let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
            assert!(
                bytes.is_empty(),
                "{method} {uri}: a body without a content type"
            );
            assert!(
                documented.get("content").is_none(),
                "{method} {template} {status} documents a body but none came"
            );
            return;
        };
        let media = content_type
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim();
        let declared = &documented["content"][media];
        assert!(
            declared.is_object(),
            "{method} {template} {status}: answered {media}, documented {}",
            documented["content"]
        );
        if media != "application/json" {
            // Prometheus text (`/metrics`), or a live stream: a string, nothing more to check.
            assert_eq!(declared["schema"]["type"], "string", "{method} {template}");
            return;
        }
        let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {uri}: {status} is not JSON ({e}): {}",
                String::from_utf8_lossy(bytes)
            )
        });
        let what = format!("{method} {uri} → {status}");
        let errors = self.errors(&what, &declared["schema"], &body);
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the document:\n  {}\nbody: {body}",
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

/// The documented path template that `path` (no query) is an instance of, if any; literal
/// segments win over parameters (`/v1/events/latest` is not `/v1/events/{x}`).
fn template_of(doc: &Value, path: &str) -> Option<String> {
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
        .map(|(_, template)| template.clone())
}

/// `(id, seq)` of each event of a page's `objects`, in order.
pub(super) fn id_seqs(objects: &Value) -> Vec<(String, u64)> {
    objects
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {objects}"))
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The `seq` of every event of a page, in order.
pub(super) fn seqs(body: &Value) -> Vec<u64> {
    body["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {body}"))
        .iter()
        .map(|o| o["seq"].as_u64().unwrap())
        .collect()
}

pub(super) fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

pub(super) fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap()
}
