//! `/v1/sources` and `/v1/oauth` over real HTTP on 127.0.0.1:0, with a running engine polling
//! the Egnyte and Jive simulators (also on 127.0.0.1:0). Every wait is bounded: a status is read
//! again on a short tick until it shows what the test waits for, or the test fails.

use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tributary_core::{Clock, Seq, SourceId, SystemClock};
use tributary_server::api::{
    AccountId, ApiConfig, ApiKeys, ApiState, KeyEntry, SourceControl, serve,
};
use tributary_server::engine::{Engine, EngineConfig};
use tributary_server::registry::Registry;
use tributary_sim::egnyte::{EgnyteSim, EgnyteSimConfig, Fault, FaultKind, ThrottleMode};
use tributary_sim::jive::{JiveSim, JiveSimConfig};
use tributary_store::{EventStore, SledStore};

const KEY_A: &str = "key-for-tenant-a";
const KEY_B: &str = "key-for-tenant-b";
/// The Egnyte simulator's default token: must never appear in an answer.
const EGNYTE_TOKEN: &str = "test-token";
const EGNYTE_CLIENT: &str = "tributary-app";
const EGNYTE_CLIENT_SECRET: &str = "tributary-secret";
const JIVE_PASSWORD: &str = "jive-password-p";
const JIVE_CLIENT: &str = "tributary-addon";
const JIVE_CLIENT_SECRET: &str = "tributary-addon-secret";
/// A key of tenant `a` limited to source `eg1`.
const KEY_A_EG1: &str = "key-for-a-eg1-only";
/// Keys of tenants `acme` and `globex`, named so a leak of one to the other would show.
const KEY_ACME: &str = "key-for-tenant-acme";
const KEY_GLOBEX: &str = "key-for-tenant-globex";
const REDIRECT: &str = "https://app.example/oauth/back";
/// How long a test waits for the engine before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

struct Harness {
    url: String,
    client: reqwest::Client,
    store: SledStore,
    engine: Engine,
    egnyte: EgnyteSim,
    egnyte_url: String,
    jive: JiveSim,
    jive_url: String,
    /// Every answer body seen, to check no secret ever appears.
    seen: std::sync::Mutex<Vec<String>>,
    stop: Option<tokio::sync::broadcast::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn until(stop: &tokio::sync::broadcast::Sender<()>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.recv().await;
    }
}

async fn listener() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    (l, url)
}

async fn harness() -> Harness {
    harness_settling_within(Duration::from_secs(120)).await
}

/// A harness whose deletes and restarts wait at most `settle` for a poll in flight.
async fn harness_settling_within(settle: Duration) -> Harness {
    harness_with(settle, ApiConfig::default()).await
}

/// A harness whose idle streams send a keep-alive comment every 50 ms: a stream has sent all
/// it had when one arrives.
async fn harness_with_quick_keep_alive() -> Harness {
    let api = ApiConfig {
        keep_alive: Duration::from_millis(50),
        ..ApiConfig::default()
    };
    harness_with(Duration::from_secs(120), api).await
}

async fn harness_with(settle: Duration, api: ApiConfig) -> Harness {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();

    let (l, egnyte_url) = listener().await;
    let egnyte = EgnyteSim::new(
        EgnyteSimConfig {
            backlog: 20,
            seed: 3,
            throttle: ThrottleMode::Off,
            daily_quota: None,
            ..EgnyteSimConfig::default()
        },
        clock.clone(),
    );
    let sim = egnyte.clone();
    let stopped = until(&stop);
    tasks.push(tokio::spawn(async move {
        let _ = sim.serve(l, stopped).await;
    }));
    let (l, jive_url) = listener().await;
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 20,
            seed: 3,
            ..JiveSimConfig::new("u", JIVE_PASSWORD)
        },
        clock.clone(),
    );
    let sim = jive.clone();
    let stopped = until(&stop);
    tasks.push(tokio::spawn(async move {
        let _ = sim.serve(l, stopped).await;
    }));

    let store = SledStore::temporary().unwrap();
    let dyn_store: Arc<dyn EventStore> = Arc::new(store.clone());
    let engine = Engine::new(
        dyn_store.clone(),
        clock.clone(),
        EngineConfig {
            merge_interval: Duration::from_millis(100),
            ..EngineConfig::default()
        },
    );
    // The simulators listen on 127.0.0.1: allowed explicitly.
    let outbound =
        tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap();
    let registry = Registry::new(
        dyn_store.clone(),
        clock.clone(),
        tributary_server::registry::Providers::configure(
            tributary_cli::providers::factories(),
            &[("egnyte".to_owned(), json!({"calls_per_second": 1000}))].into(),
        )
        .unwrap(),
        outbound,
    );
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A_EG1).for_source("eg1"),
        KeyEntry::new("acme", KEY_ACME),
        KeyEntry::new("globex", KEY_GLOBEX),
    ])
    .unwrap();
    let state = ApiState::with_config(dyn_store, keys, api).with_sources(
        SourceControl::new(engine.clone(), registry, clock).with_settle_limit(settle),
    );
    // As the server does: live streams are woken by the engine's merges.
    engine.on_merge(Arc::new(state.merge_notifier()));
    let running = engine.clone();
    let stopped = until(&stop);
    tasks.push(tokio::spawn(async move {
        running.run(stopped).await.unwrap();
    }));
    let (l, url) = listener().await;
    let stopped = until(&stop);
    tasks.push(tokio::spawn(async move {
        serve(l, state, stopped).await.unwrap();
    }));
    Harness {
        url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        store,
        engine,
        egnyte,
        egnyte_url,
        jive,
        jive_url,
        seen: std::sync::Mutex::new(Vec::new()),
        stop: Some(stop),
        tasks,
    }
}

fn fast() -> Value {
    json!({"min_interval_ms": 50, "max_interval_ms": 200, "multiplier": 2.0, "jitter": 0.0})
}

impl Harness {
    fn egnyte_config(&self) -> Value {
        json!({"base_url": self.egnyte_url, "start": "oldest", "suppress": "none",
            "watermark_skew_ms": 1500, "poll": fast()})
    }

    fn jive_config(&self) -> Value {
        json!({"base_url": self.jive_url, "start": "backfill", "skew_ms": 300, "poll": fast()})
    }

    /// A new Egnyte source `id` of the key's tenant, by its bearer token.
    fn egnyte_source(&self, id: &str) -> Value {
        json!({"id": id, "provider": "egnyte", "config": self.egnyte_config(),
            "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}})
    }

    async fn call(
        &self,
        method: reqwest::Method,
        key: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        self.seen.lock().unwrap().push(text.clone());
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON {text:?}: {e}"))
        };
        (status, json)
    }

    async fn get(&self, key: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, Some(key), path, None).await
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, Some(key), path, Some(body))
            .await
    }

    async fn patch(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, Some(key), path, Some(body))
            .await
    }

    async fn delete(&self, key: &str, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, Some(key), path, None)
            .await
    }

    /// Reads `/v1/sources/{id}` until `done` holds for it; fails after [`PATIENCE`].
    async fn wait_for(
        &self,
        key: &str,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        loop {
            tick.tick().await;
            let (status, body) = self.get(key, &format!("/v1/sources/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "source {id}: {what} did not happen within {PATIENCE:?}; last: {body}"
            );
        }
    }

    /// Every event `GET /v1/events?{query}` reads for the key, paging until `remaining` is 0,
    /// as `(id, seq)`.
    async fn events(&self, key: &str, query: &str) -> Vec<(String, u64)> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/v1/events?page_size=7&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = self.get(key, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            events.extend(id_seqs(&body["objects"]));
            cursor = Some(body["cursor"].as_str().unwrap().to_owned());
            if body["remaining"] == 0 {
                return events;
            }
        }
        panic!("paging {query} did not end");
    }

    /// What `GET /v1/events/stream?{query}` sends the key before it idles, as `(id, seq)`.
    async fn streamed(&self, key: &str, query: &str) -> Vec<(String, u64)> {
        events_until_idle(&format!("{}/v1/events/stream?{query}", self.url), key).await
    }

    /// Waits until the key's running Egnyte source `id` has ingested the simulator's backlog
    /// and the tenant's log holds all of it (merged), and returns the source's events as
    /// `(id, seq)`.
    async fn ingest_backlog(&self, key: &str, id: &str) -> Vec<(String, u64)> {
        let status = self
            .wait_for(key, id, "ingesting the backlog", |s| {
                s["status"]["events_ingested"].as_u64() > Some(0)
            })
            .await;
        // The backlog fits one page: it is committed at once.
        let ingested = status["status"]["events_ingested"].as_u64().unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        loop {
            tick.tick().await;
            let events = self.events(key, &format!("source={id}")).await;
            if events.len() as u64 >= ingested {
                assert_eq!(events.len() as u64, ingested, "{events:?}");
                let (_, again) = self.get(key, &format!("/v1/sources/{id}")).await;
                assert_eq!(again["status"]["events_ingested"], ingested, "{again}");
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id}: {ingested} events were not merged within {PATIENCE:?}; merged: {events:?}"
            );
        }
    }

    /// No answer so far held any of `secrets`.
    fn assert_never_answered(&self, secrets: &[&str]) {
        let seen = self.seen.lock().unwrap();
        assert!(!seen.is_empty());
        for body in seen.iter() {
            for secret in secrets {
                assert!(!body.contains(secret), "an answer holds {secret:?}: {body}");
            }
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("every task stops")
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_reads_changes_and_deletes_a_source_without_ever_returning_credentials() {
    let h = harness().await;
    let (status, created) = h.post(KEY_A, "/v1/sources", h.egnyte_source("eg1")).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "eg1");
    assert_eq!(created["provider"], "egnyte");
    assert_eq!(created["paused"], false);
    assert!(created.get("credentials").is_none(), "{created}");
    assert!(created["config"].get("credentials").is_none(), "{created}");
    assert_eq!(created["config"]["poll"], fast());
    // Stored with the credentials apart from the config.
    let record = h
        .store
        .source("a", &SourceId::new("eg1").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.tenant, "a");
    assert_eq!(
        created["account_id"],
        AccountId::of(&h.store, &record).get()
    );
    assert_eq!(record.credentials["token"], EGNYTE_TOKEN);
    assert!(record.config.get("credentials").is_none());

    // It runs: events arrive, a checkpoint and a watermark are committed.
    let running = h
        .wait_for(KEY_A, "eg1", "ingesting", |s| {
            // The store counts a page when it commits, the engine its poll just after.
            s["status"]["events_ingested"].as_u64() > Some(0)
                && !s["status"]["watermark"].is_null()
                && s["status"]["polls"].as_u64() >= Some(1)
        })
        .await;
    let st = &running["status"];
    assert_eq!(st["running"], true);
    assert!(st["polls"].as_u64() >= Some(1));
    assert!(st["checkpoint"].is_object(), "{st}");
    assert!(st["lag_ms"].is_u64(), "{st}");
    assert!(st["interval_ms"].is_u64(), "{st}");
    assert!(st["last_poll_at"].is_string(), "{st}");
    assert_eq!(st["last_error"], Value::Null);
    assert_eq!(st["gaps_recorded"], 0);
    assert_eq!(st["gaps"], json!([]));

    let (status, list) = h.get(KEY_A, "/v1/sources").await;
    assert_eq!(status, 200);
    assert_eq!(list["count"], 1);
    assert_eq!(list["objects"][0]["id"], "eg1");

    // Pause: the engine holds it, and it stops polling (one poll in flight may still finish).
    let (status, paused) = h
        .patch(KEY_A, "/v1/sources/eg1", json!({"paused": true}))
        .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["paused"], true);
    assert_eq!(paused["status"]["running"], false);
    assert_eq!(paused["status"]["next_poll_at"], Value::Null);
    let id = SourceId::new("eg1").unwrap();
    let inc = record.incarnation;
    assert!(h.engine.status(inc).unwrap().paused);
    assert!(h.store.source("a", &id).unwrap().unwrap().paused);
    let polls_at_pause = h.engine.status(inc).unwrap().polls;
    // Ten minimum intervals later, at most the in-flight poll has been counted.
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..10 {
        tick.tick().await;
    }
    assert!(h.engine.status(inc).unwrap().polls <= polls_at_pause + 1);

    // Resume: polling goes on.
    let (status, resumed) = h
        .patch(KEY_A, "/v1/sources/eg1", json!({"paused": false}))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["status"]["running"], true);
    let after = polls_at_pause + 2;
    h.wait_for(KEY_A, "eg1", "polling again", |s| {
        s["status"]["polls"].as_u64() >= Some(after)
    })
    .await;

    // A new policy: stored in the config, the source restarts with it.
    let slower =
        json!({"min_interval_ms": 60, "max_interval_ms": 240, "multiplier": 1.5, "jitter": 0.1});
    let (status, changed) = h
        .patch(KEY_A, "/v1/sources/eg1", json!({"poll": slower}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["config"]["poll"], slower);
    let changed_record = h.store.source("a", &id).unwrap().unwrap();
    assert_eq!(changed_record.config["poll"], slower);
    // A change is the same source: same incarnation, same account.
    assert_eq!(changed_record.incarnation, inc);
    assert_eq!(changed["account_id"], created["account_id"]);
    assert_eq!(changed["status"]["running"], true);
    h.wait_for(KEY_A, "eg1", "polling under the new policy", |s| {
        s["status"]["polls"].as_u64() >= Some(1)
    })
    .await;

    // Delete: gone from the engine, the store and the API.
    let (status, body) = h.delete(KEY_A, "/v1/sources/eg1").await;
    assert_eq!(status, 204, "{body}");
    assert!(h.engine.status(inc).is_none());
    assert!(h.store.source("a", &id).unwrap().is_none());
    let (status, body) = h.get(KEY_A, "/v1/sources/eg1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    let (_, list) = h.get(KEY_A, "/v1/sources").await;
    assert_eq!(list["count"], 0);

    h.assert_never_answered(&[EGNYTE_TOKEN]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_source_is_not_found_and_a_source_key_sees_only_its_source() {
    let h = harness().await;
    for id in ["eg1", "eg2"] {
        let mut source = h.egnyte_source(id);
        source["paused"] = json!(true);
        let (status, body) = h.post(KEY_A, "/v1/sources", source).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["paused"], true);
        assert_eq!(body["status"]["running"], false);
    }
    // Created paused: stored, not run.
    let eg1 = h
        .store
        .source("a", &SourceId::new("eg1").unwrap())
        .unwrap()
        .unwrap();
    assert!(h.engine.status(eg1.incarnation).is_none());

    // Tenant b sees none of them and can touch none.
    let (status, list) = h.get(KEY_B, "/v1/sources").await;
    assert_eq!((status, &list["count"]), (200, &json!(0)));
    for (status, body) in [
        h.get(KEY_B, "/v1/sources/eg1").await,
        h.patch(KEY_B, "/v1/sources/eg1", json!({"paused": false}))
            .await,
        h.delete(KEY_B, "/v1/sources/eg1").await,
    ] {
        assert_eq!(
            (status, error_code(&body)),
            (404, "source_not_found"),
            "{body}"
        );
    }
    assert_eq!(
        h.store
            .source("a", &SourceId::new("eg1").unwrap())
            .unwrap()
            .as_ref(),
        Some(&eg1)
    );
    // b's own `eg1` is another source: b's alone, a's untouched.
    let mut b_eg1 = h.egnyte_source("eg1");
    b_eg1["paused"] = json!(true);
    let (status, body) = h.post(KEY_B, "/v1/sources", b_eg1).await;
    assert_eq!(status, 201, "{body}");
    assert_ne!(body["account_id"], AccountId::of(&h.store, &eg1).get());
    let (status, body) = h.get(KEY_A, "/v1/sources/eg1").await;
    assert_eq!(
        (status, &body["account_id"]),
        (200, &json!(AccountId::of(&h.store, &eg1).get()))
    );
    let (_, list) = h.get(KEY_A, "/v1/sources").await;
    assert_eq!(list["count"], 2);

    // The key limited to eg1: sees eg1 only, may pause and resume it, creates and deletes nothing.
    let (_, list) = h.get(KEY_A_EG1, "/v1/sources").await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["objects"][0]["id"], "eg1");
    let (status, body) = h.get(KEY_A_EG1, "/v1/sources/eg2").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    let (status, body) = h
        .patch(KEY_A_EG1, "/v1/sources/eg1", json!({"paused": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(h.engine.status(eg1.incarnation).is_some());
    let (status, body) = h
        .post(KEY_A_EG1, "/v1/sources", h.egnyte_source("eg3"))
        .await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));
    let (status, body) = h.delete(KEY_A_EG1, "/v1/sources/eg1").await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));

    // No key: 401.
    let (status, body) = h
        .call(reqwest::Method::GET, None, "/v1/sources", None)
        .await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    h.assert_never_answered(&[EGNYTE_TOKEN]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_and_never_echo_a_secret() {
    let h = harness().await;
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"provider": "egnyte", "config": h.egnyte_config()}),
            400,
            "invalid_body",
            "missing field `credentials`",
        ),
        (
            json!({"provider": "dropbox", "config": {}, "credentials": {"kind": "x"}}),
            400,
            "invalid_source",
            "unknown provider \"dropbox\"; this build knows egnyte, jive, rest",
        ),
        (
            json!({"provider": "Dropbox!".repeat(1000), "config": {}, "credentials": {"kind": "x"}}),
            400,
            "invalid_source",
            "a provider's name is 1 to 64 lowercase letters",
        ),
        (
            json!({"provider": "jive", "config": {"base_url": h.jive_url, "page_size": 500},
                "credentials": {"kind": "basic", "username": "u", "password": JIVE_PASSWORD}}),
            400,
            "invalid_source",
            "page_size must be 2..=100, got 500",
        ),
        (
            json!({"provider": "egnyte", "config": {"base_url": h.egnyte_url,
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}},
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}}),
            400,
            "invalid_source",
            "`config.credentials` is not allowed",
        ),
        (
            json!({"id": "no spaces", "provider": "egnyte", "config": h.egnyte_config(),
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}}),
            400,
            "invalid_source",
            "invalid `id`",
        ),
        (
            json!({"provider": "egnyte", "config": h.egnyte_config(),
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN, "scope": "x"}}),
            400,
            "invalid_source",
            "unknown field `scope`",
        ),
        (
            json!({"provider": "egnyte", "config": {"base_url": h.egnyte_url, "poll":
                {"min_interval_ms": 10, "max_interval_ms": 5, "multiplier": 2.0, "jitter": 0.0}},
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}}),
            400,
            "invalid_source",
            "max_interval_ms (5) must be at least min_interval_ms (10)",
        ),
        (
            json!({"provider": "egnyte", "config": {"base_url": format!("{}/pubapi/v2", h.egnyte_url)},
                "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}}),
            400,
            "invalid_source",
            "base_url is the domain's root, such as https://acme.egnyte.com; leave out /pubapi",
        ),
    ];
    for (body, status, code, says) in cases {
        let (got, answer) = h.post(KEY_A, "/v1/sources", body.clone()).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{body} → {answer}"
        );
        assert!(
            error_message(&answer).contains(says),
            "{body} → {answer}; expected {says:?}"
        );
    }
    let (status, body) = h.post(KEY_A, "/v1/sources", h.egnyte_source("eg1")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h.post(KEY_A, "/v1/sources", h.egnyte_source("eg1")).await;
    assert_eq!((status, error_code(&body)), (409, "source_exists"));
    let patches = [
        (
            json!({"poll": {"min_interval_ms": 10, "max_interval_ms": 100, "multiplier": 2.0, "jitter": 2.0}}),
            "invalid_source",
            "jitter must be a fraction in [0, 1), got 2",
        ),
        (
            json!({"paused": "yes"}),
            "invalid_body",
            "expected a boolean",
        ),
        (
            json!({"pause": true}),
            "invalid_body",
            "unknown field `pause`",
        ),
    ];
    for (body, code, says) in patches {
        let (got, answer) = h.patch(KEY_A, "/v1/sources/eg1", body.clone()).await;
        assert_eq!((got, error_code(&answer)), (400, code), "{body} → {answer}");
        assert!(error_message(&answer).contains(says), "{answer}");
    }
    let (status, body) = h.get(KEY_A, "/v1/sources/bad%20id").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
    // Not JSON at all.
    let response = h
        .client
        .post(format!("{}/v1/sources", h.url))
        .bearer_auth(KEY_A)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "invalid_body");
    h.assert_never_answered(&[EGNYTE_TOKEN, JIVE_PASSWORD]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_or_restart_during_a_poll_that_outlasts_the_wait_answers_503_and_can_be_retried() {
    let h = harness_settling_within(Duration::from_millis(300)).await;
    let (status, body) = h.post(KEY_A, "/v1/sources", h.egnyte_source("slow")).await;
    assert_eq!(status, 201, "{body}");
    h.wait_for(KEY_A, "slow", "a first poll", |s| {
        s["status"]["polls"].as_u64() >= Some(1)
    })
    .await;
    // The next upstream call hangs for 8 s (far past the 300 ms wait, well within the client's
    // 30 s timeout): wait until a poll has made it.
    h.egnyte
        .inject(Fault::next(FaultKind::Delay { ms: 8_000 }, 1));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !h.egnyte.faults().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no poll reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let response = h
        .client
        .delete(format!("{}/v1/sources/slow", h.url))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers()["retry-after"], "10");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "source_busy", "{body}");
    assert!(error_message(&body).contains("retry"), "{body}");
    // Stopped, not deleted; resuming it refuses too while that poll may still commit.
    let (status, body) = h.get(KEY_A, "/v1/sources/slow").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = h
        .patch(KEY_A, "/v1/sources/slow", json!({"paused": false}))
        .await;
    assert_eq!((status, error_code(&body)), (503, "source_busy"), "{body}");

    // Retried, the delete succeeds once the poll is done, and nothing of the source remains.
    let slow = h
        .store
        .source("a", &SourceId::new("slow").unwrap())
        .unwrap()
        .unwrap()
        .source_ref();
    assert!(h.store.source_state(&slow).unwrap().is_some());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = h.delete(KEY_A, "/v1/sources/slow").await;
        if status == 204 {
            break;
        }
        assert_eq!((status, error_code(&body)), (503, "source_busy"), "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delete never succeeded"
        );
    }
    let (status, _) = h.get(KEY_A, "/v1/sources/slow").await;
    assert_eq!(status, 404);
    assert!(h.store.source_state(&slow).unwrap().is_none());
    h.stop().await;
}

#[tokio::test]
async fn without_a_source_control_the_endpoints_answer_503() {
    let store = SledStore::temporary().unwrap();
    let state = ApiState::new(
        Arc::new(store),
        ApiKeys::new([KeyEntry::new("a", KEY_A)]).unwrap(),
    );
    let (l, url) = listener().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(l, state, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let valid = json!({"provider": "egnyte", "config": {}, "credentials": {"kind": "bearer", "token": "t"}});
    for request in [
        client.get(format!("{url}/v1/sources")),
        client.get(format!("{url}/v1/sources/eg1")),
        client.post(format!("{url}/v1/sources")).json(&valid),
        client.delete(format!("{url}/v1/sources/eg1")),
        client
            .post(format!("{url}/v1/oauth/egnyte/start"))
            .json(&json!({"config": {}, "client_id": "c", "client_secret": "s", "redirect_uri": REDIRECT})),
    ] {
        let response = request.bearer_auth(KEY_A).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "sources_unavailable");
    }
    // A malformed request is still a 4xx.
    let response = client
        .post(format!("{url}/v1/sources"))
        .bearer_auth(KEY_A)
        .json(&json!({"provider": "egnyte"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

/// Starts a flow, returns its `state` after checking the authorization URL.
async fn start_flow(h: &Harness, provider: &str, body: Value, authorize_path: &str) -> String {
    let (status, started) = h
        .post(KEY_A, &format!("/v1/oauth/{provider}/start"), body)
        .await;
    assert_eq!(status, 200, "{started}");
    let state = started["state"].as_str().unwrap().to_owned();
    assert_eq!(state.len(), 64);
    let url = reqwest::Url::parse(started["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), authorize_path);
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], state);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], REDIRECT);
    state
}

async fn callback(h: &Harness, provider: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let mut url = reqwest::Url::parse(&format!("{}/v1/oauth/{provider}/callback", h.url)).unwrap();
    url.query_pairs_mut().extend_pairs(query);
    let path = format!("{}?{}", url.path(), url.query().unwrap_or(""));
    h.call(reqwest::Method::GET, None, &path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_egnyte_oauth_callback_creates_a_working_source() {
    let h = harness().await;
    let start = json!({"id": "eg-oauth", "config": h.egnyte_config(), "client_id": EGNYTE_CLIENT,
        "client_secret": EGNYTE_CLIENT_SECRET, "redirect_uri": REDIRECT});
    let state = start_flow(&h, "egnyte", start.clone(), "/puboauth/token").await;
    // What the browser brings back after the user consents.
    let code = h.egnyte.mint_code(EGNYTE_CLIENT, REDIRECT, 1002).unwrap();
    // The state of an Egnyte flow does not finish a Jive one (and is spent by trying).
    let other = start_flow(&h, "egnyte", start.clone(), "/puboauth/token").await;
    let (status, body) = callback(&h, "jive", &[("code", "c"), ("state", &other)]).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_oauth_state"),
        "{body}"
    );

    let (status, created) = callback(&h, "egnyte", &[("code", &code), ("state", &state)]).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "eg-oauth");
    assert!(created.get("credentials").is_none());
    let record = h
        .store
        .source("a", &SourceId::new("eg-oauth").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.tenant, "a");
    // Egnyte's classic tokens do not expire and come without a refresh token.
    assert_eq!(record.credentials["kind"], "bearer");
    let token = record.credentials["token"].as_str().unwrap().to_owned();
    h.wait_for(
        KEY_A,
        "eg-oauth",
        "ingesting with the exchanged token",
        |s| s["status"]["events_ingested"].as_u64() > Some(0),
    )
    .await;
    let (_, body) = h.get(KEY_A, "/v1/sources/eg-oauth").await;
    assert_eq!(body["status"]["last_error"], Value::Null, "{body}");

    // A state works once; an unknown one never; a missing code is a bad request.
    let (status, body) = callback(&h, "egnyte", &[("code", &code), ("state", &state)]).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_oauth_state"),
        "{body}"
    );
    let (status, body) = callback(&h, "egnyte", &[("code", "c"), ("state", "forged")]).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_oauth_state"));
    let (status, body) = callback(&h, "egnyte", &[("state", &state)]).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
    // The user said no.
    let denied = start_flow(&h, "egnyte", start.clone(), "/puboauth/token").await;
    let (status, body) = callback(
        &h,
        "egnyte",
        &[("error", "access_denied"), ("state", &denied)],
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "oauth_denied"));
    // A code the provider refuses.
    let mut again = start.clone();
    again["id"] = json!("eg-oauth-2");
    let refused = start_flow(&h, "egnyte", again, "/puboauth/token").await;
    let (status, body) =
        callback(&h, "egnyte", &[("code", "not-a-code"), ("state", &refused)]).await;
    assert_eq!(
        (status, error_code(&body)),
        (502, "oauth_exchange_failed"),
        "{body}"
    );
    assert!(
        h.store
            .source("a", &SourceId::new("eg-oauth-2").unwrap())
            .unwrap()
            .is_none()
    );
    // A source-scoped key cannot start a flow; a bad config is refused at the start.
    let (status, body) = h
        .post(KEY_A_EG1, "/v1/oauth/egnyte/start", start.clone())
        .await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"));
    let mut bad = start.clone();
    bad["config"]["page_size"] = json!(1000);
    let (status, body) = h.post(KEY_A, "/v1/oauth/egnyte/start", bad).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_source"),
        "{body}"
    );
    assert!(error_message(&body).contains("page_size"), "{body}");

    h.assert_never_answered(&[&token, EGNYTE_CLIENT_SECRET, &code]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jive_oauth_callback_creates_a_working_source() {
    let h = harness().await;
    let start = json!({"config": h.jive_config(), "client_id": JIVE_CLIENT,
        "client_secret": JIVE_CLIENT_SECRET, "redirect_uri": REDIRECT, "paused": false});
    let state = start_flow(&h, "jive", start, "/oauth2/authorize").await;
    let code = h.jive.mint_code("u").unwrap();
    let (status, created) = callback(&h, "jive", &[("code", &code), ("state", &state)]).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("src-") && id.len() == 20, "{id}");
    let record = h
        .store
        .source("a", &SourceId::new(id.as_str()).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.credentials["kind"], "oauth");
    assert_eq!(record.credentials["client_id"], JIVE_CLIENT);
    let refresh = record.credentials["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let access = record.credentials["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    h.wait_for(KEY_A, &id, "ingesting with the exchanged token", |s| {
        s["status"]["events_ingested"].as_u64() > Some(0)
    })
    .await;
    h.assert_never_answered(&[&refresh, &access, JIVE_CLIENT_SECRET]);
    h.stop().await;
}

/// A page that is empty and caught up.
fn assert_empty_page(body: &Value) {
    assert_eq!(
        (&body["objects"], &body["count"], &body["remaining"]),
        (&json!([]), &json!(0), &json!(0)),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_source_id_never_shows_another_tenants_events() {
    let h = harness_with_quick_keep_alive().await;
    // Acme's source ingests the simulator's backlog into acme's log, at positions 1..=n.
    let (status, created) = h
        .post(KEY_ACME, "/v1/sources", h.egnyte_source("reused-id"))
        .await;
    assert_eq!(status, 201, "{created}");
    let acme_account = created["account_id"].as_u64().unwrap();
    let acme_events = h.ingest_backlog(KEY_ACME, "reused-id").await;
    let n = acme_events.len() as u64;
    assert_eq!(n, 20, "the backlog: {acme_events:?}");
    assert_eq!(
        acme_events.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert_eq!(h.events(KEY_ACME, "").await, acme_events);
    let (status, body) = h.delete(KEY_ACME, "/v1/sources/reused-id").await;
    assert_eq!(status, 204, "{body}");

    // Globex creates a source with the same id, paused: it has no events of its own.
    let mut source = h.egnyte_source("reused-id");
    source["paused"] = json!(true);
    let (status, created) = h.post(KEY_GLOBEX, "/v1/sources", source).await;
    assert_eq!(status, 201, "{created}");
    let globex_account = created["account_id"].as_u64().unwrap();
    assert_ne!(globex_account, acme_account);
    assert_eq!(created["status"]["events_ingested"], 0, "{created}");
    assert_eq!(created["status"]["checkpoint"], Value::Null, "{created}");

    // None of acme's events, by the source's id, tenant-wide, live or as its account.
    for query in ["source=reused-id", ""] {
        let (status, body) = h.get(KEY_GLOBEX, &format!("/v1/events?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_empty_page(&body);
        assert_eq!(h.streamed(KEY_GLOBEX, query).await, [], "{query}");
    }
    let (status, body) = h
        .get(KEY_GLOBEX, &format!("/v1/accounts/{globex_account}/events"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_empty_page(&body);
    let (status, body) = h.get(KEY_GLOBEX, "/v1/events/latest").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["cursor"],
        tributary_core::Cursor::new(h.store.stream_key("globex"), Seq(0)).encode()
    );
    // Acme's account is nobody's now.
    for key in [KEY_GLOBEX, KEY_ACME] {
        let (status, body) = h
            .get(key, &format!("/v1/accounts/{acme_account}/events"))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (404, "account_not_found"),
            "{body}"
        );
    }

    // Acme keeps its history, at the same positions; its source is gone.
    assert_eq!(h.events(KEY_ACME, "").await, acme_events);
    assert_eq!(h.streamed(KEY_ACME, "").await, acme_events);
    let (status, body) = h.get(KEY_ACME, "/v1/events?source=reused-id").await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "source_not_found"),
        "{body}"
    );

    // Running, globex's source reads the same upstream into globex's own log, from 1; acme's
    // log is as it was.
    let (status, body) = h
        .patch(
            KEY_GLOBEX,
            "/v1/sources/reused-id",
            json!({"paused": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let globex_events = h.ingest_backlog(KEY_GLOBEX, "reused-id").await;
    assert_eq!(
        globex_events, acme_events,
        "the same upstream events, at globex's own positions"
    );
    assert_eq!(h.events(KEY_GLOBEX, "").await, globex_events);
    assert_eq!(h.events(KEY_ACME, "").await, acme_events);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_tenant_recreating_an_id_gets_a_fresh_source() {
    let h = harness().await;
    let (status, first) = h
        .post(KEY_ACME, "/v1/sources", h.egnyte_source("reused-id"))
        .await;
    assert_eq!(status, 201, "{first}");
    let old_events = h.ingest_backlog(KEY_ACME, "reused-id").await;
    let n = old_events.len() as u64;
    let (_, old) = h.get(KEY_ACME, "/v1/sources/reused-id").await;
    assert!(old["status"]["checkpoint"].is_object(), "{old}");
    assert_eq!(old["status"]["events_ingested"], n);
    let (status, body) = h.delete(KEY_ACME, "/v1/sources/reused-id").await;
    assert_eq!(status, 204, "{body}");

    // Created again (paused, so nothing moves): nothing of the old one is carried over.
    let mut source = h.egnyte_source("reused-id");
    source["paused"] = json!(true);
    let (status, created) = h.post(KEY_ACME, "/v1/sources", source).await;
    assert_eq!(status, 201, "{created}");
    assert_ne!(created["account_id"], first["account_id"]);
    let account = created["account_id"].as_u64().unwrap();
    let st = &created["status"];
    assert_eq!(
        (
            &st["events_ingested"],
            &st["duplicates_absorbed"],
            &st["polls"],
            &st["gaps_recorded"],
        ),
        (&json!(0), &json!(0), &json!(0), &json!(0)),
        "{created}"
    );
    for field in ["checkpoint", "watermark", "committed_at", "last_poll_at"] {
        assert_eq!(st[field], Value::Null, "{field}: {created}");
    }
    // Its events: none yet; the old ones stay in the tenant's log only.
    let (status, body) = h.get(KEY_ACME, "/v1/events?source=reused-id").await;
    assert_eq!(status, 200, "{body}");
    assert_empty_page(&body);
    let (status, body) = h
        .get(KEY_ACME, &format!("/v1/accounts/{account}/events"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_empty_page(&body);
    let (status, body) = h
        .get(
            KEY_ACME,
            &format!("/v1/accounts/{}/events", first["account_id"]),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, "account_not_found"));
    assert_eq!(h.events(KEY_ACME, "").await, old_events);

    // Running, it reads the upstream from the start (a fresh checkpoint), and what it reads is
    // new to it (a fresh deduplication index): its own copies, after the old events.
    let (status, body) = h
        .patch(KEY_ACME, "/v1/sources/reused-id", json!({"paused": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    let new_events = h.ingest_backlog(KEY_ACME, "reused-id").await;
    let (_, now) = h.get(KEY_ACME, "/v1/sources/reused-id").await;
    assert_eq!(now["status"]["duplicates_absorbed"], 0, "{now}");
    assert_eq!(
        new_events
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        old_events
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        new_events.iter().map(|(_, seq)| *seq).collect::<Vec<_>>(),
        (n + 1..=2 * n).collect::<Vec<_>>()
    );
    let mut both = old_events.clone();
    both.extend(new_events.iter().cloned());
    assert_eq!(h.events(KEY_ACME, "").await, both);
    // Its account shows its events only.
    let (status, body) = h
        .get(
            KEY_ACME,
            &format!("/v1/accounts/{account}/events?page_size=1000"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let objects = body["objects"].as_array().unwrap();
    assert_eq!(objects.len() as u64, n, "{body}");
    assert!(objects.iter().all(|e| e["account"] == account), "{body}");
    assert_eq!(body["remaining"], 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_may_use_the_same_source_id() {
    let h = harness().await;
    let mut created = Vec::new();
    for key in [KEY_ACME, KEY_GLOBEX] {
        let mut source = h.egnyte_source("egnyte-main");
        source["paused"] = json!(true);
        let (status, body) = h.post(key, "/v1/sources", source).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["id"], "egnyte-main");
        created.push(body);
    }
    assert_ne!(created[0]["account_id"], created[1]["account_id"]);
    let id = SourceId::new("egnyte-main").unwrap();
    let acme = h.store.source("acme", &id).unwrap().unwrap();
    let globex = h.store.source("globex", &id).unwrap().unwrap();
    assert_ne!(acme.incarnation, globex.incarnation);

    // Each tenant lists and reads its own only.
    for (key, mine) in [(KEY_ACME, &created[0]), (KEY_GLOBEX, &created[1])] {
        let (status, list) = h.get(key, "/v1/sources").await;
        assert_eq!(status, 200);
        assert_eq!(list["count"], 1, "{list}");
        assert_eq!(list["objects"][0]["id"], "egnyte-main");
        assert_eq!(list["objects"][0]["account_id"], mine["account_id"]);
        let (status, one) = h.get(key, "/v1/sources/egnyte-main").await;
        assert_eq!((status, &one["account_id"]), (200, &mine["account_id"]));
    }
    // The id is taken within the tenant only.
    let (status, body) = h
        .post(KEY_ACME, "/v1/sources", h.egnyte_source("egnyte-main"))
        .await;
    assert_eq!((status, error_code(&body)), (409, "source_exists"));

    // Changing and deleting one leaves the other as it was.
    let (status, body) = h
        .patch(
            KEY_GLOBEX,
            "/v1/sources/egnyte-main",
            json!({"paused": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(h.engine.status(globex.incarnation).is_some());
    assert!(h.engine.status(acme.incarnation).is_none());
    let (status, body) = h.delete(KEY_GLOBEX, "/v1/sources/egnyte-main").await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = h.get(KEY_GLOBEX, "/v1/sources/egnyte-main").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    let (status, body) = h.get(KEY_ACME, "/v1/sources/egnyte-main").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["paused"], true);
    assert_eq!(body["account_id"], created[0]["account_id"]);
    assert_eq!(h.store.source("acme", &id).unwrap().unwrap(), acme);
    h.stop().await;
}

/// `(id, seq)` of each event of a page's `objects`, in order.
fn id_seqs(objects: &Value) -> Vec<(String, u64)> {
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

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap()
}

/// The events `GET {url}` (a live stream) sends `key` before its first keep-alive comment: with
/// the stream caught up, every event it had to send (the server sends what it has read before
/// it idles), as `(id, seq)`. Every wait is bounded.
async fn events_until_idle(url: &str, key: &str) -> Vec<(String, u64)> {
    // The client's overall timeout would cut a long stream: this request has none.
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let (mut buffer, mut events) = (Vec::<u8>::new(), Vec::new());
    loop {
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let block = String::from_utf8(block).unwrap();
            if block.starts_with(':') {
                return events;
            }
            let mut data = String::new();
            for line in block.lines() {
                match line.split_once(':') {
                    Some(("event", name)) => panic!("unexpected event {name:?} in {block}"),
                    Some(("data", value)) => {
                        data.push_str(value.strip_prefix(' ').unwrap_or(value))
                    }
                    _ => {}
                }
            }
            let event: Value = serde_json::from_str(&data).unwrap();
            events.push((
                event["id"].as_str().unwrap().to_owned(),
                event["seq"].as_u64().unwrap(),
            ));
        }
        let chunk = tokio::time::timeout(PATIENCE, response.chunk())
            .await
            .expect("the stream sends within the wait")
            .unwrap()
            .expect("the stream goes on");
        buffer.extend_from_slice(&chunk);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_the_sources_error_names_it() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let h = harness().await;
    // An internal service a redirect points to, and an allowed upstream that redirects there.
    let internal = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("internal secret"))
        .mount(&internal)
        .await;
    let upstream = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/latest/meta-data", internal.uri())),
        )
        .mount(&upstream)
        .await;
    let source = json!({"id": "redirected", "provider": "egnyte",
        "config": {"base_url": upstream.uri(), "poll": fast()},
        "credentials": {"kind": "bearer", "token": EGNYTE_TOKEN}});
    let (status, body) = h.post(KEY_A, "/v1/sources", source).await;
    assert_eq!(status, 201, "{body}");
    let failed = h
        .wait_for(KEY_A, "redirected", "a source error", |s| {
            !s["status"]["last_error"].is_null()
        })
        .await;
    assert_eq!(
        failed["status"]["last_error"],
        "fatal source error: GET /pubapi/v2/events/cursor: answered 302, a redirect; redirects \
         are not followed (check the base URL)"
    );
    assert_eq!(upstream.received_requests().await.unwrap().len(), 1);
    assert_eq!(internal.received_requests().await.unwrap().len(), 0);
    h.stop().await;
}

/// A provider the server never names, registered by one line in the binary's list
/// (`crates/cli/src/providers.rs`): `rest`, created through `POST /v1/sources` with a
/// configuration that reads the Jive simulator's `/contents`, polls, and its events reach the
/// tenant's log with the source and provider named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_source_created_through_the_api_polls_by_configuration_alone() {
    let h = harness().await;
    let config = rest_config_of_jive(&h);
    let (status, created) = h
        .post(
            KEY_A,
            "/v1/sources",
            json!({"id": "by-config", "provider": "rest", "config": config,
                "credentials": {"kind": "basic", "username": "u", "password": JIVE_PASSWORD}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["provider"], "rest");
    let items = h.jive.contents_count();
    assert_eq!(items, 20);
    let events = h.ingest_backlog(KEY_A, "by-config").await;
    assert_eq!(events.len(), items, "{events:?}");
    let (status, body) = h
        .get(KEY_A, "/v1/events?source=by-config&page_size=100")
        .await;
    assert_eq!(status, 200, "{body}");
    let objects = body["objects"].as_array().unwrap();
    assert_eq!(objects.len(), items);
    for event in objects {
        assert_eq!(
            (&event["type"], &event["provider"], &event["source"]),
            (&json!("add"), &json!("rest"), &json!("by-config")),
            "{event}"
        );
    }
    let mut ids: Vec<&str> = objects
        .iter()
        .map(|e| e["object"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), items, "each item once");
    h.assert_never_answered(&[JIVE_PASSWORD]);
    h.stop().await;
}

/// A `rest` config that reads the Jive simulator's `/contents` (Jive's dates, offset paging,
/// the JSON security prefix), from a day ago.
fn rest_config_of_jive(h: &Harness) -> Value {
    const JIVE_DATE: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";
    let start = chrono::Utc::now() - chrono::TimeDelta::days(1);
    json!({
        "base_url": h.jive_url,
        "response_prefix": "throw 'allowIllegalResourceCall is false.';",
        "start": tributary_core::time::format(&start),
        "max_window_ms": 3 * 86_400_000u64,
        "skew_ms": 300,
        "poll": fast(),
        "resources": {
            "contents": {
                "url": format!("/api/core/v3/contents?filter=modificationDate(${{before:{JIVE_DATE}}},${{after:{JIVE_DATE}}})&fields=contentID,type,subject,published,updated"),
                "list": "/list",
                "idField": "contentID",
                "datesConfiguration": {
                    "updatedDateField": "updated", "updatedDateFormat": JIVE_DATE,
                    "createdDateField": "published", "createdDateFormat": JIVE_DATE
                },
                "paging": {"mode": "offset", "param": "startIndex", "size_param": "count", "size": 7},
                "kind_field": "type",
                "name_field": "subject"
            }
        }
    })
}

/// OAuth works for any factory that describes it, here `rest` by its config alone (the Jive
/// simulator's authorization server): `start` answers the configured authorize URL, the callback
/// exchanges the code with the client in HTTP Basic and creates a source that polls with the
/// token. A `rest` config without `oauth` is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_flow_works_for_a_provider_the_server_never_names() {
    let h = harness().await;
    let mut config = rest_config_of_jive(&h);
    let (status, body) = h
        .post(
            KEY_A,
            "/v1/oauth/rest/start",
            json!({"config": config, "client_id": JIVE_CLIENT,
                "client_secret": JIVE_CLIENT_SECRET, "redirect_uri": REDIRECT}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_source"),
        "{body}"
    );
    assert!(
        error_message(&body).contains("rest: this config describes no OAuth authorization"),
        "{body}"
    );
    let (status, body) = h
        .post(
            KEY_A,
            "/v1/oauth/dropbox/start",
            json!({"config": config, "client_id": JIVE_CLIENT,
                "client_secret": JIVE_CLIENT_SECRET, "redirect_uri": REDIRECT}),
        )
        .await;
    assert_eq!(
        (status, error_message(&body)),
        (
            400,
            "unknown provider \"dropbox\": this server has egnyte, jive, rest"
        ),
        "{body}"
    );

    config["oauth"] = json!({
        "authorize_url": format!("{}/oauth2/authorize", h.jive_url),
        "token_url": format!("{}/oauth2/token", h.jive_url),
        "client_auth": "basic"
    });
    let start = json!({"id": "rest-oauth", "config": config, "client_id": JIVE_CLIENT,
        "client_secret": JIVE_CLIENT_SECRET, "redirect_uri": REDIRECT});
    let state = start_flow(&h, "rest", start, "/oauth2/authorize").await;
    let code = h.jive.mint_code("u").unwrap();
    let (status, created) = callback(&h, "rest", &[("code", &code), ("state", &state)]).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (&created["id"], &created["provider"]),
        (&json!("rest-oauth"), &json!("rest"))
    );
    let record = h
        .store
        .source("a", &SourceId::new("rest-oauth").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(record.credentials["kind"], "oauth");
    assert_eq!(record.credentials["client_id"], JIVE_CLIENT);
    let events = h.ingest_backlog(KEY_A, "rest-oauth").await;
    assert_eq!(events.len(), h.jive.contents_count());
    h.assert_never_answered(&[JIVE_CLIENT_SECRET]);
    h.stop().await;
}
