//! The API over a guarded store whose writes fail or hang: every request answers within its
//! bound, `/readyz` says why it is not ready, `/metrics` shows `tributary_storage_*`.

use super::*;
use crate::engine::SourceStatus;
use crate::storage::testing::{Fault, Faulty, FixedSpace};
use crate::storage::{FreeSpace, GuardedStore, StorageBlock, StoreHealth, monitor};
use tributary_store::{EventStore, SourceRef};

const READ_TIMEOUT: Duration = Duration::from_millis(200);
const WRITE_TIMEOUT: Duration = Duration::from_millis(400);

/// The fixture behind a guard, the faulty double between them.
async fn guarded_api() -> (
    Api,
    Arc<Faulty>,
    Arc<StoreHealth>,
    Arc<dyn EventStore>,
    SledStore,
) {
    let sled = fixture().await;
    let faulty = Faulty::new(sled.clone());
    let health = StoreHealth::new(0, READ_TIMEOUT);
    let store: Arc<dyn EventStore> = Arc::new(GuardedStore::new(
        faulty.clone(),
        health.clone(),
        READ_TIMEOUT,
        WRITE_TIMEOUT,
    ));
    let keys = ApiKeys::new([KeyEntry::new("a", KEY_A)]).unwrap();
    let state = ApiState::with_config(store.clone(), keys, ApiConfig::default())
        .with_storage(health.clone());
    (Api::new(state), faulty, health, store, sled)
}

/// A page of one new event of source `a1`.
async fn one_more_page(sled: &SledStore) -> (SourceRef, Page) {
    let a1 = sled
        .source("a", &SourceId::new("a1").unwrap())
        .unwrap()
        .unwrap()
        .source_ref();
    let page = page(vec![event(15 * 3, t0() + ChronoDuration::seconds(45))], 2);
    (a1, page)
}

/// Waits (real time, bounded) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "not reached in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn metric(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_owned))
}

async fn metrics_text(api: &Api) -> String {
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let (status, _, bytes) = api.send(request).await;
    assert_eq!(status, 200);
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_hanging_write_costs_503s_within_the_bound_and_the_store_heals_when_it_finishes() {
    let (api, faulty, health, store, sled) = guarded_api().await;
    assert_eq!(api.get(None, "/readyz").await.0, 200);

    // A write hangs, as sled's did on a full disk (and, behind it, its reads).
    faulty.set(Fault::Hang);
    let (a1, page) = one_more_page(&sled).await;
    let ingest = {
        let store = store.clone();
        tokio::spawn(async move { store.ingest(&a1, page).await })
    };
    let began = std::time::Instant::now();
    let refused = ingest.await.unwrap().unwrap_err();
    assert!(began.elapsed() < WAIT);
    assert_eq!(
        refused.to_string(),
        "the store is unavailable: ingest did not finish within 0.4s"
    );
    until(|| health.stuck()).await;

    let (status, body) = api.get(None, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(
        body["error"]["message"],
        "the event store is unavailable: ingest did not finish within 0.4s"
    );
    // A read waits at most read_timeout on a blocking thread, then answers 503.
    let began = std::time::Instant::now();
    let (status, body) = api.get(Some(KEY_A), "/v1/events").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable"))
    );
    assert!(began.elapsed() >= READ_TIMEOUT && began.elapsed() < WAIT);
    let (status, body) = api.get(Some(KEY_A), "/v1/events/latest").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("store_unavailable"))
    );
    // The synchronous reads behind /metrics are refused, not waited on (the double panics if
    // one reaches it); the scrape answers with the store's state.
    let text = metrics_text(&api).await;
    assert_eq!(
        metric(&text, "tributary_storage_failing").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "tributary_storage_ingest_paused").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "tributary_storage_timeouts_total").as_deref(),
        Some("3")
    );

    // The write finishes after all: the store heals, reads answer again.
    faulty.set(Fault::None);
    until(|| health.unavailable().is_none()).await;
    assert_eq!(api.get(None, "/readyz").await.0, 200);
    assert_eq!(api.all_ids(KEY_A, "page_size=100").await.len(), 10);
    let text = metrics_text(&api).await;
    assert_eq!(
        metric(&text, "tributary_storage_failing").as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn a_full_disk_makes_readyz_503_while_reads_still_answer_until_a_probe_write_heals_it() {
    let (api, faulty, health, store, sled) = guarded_api().await;
    faulty.set(Fault::DiskFull);
    let (a1, page) = one_more_page(&sled).await;
    let refused = store.ingest(&a1, page).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "storage failure (ingest): No space left on device (os error 28)"
    );
    let (status, body) = api.get(None, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"]["message"],
        "the event store is unavailable: the disk is full (ingest: storage failure (ingest): \
         No space left on device (os error 28))"
    );
    // What is on disk is still served: on a blocking thread, within read_timeout.
    assert_eq!(api.all_ids(KEY_A, "page_size=100").await.len(), 10);
    let text = metrics_text(&api).await;
    assert_eq!(
        metric(&text, "tributary_storage_write_failures_total").as_deref(),
        Some("1")
    );

    // Still full: the probe fails and the store stays unavailable.
    let space: Arc<dyn FreeSpace> = FixedSpace::new(1 << 30);
    monitor::check(store.as_ref(), &health, &space).await;
    assert_eq!(api.get(None, "/readyz").await.0, 503);
    // Space freed: the next probe write heals it.
    faulty.set(Fault::None);
    monitor::check(store.as_ref(), &health, &space).await;
    assert_eq!(api.get(None, "/readyz").await.0, 200);
    let text = metrics_text(&api).await;
    assert_eq!(
        metric(&text, "tributary_storage_write_failures_total").as_deref(),
        Some("2")
    );
    assert_eq!(
        metric(&text, "tributary_storage_free_bytes").as_deref(),
        Some("1073741824")
    );
}

#[tokio::test]
async fn a_sources_status_says_why_ingest_is_held_back() {
    let sled = fixture().await;
    let record = sled
        .source("a", &SourceId::new("a1").unwrap())
        .unwrap()
        .unwrap();
    for (block, code, message) in [
        (
            StorageBlock::StoreUnavailable {
                reason: "the disk is full".into(),
            },
            "store_unavailable",
            "ingest is paused: the store is unavailable (the disk is full)",
        ),
        (
            StorageBlock::LowSpace {
                free_bytes: 10,
                min_free_bytes: 20,
            },
            "storage_low",
            "ingest is paused: 10 bytes free in the data directory, under [storage] \
             min_free_bytes = 20; it resumes when space returns",
        ),
    ] {
        let status = SourceStatus {
            storage: Some(block),
            ..SourceStatus::default()
        };
        let body =
            crate::api::source_json::body(&sled, record.clone(), Some(status), t0()).unwrap();
        let json = serde_json::to_value(body).unwrap();
        assert_eq!(
            json["status"]["storage"],
            serde_json::json!({"code": code, "message": message})
        );
        let schema = serde_json::json!({"$ref": "#/components/schemas/StatusBody"});
        let errors = Document::served().errors("a source's status", &schema, &json["status"]);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
