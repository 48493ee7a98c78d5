//! The API over real HTTP on 127.0.0.1:0, against a sled store filled by ingest and merge.
//!
//! The fixture: 15 events `e0`..`e14`, one second apart, from sources `a1`, `a2` (tenant `a`) and
//! `b1` (tenant `b`) in turn, so event `eK` comes from `[a1, a2, b1][K % 3]`. Every tenant has a
//! log of its own: tenant `a`'s is `e0 e1 e3 e4 e6 e7 e9 e10 e12 e13` at positions 1..=10,
//! tenant `b`'s is `e2 e5 e8 e11 e14` at positions 1..=5.

use super::*;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tributary_core::{
    Checkpoint, Cursor, Event, EventId, EventType, Object, ObjectKind, Page, SourceId, Upstream,
    Watermark,
};
use tributary_store::{MergeReport, Retention, SledStore, SourceRecord};

pub(super) const KEY_A: &str = "key-for-tenant-a";
pub(super) const KEY_B: &str = "key-for-tenant-b";
/// How long any single wait on the server may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

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

fn page(events: Vec<Event>, n: u64) -> Page {
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
        store
            .put_source(SourceRecord {
                id: SourceId::new(id).unwrap(),
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
    }
    add_events(store, 0..15, 1).await;
}

/// Ids of the fixture's events that tenant `a` may see, in log order, among `ks`.
fn a_ids(ks: impl IntoIterator<Item = u32>) -> Vec<String> {
    ks.into_iter()
        .filter(|k| source_of(*k) != "b1")
        .map(|k| format!("e{k}"))
        .collect()
}

pub(super) struct Server {
    pub(super) url: String,
    state: ApiState,
    pub(super) client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(store: &SledStore) -> Server {
    start_with(store, ApiConfig::default()).await
}

async fn start_with(store: &SledStore, config: ApiConfig) -> Server {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::hashed("b", key_sha256_hex(KEY_B)),
    ])
    .unwrap();
    start_with_keys(store, keys, config).await
}

/// A server over `store` that knows exactly `keys`.
pub(super) async fn start_with_keys(store: &SledStore, keys: ApiKeys, config: ApiConfig) -> Server {
    let state = ApiState::with_config(Arc::new(store.clone()), keys, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Server {
        url,
        state,
        client: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
        stop: Some(stop),
        task,
    }
}

impl Server {
    pub(super) async fn get(&self, key: Option<&str>, path: &str) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON {body:?}: {e}"));
        (status, json)
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

    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the server stops within the wait")
            .unwrap()
            .unwrap();
    }
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

#[tokio::test]
async fn pages_return_every_event_of_the_tenant_once_in_order() {
    let store = fixture().await;
    let server = start(&store).await;
    for page_size in [1, 2, 4, 1000] {
        assert_eq!(
            server
                .all_ids(KEY_A, &format!("page_size={page_size}"))
                .await,
            a_ids(0..15),
            "page_size {page_size}"
        );
    }
    // A first page of 4 ends at e4, the tenant's position 4 (e2 is b's, in b's own log);
    // `remaining` is exactly the tenant's entries after it.
    let (status, body) = server.get(Some(KEY_A), "/v1/events?page_size=4").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 4);
    assert_eq!(body["remaining"], 6);
    assert_eq!(a_ids(0..15).len(), 10);
    assert_eq!(seqs(&body), [1, 2, 3, 4]);
    assert_eq!(
        body["cursor"],
        Cursor::new(store.stream_key("a"), Seq(4)).encode().as_str()
    );
    // The stored JSON is what is served.
    let stored = store
        .read("a", None, 1, &tributary_store::Filter::default())
        .await
        .unwrap();
    let first: Value = serde_json::from_slice(stored.events[0].json()).unwrap();
    assert_eq!(body["objects"][0], first);
    server.stop().await;
}

#[tokio::test]
async fn a_page_continues_past_the_inline_scan_when_the_filter_is_sparse() {
    let store = fixture().await;
    // 462 events of a2, then one of a1: more entries of tenant a than a read examines inline
    // before a1's next event. Tenant b's 462 events are in b's log and never examined for a.
    let a2_only: Vec<u32> = (15..1400).filter(|k| source_of(*k) == "a2").collect();
    let b_only: Vec<u32> = (15..1400).filter(|k| source_of(*k) == "b1").collect();
    assert!(a2_only.len() > tributary_store::INLINE_SCAN);
    add_events(&store, a2_only.iter().copied(), 2).await;
    add_events(&store, b_only, 2).await;
    assert_eq!(source_of(1401), "a1");
    add_events(&store, [1401], 3).await;
    let server = start(&store).await;
    let (status, body) = server
        .get(Some(KEY_A), "/v1/events?source=a1&page_size=100")
        .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let expected = ["e0", "e3", "e6", "e9", "e12", "e1401"];
    assert_eq!(ids, expected, "one request reads past the inline scan");
    assert_eq!(body["remaining"], 0);
    // e1401 is the tenant's last event: 10 of the fixture, then 462 of a2, then it.
    let last = store.latest("a").await.unwrap();
    assert_eq!(last.seq, Seq(10 + a2_only.len() as u64 + 1));
    assert_eq!(body["cursor"], last.encode().as_str());
    assert_eq!(body["objects"][5]["seq"], last.seq.0);
    // Paging in large pages reads the same.
    assert_eq!(
        server.all_ids(KEY_A, "source=a1&page_size=1000").await,
        expected
    );
    // The tenant-wide read is the tenant's events only, in order.
    let mut everything = a_ids(0..15);
    everything.extend(a2_only.iter().map(|k| format!("e{k}")));
    everything.push("e1401".into());
    assert_eq!(server.all_ids(KEY_A, "page_size=1000").await, everything);
    server.stop().await;
}

#[tokio::test]
async fn filters_by_source_type_time_and_path() {
    let store = fixture().await;
    let server = start(&store).await;
    let ids = |ks: &[u32]| ks.iter().map(|k| format!("e{k}")).collect::<Vec<_>>();
    assert_eq!(
        server.all_ids(KEY_A, "source=a2").await,
        ids(&[1, 4, 7, 10, 13])
    );
    assert_eq!(
        server.all_ids(KEY_A, "source=a1,a2&page_size=3").await,
        a_ids(0..15)
    );
    assert_eq!(
        server.all_ids(KEY_A, "source=a1&source=a2").await,
        a_ids(0..15)
    );
    assert_eq!(
        server.all_ids(KEY_A, "type=delete,move").await,
        ids(&[4, 6])
    );
    assert_eq!(
        server.all_ids(KEY_A, "type=update&type=copy").await,
        ids(&[3, 7, 10])
    );
    assert_eq!(
        server
            .all_ids(
                KEY_A,
                "since=2026-11-23T09:00:03Z&until=2026-11-23T09:00:09Z"
            )
            .await,
        ids(&[3, 4, 6, 7])
    );
    assert_eq!(
        server
            .all_ids(KEY_A, "since=2026-11-23T10:00:03%2B01:00")
            .await,
        a_ids(3..15)
    );
    // `/A` holds a1's files, and e4 moved out of it.
    assert_eq!(
        server.all_ids(KEY_A, "path_prefix=/A").await,
        ids(&[0, 3, 4, 6, 9, 12])
    );
    assert_eq!(
        server
            .all_ids(KEY_A, "path_prefix=/B&type=move&source=a2")
            .await,
        ids(&[4])
    );
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_sources() {
    let store = fixture().await;
    let server = start(&store).await;
    assert_eq!(
        server.all_ids(KEY_B, "").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
    for query in ["source=b1", "source=a1,b1", "source=nope"] {
        let (status, body) = server
            .get(Some(KEY_A), &format!("/v1/events?{query}"))
            .await;
        assert_eq!(status, 404, "{query}: {body}");
        assert_eq!(error_code(&body), "source_not_found");
    }
    let (status, body) = server.get(Some(KEY_B), "/v1/events?source=a1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    server.stop().await;
}

#[tokio::test]
async fn each_tenant_counts_its_own_seq_from_one() {
    let store = fixture().await;
    let server = start(&store).await;
    let (status, a) = server.get(Some(KEY_A), "/v1/events").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(seqs(&a), (1..=10).collect::<Vec<_>>());
    assert_eq!(a["remaining"], 0);
    let (status, b) = server.get(Some(KEY_B), "/v1/events").await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(seqs(&b), (1..=5).collect::<Vec<_>>());
    assert_eq!(b["remaining"], 0);
    // A filtered read shows the tenant's positions, gaps where other sources' events stand.
    let (_, a2) = server.get(Some(KEY_A), "/v1/events?source=a2").await;
    assert_eq!(seqs(&a2), [2, 4, 6, 8, 10]);
    // Each cursor is of its own tenant's stream.
    let (_, latest_a) = server.get(Some(KEY_A), "/v1/events/latest").await;
    let (_, latest_b) = server.get(Some(KEY_B), "/v1/events/latest").await;
    assert_eq!(
        latest_a["cursor"],
        Cursor::new(store.stream_key("a"), Seq(10))
            .encode()
            .as_str()
    );
    assert_eq!(
        latest_b["cursor"],
        Cursor::new(store.stream_key("b"), Seq(5)).encode().as_str()
    );
    assert_ne!(store.stream_key("a"), store.stream_key("b"));

    // New events continue each tenant's count where it was.
    add_events(&store, [15, 16, 17], 2).await;
    let (_, a) = server
        .get(
            Some(KEY_A),
            &format!("/v1/events?cursor={}", latest_a["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        id_seqs(&a["objects"]),
        [("e15".to_owned(), 11), ("e16".to_owned(), 12)]
    );
    let (_, b) = server
        .get(
            Some(KEY_B),
            &format!("/v1/events?cursor={}", latest_b["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(id_seqs(&b["objects"]), [("e17".to_owned(), 6)]);
    server.stop().await;
}

#[tokio::test]
async fn another_tenants_cursor_is_an_invalid_cursor() {
    // Tenants named so that a leak of the name would be visible in a message.
    let store = SledStore::temporary().unwrap();
    for (id, tenant) in [("shared", "acme"), ("shared", "globex")] {
        store
            .put_source(SourceRecord {
                id: SourceId::new(id).unwrap(),
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
    }
    let acme = store
        .source("acme", &SourceId::new("shared").unwrap())
        .unwrap()
        .unwrap();
    let mut e = event(0, t0());
    e.source = acme.id.clone();
    store
        .ingest(&acme.source_ref(), page(vec![e], 1))
        .await
        .unwrap();
    store
        .merge("acme", t0() + ChronoDuration::days(1))
        .await
        .unwrap();
    let keys = ApiKeys::new([
        KeyEntry::new("acme", "key-acme"),
        KeyEntry::new("globex", "key-globex"),
    ])
    .unwrap();
    let server = start_with_keys(&store, keys, ApiConfig::default()).await;
    let globex = store
        .source("globex", &SourceId::new("shared").unwrap())
        .unwrap()
        .unwrap();
    let account = AccountId::of(&store, &globex).get();

    // Acme's cursors: from a page, from `latest`, and the very beginning of its stream.
    let (status, page) = server.get(Some("key-acme"), "/v1/events").await;
    assert_eq!((status, &page["count"]), (200, &1.into()), "{page}");
    let (_, latest) = server.get(Some("key-acme"), "/v1/events/latest").await;
    let cursors = [
        page["cursor"].as_str().unwrap().to_owned(),
        latest["cursor"].as_str().unwrap().to_owned(),
        Cursor::new(store.stream_key("acme"), Seq(0)).encode(),
    ];
    for cursor in &cursors {
        // Acme's own cursor works for acme.
        let (status, body) = server
            .get(Some("key-acme"), &format!("/v1/events?cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{body}");
        for path in [
            format!("/v1/events?cursor={cursor}"),
            format!("/v1/events/stream?cursor={cursor}"),
            format!("/v1/accounts/{account}/events?cursor={cursor}"),
        ] {
            let (status, body) = server.get(Some("key-globex"), &path).await;
            assert_eq!(
                (status, error_code(&body)),
                (400, "invalid_cursor"),
                "{path}: {body}"
            );
            // The message quotes the cursor (random characters) and says nothing of whose it is.
            let message = error_message(&body);
            assert_eq!(
                message,
                format!("cursor \"{cursor}\" was not issued for this stream")
            );
            assert!(
                !message.replace(cursor.as_str(), "").contains("acme"),
                "{path}: {body}"
            );
        }
        // As a stream's Last-Event-ID too.
        let response = server
            .client
            .get(format!("{}/v1/events/stream", server.url))
            .bearer_auth("key-globex")
            .header("last-event-id", cursor.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_code(&body), "invalid_cursor", "{body}");
        assert!(
            !error_message(&body)
                .replace(cursor.as_str(), "")
                .contains("acme"),
            "{body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_tenant_without_sources_reads_nothing_but_cursors_are_still_checked() {
    let store = fixture().await;
    let keys = ApiKeys::new([KeyEntry::new("c", "key-c")]).unwrap();
    let state = ApiState::new(Arc::new(store.clone()), keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = Server {
        url,
        state: state.clone(),
        client: reqwest::Client::new(),
        stop: None,
        task: tokio::spawn(serve(listener, state, std::future::pending())),
    };
    let (status, body) = server.get(Some("key-c"), "/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 0);
    assert_eq!(body["remaining"], 0);
    assert_eq!(
        body["cursor"],
        store.latest("c").await.unwrap().encode().as_str()
    );
    assert_eq!(store.latest("c").await.unwrap().seq, Seq(0));
    let ahead = Cursor::new(store.stream_key("c"), Seq(1)).encode();
    let (status, body) = server
        .get(Some("key-c"), &format!("/v1/events?cursor={ahead}"))
        .await;
    assert_eq!((status, error_code(&body)), (400, "cursor_ahead"));
    server.task.abort();
}

#[tokio::test]
async fn requests_without_a_known_key_are_refused() {
    let store = fixture().await;
    let server = start(&store).await;
    for path in ["/v1/events", "/v1/events/latest", "/v1/events/stream"] {
        let (status, body) = server.get(None, path).await;
        assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{path}");
        assert!(error_message(&body).contains("Authorization"), "{body}");
        let (status, body) = server.get(Some("wrong-key"), path).await;
        assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{path}");
    }
    let response = server
        .client
        .get(format!("{}/v1/events", server.url))
        .header("authorization", format!("Basic {KEY_A}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    server.stop().await;
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_that_names_it() {
    let store = fixture().await;
    let server = start(&store).await;
    let cases = [
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page_size=ten", "page_size"),
        ("page_size=-1", "page_size"),
        ("type=created", "type"),
        ("type=add,", "type"),
        ("source=a%20b", "source"),
        ("source=", "source"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-11-23T09:00:00Z&until=2026-11-23T08:00:00Z",
            "since",
        ),
        ("path_prefix=A", "path_prefix"),
        ("cursor=", "cursor"),
        ("page_size=1&page_size=2", "page_size"),
        ("pagesize=10", "pagesize"),
    ];
    for (query, name) in cases {
        for endpoint in ["/v1/events", "/v1/events/stream"] {
            if endpoint.ends_with("stream") && query.starts_with("page_size") {
                continue;
            }
            let (status, body) = server
                .get(Some(KEY_A), &format!("{endpoint}?{query}"))
                .await;
            assert_eq!(status, 400, "{endpoint}?{query}: {body}");
            assert_eq!(error_code(&body), "invalid_parameter", "{query}");
            assert!(
                error_message(&body).contains(&format!("`{name}`")),
                "{query}: {body}"
            );
        }
    }
    // The stream takes no page size.
    let (status, body) = server
        .get(Some(KEY_A), "/v1/events/stream?page_size=10")
        .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
    server.stop().await;
}

#[tokio::test]
async fn cursors_are_checked() {
    let store = fixture().await;
    let server = start(&store).await;
    let key = store.stream_key("a");
    let cases = [
        ("not-a-cursor".to_owned(), 400, "invalid_cursor"),
        (Cursor::new(key ^ 1, Seq(0)).encode(), 400, "invalid_cursor"),
        // Tenant b's stream, at a position tenant a's has too.
        (
            Cursor::new(store.stream_key("b"), Seq(1)).encode(),
            400,
            "invalid_cursor",
        ),
        // Tenant a's log ends at 10.
        (Cursor::new(key, Seq(11)).encode(), 400, "cursor_ahead"),
    ];
    for (cursor, status, code) in cases {
        for endpoint in ["/v1/events", "/v1/events/stream"] {
            let (got, body) = server
                .get(Some(KEY_A), &format!("{endpoint}?cursor={cursor}"))
                .await;
            assert_eq!((got, error_code(&body)), (status, code), "{cursor}: {body}");
        }
    }
    let (status, body) = server.get(Some(KEY_A), "/v1/events/latest").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"cursor": store.latest("a").await.unwrap().encode()})
    );
    // The latest cursor reads nothing, and is caught up.
    let (status, body) = server
        .get(
            Some(KEY_A),
            &format!("/v1/events?cursor={}", body["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (status, &body["count"], &body["remaining"]),
        (200, &0.into(), &0.into())
    );
    server.stop().await;
}

#[tokio::test]
async fn an_expired_cursor_answers_410_with_the_oldest_cursor() {
    let store = fixture().await;
    let report = store
        .apply_retention(
            Retention {
                max_age: None,
                max_events: Some(5),
            },
            t0() + ChronoDuration::days(1),
        )
        .await
        .unwrap();
    // Each tenant's log keeps 5: a's loses its first 5, b's (5 events) none.
    assert_eq!(report.removed, 5);
    let oldest = store.oldest("a").await.unwrap();
    assert_eq!(oldest, Cursor::new(store.stream_key("a"), Seq(5)));
    let server = start(&store).await;
    let expired = Cursor::new(store.stream_key("a"), Seq(3)).encode();
    for endpoint in ["/v1/events", "/v1/events/stream"] {
        let (status, body) = server
            .get(Some(KEY_A), &format!("{endpoint}?cursor={expired}"))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (410, "cursor_expired"),
            "{body}"
        );
        assert_eq!(body["error"]["oldest_cursor"], oldest.encode().as_str());
    }
    // Without a cursor, reading starts at the oldest retained event.
    assert_eq!(server.all_ids(KEY_A, "").await, a_ids(0..15)[5..]);
    let (_, body) = server.get(Some(KEY_A), "/v1/events").await;
    assert_eq!(seqs(&body), [6, 7, 8, 9, 10]);
    // Tenant b's log was within the limit.
    assert_eq!(
        server.all_ids(KEY_B, "").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_report_api_latency_by_route_in_prometheus_text() {
    let store = fixture().await;
    let server = start(&store).await;
    assert_eq!(
        server.get(Some(KEY_A), "/v1/events?page_size=2").await.0,
        200
    );
    assert_eq!(
        server.get(Some(KEY_A), "/v1/events?page_size=3").await.0,
        200
    );
    let response = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE tributary_api_request_duration_seconds histogram",
        "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 2",
        "tributary_api_request_duration_seconds_count{route=\"/v1/events\"} 2",
        "# TYPE tributary_events_merged_total counter",
        "tributary_events_merged_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // The scrape is timed once it is answered, so it is not in its own text.
    assert!(!text.contains("route=\"/metrics\""), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn health_unknown_routes_and_methods_answer_json() {
    let store = fixture().await;
    let server = start(&store).await;
    assert_eq!(
        server.get(None, "/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(server.get(None, "/readyz").await.0, 200);
    let (status, body) = server.get(Some(KEY_A), "/v1/nothing").await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let response = server
        .client
        .post(format!("{}/v1/events", server.url))
        .bearer_auth(KEY_A)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "method_not_allowed");
    server.stop().await;
}

/// One server-sent event.
#[derive(Debug, Default)]
pub(super) struct Frame {
    pub(super) id: Option<String>,
    pub(super) event: Option<String>,
    pub(super) data: String,
}

impl Frame {
    pub(super) fn event_id(&self) -> String {
        let json: Value = serde_json::from_str(&self.data).unwrap();
        json["id"].as_str().unwrap().to_owned()
    }
}

/// Reads an SSE body incrementally; every wait is bounded.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(server: &Server, query: &str, last_event_id: Option<&str>) -> Self {
        Self::connect(
            &format!("{}/v1/events/stream?{query}", server.url),
            KEY_A,
            last_event_id,
        )
        .await
    }

    /// Opens the stream at `url` (a full `/v1/events/stream` URL) with `key`.
    async fn connect(url: &str, key: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(url).bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        // The client's overall timeout would cut a long stream: this request has none.
        let response = reqwest::Client::new()
            .execute(request.build().unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ends.
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.block().await? {
                return Some(frame);
            }
        }
    }

    /// The next block: `Some(Some(event))`, `Some(None)` for a comment, `None` when the stream
    /// ends.
    async fn block(&mut self) -> Option<Option<Frame>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                let mut fields = false;
                for line in block.lines() {
                    let (name, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                    match name {
                        "id" => frame.id = Some(value),
                        "event" => frame.event = Some(value),
                        "data" => frame.data.push_str(&value),
                        _ => continue,
                    }
                    fields = true;
                }
                if fields {
                    return Some(Some(frame));
                }
                if block.starts_with(':') {
                    return Some(None);
                }
                continue;
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("the stream sends within the wait")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        while frames.len() < n {
            frames.push(self.next().await.expect("the stream goes on"));
        }
        frames
    }
}

#[tokio::test]
async fn the_stream_replays_follows_live_and_resumes_after_last_event_id() {
    let store = fixture().await;
    // No periodic re-read within the test: the live event must come from the notification.
    let server = start_with(
        &store,
        ApiConfig {
            stream_recheck: Duration::from_secs(3600),
            ..ApiConfig::default()
        },
    )
    .await;
    let mut stream = SseReader::open(&server, "", None).await;
    let replay = stream.take(10).await;
    assert_eq!(
        replay.iter().map(Frame::event_id).collect::<Vec<_>>(),
        a_ids(0..15)
    );
    for frame in &replay {
        assert_eq!(frame.event, None);
        let json: Value = serde_json::from_str(&frame.data).unwrap();
        let seq = Seq(json["seq"].as_u64().unwrap());
        assert_eq!(
            frame.id.as_deref(),
            Some(Cursor::new(store.stream_key("a"), seq).encode().as_str())
        );
    }

    // A merge while the stream waits: b's event (in b's log) is not sent, a's is.
    for (tenant, report) in add_events(&store, [20, 21], 2).await {
        server.state.notify_merged(&tenant, report.last);
    }
    let live = stream.next().await.unwrap();
    assert_eq!(live.event_id(), "e21");
    let json: Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(json["seq"], 11);

    // Reconnecting with the id of the fourth event resumes right after it; the header wins over
    // the (older) cursor in the URL.
    let fourth = replay[3].id.clone().unwrap();
    let older = Cursor::new(store.stream_key("a"), Seq(0)).encode();
    let mut resumed = SseReader::open(&server, &format!("cursor={older}"), Some(&fourth)).await;
    let frames = resumed.take(7).await;
    let mut expected = a_ids(0..15)[4..].to_vec();
    expected.push("e21".into());
    assert_eq!(
        frames.iter().map(Frame::event_id).collect::<Vec<_>>(),
        expected
    );
    drop(stream);
    drop(resumed);
    server.stop().await;
}

#[tokio::test]
async fn the_stream_applies_filters_and_ends_at_shutdown() {
    let store = fixture().await;
    let server = start_with(
        &store,
        ApiConfig {
            keep_alive: Duration::from_millis(50),
            ..ApiConfig::default()
        },
    )
    .await;
    let start = Cursor::new(store.stream_key("a"), Seq(2)).encode();
    let mut stream =
        SseReader::open(&server, &format!("cursor={start}&type=delete,move"), None).await;
    let frames = stream.take(2).await;
    assert_eq!(
        frames.iter().map(Frame::event_id).collect::<Vec<_>>(),
        ["e4", "e6"]
    );
    // A keep-alive comment arrives while idle (and is skipped by the reader).
    let comment = tokio::time::timeout(WAIT, stream.response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(comment.starts_with(b":"), "{comment:?}");

    let (stop, task) = (server.stop, server.task);
    let _ = stop.map(|s| s.send(()));
    assert!(stream.next().await.is_none(), "the stream ends at shutdown");
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_deleted_sources_events_stay_in_its_tenants_log_only() {
    // With b1 deleted, tenant a owns every source there is; b1's events stay in tenant b's log
    // (its history) until retention, and never reach a; pages stay full.
    let store = fixture().await;
    assert!(
        store
            .delete_source("b", &SourceId::new("b1").unwrap())
            .await
            .unwrap()
    );
    let server = start(&store).await;
    assert_eq!(server.all_ids(KEY_A, "page_size=3").await, a_ids(0..15));
    let (status, body) = server.get(Some(KEY_A), "/v1/events?page_size=4").await;
    assert_eq!((status, &body["count"]), (200, &4.into()), "{body}");
    assert_eq!(body["remaining"], 6);
    // Tenant b still reads its history, at the same positions; the source is gone.
    assert_eq!(
        server.all_ids(KEY_B, "page_size=2").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
    let (_, body) = server.get(Some(KEY_B), "/v1/events").await;
    assert_eq!(seqs(&body), [1, 2, 3, 4, 5]);
    let (status, body) = server.get(Some(KEY_B), "/v1/events?source=b1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    server.stop().await;
}
