//! The free-space guard, a failing store and the watchdog, with the engine over a guarded store
//! (tokio's paused clock where the engine runs; the watchdog is a thread, on real time).

use super::testing::{Fault, Faulty, FixedSpace};
use super::*;
use crate::engine::{Engine, EngineConfig, TokioClock};
use crate::synthetic::SyntheticProvider;
use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tributary_core::{PollPolicy, SourceId};
use tributary_store::{EventStore, SledStore, SourceRecord, SourceRef, StoreError};

/// Timeouts that paused time never reaches while a test runs (it jumps ahead while the store
/// works on a blocking thread).
const DAY: Duration = Duration::from_secs(86_400);
/// A bound on paused time for conditions that should hold much sooner.
const LIMIT: Duration = Duration::from_secs(3_600);
/// A bound on real time for the watchdog.
const WAIT: Duration = Duration::from_secs(10);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

async fn put_source(store: &SledStore, name: &str) -> SourceRef {
    store
        .put_source(SourceRecord {
            id: SourceId::new(name).unwrap(),
            tenant: "t".into(),
            incarnation: 0,
            provider: "synthetic".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: start(),
        })
        .await
        .unwrap()
}

/// An engine over `inner` behind a guard reporting to `health`, running one synthetic source of
/// 30 events (10 a page); answers the engine, the guarded store, the source and a stop trigger.
async fn engine_over(
    inner: Arc<dyn EventStore>,
    sled: &SledStore,
    health: &Arc<StoreHealth>,
) -> (
    Engine,
    Arc<dyn EventStore>,
    SourceRef,
    tokio::sync::oneshot::Sender<()>,
) {
    let guarded: Arc<dyn EventStore> = Arc::new(GuardedStore::new(inner, health.clone(), DAY, DAY));
    let engine = Engine::new(
        guarded.clone(),
        Arc::new(TokioClock::new(start())),
        EngineConfig {
            shutdown_grace: None,
            ..EngineConfig::default()
        },
    );
    engine.set_storage(health.clone());
    let source = put_source(sled, "s1").await;
    let provider = SyntheticProvider::new(source.id.clone(), 7, start(), 30, 10);
    let policy = PollPolicy {
        min_interval_ms: 1_000,
        max_interval_ms: 8_000,
        multiplier: 2.0,
        jitter: 0.0,
    };
    engine
        .add_source(source.clone(), Arc::new(provider), policy)
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = engine.clone();
    tokio::spawn(async move {
        running
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    (engine, guarded, source, stop)
}

/// Advances paused time in steps until `done` holds, or fails after `limit`.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn ingest_pauses_under_min_free_bytes_and_resumes_when_space_returns() {
    let sled = SledStore::temporary().unwrap();
    let health = StoreHealth::new(1_000, DAY);
    let fixed = FixedSpace::new(999);
    let space: Arc<dyn FreeSpace> = fixed.clone();
    // Measured before the source starts: its first poll is due at once.
    let guarded: Arc<dyn EventStore> = Arc::new(sled.clone());
    monitor::check(guarded.as_ref(), &health, &space).await;
    let (engine, guarded, source, stop) = engine_over(Arc::new(sled.clone()), &sled, &health).await;

    // A minute of (paused) time: no poll starts, the status says why.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let status = engine.status(source.incarnation).unwrap();
    assert_eq!(status.polls, 0);
    assert_eq!(
        status.storage,
        Some(StorageBlock::LowSpace {
            free_bytes: 999,
            min_free_bytes: 1_000
        })
    );
    assert_eq!(status.storage.as_ref().unwrap().code(), "storage_low");
    let snapshot = health.snapshot();
    assert!(snapshot.ingest_paused && !snapshot.failing);
    assert_eq!(
        (snapshot.free_bytes, snapshot.low_space_pauses),
        (Some(999), 1)
    );

    // Space returns (exactly the minimum is enough): polling resumes by itself and drains.
    fixed.set(1_000);
    monitor::check(guarded.as_ref(), &health, &space).await;
    until(LIMIT, || {
        engine
            .status(source.incarnation)
            .is_some_and(|s| s.events_ingested == 30)
    })
    .await;
    assert_eq!(engine.status(source.incarnation).unwrap().storage, None);
    assert!(!health.snapshot().ingest_paused);
    let _ = stop.send(());
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_pauses_polling_and_a_probe_write_resumes_it() {
    let sled = SledStore::temporary().unwrap();
    let faulty = Faulty::new(sled.clone());
    faulty.set(Fault::DiskFull);
    let health = StoreHealth::new(0, DAY);
    let (engine, guarded, source, stop) = engine_over(faulty.clone(), &sled, &health).await;
    until(LIMIT, || {
        engine
            .status(source.incarnation)
            .is_some_and(|s| s.polls == 1)
    })
    .await;
    let status = engine.status(source.incarnation).unwrap();
    let Some(StorageBlock::StoreUnavailable { reason }) = &status.storage else {
        panic!("status.storage: {:?}", status.storage);
    };
    // The first write to fail (the first merge tick's, or the poll's ingest) says so.
    assert!(reason.starts_with("the disk is full ("), "{reason}");
    assert!(
        reason.ends_with("No space left on device (os error 28))"),
        "{reason}"
    );
    assert_eq!(status.storage.as_ref().unwrap().code(), "store_unavailable");
    assert!(health.failure().unwrap().disk_full);

    // Ten minutes of (paused) time: no other poll, no merge reaches the store, nothing written.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(engine.status(source.incarnation).unwrap().polls, 1);
    assert_eq!(faulty.writes.load(std::sync::atomic::Ordering::Relaxed), 0);
    // A write from elsewhere (the API) is refused at once, without reaching the store.
    let refused = guarded.put_source(SourceRecord {
        id: SourceId::new("s2").unwrap(),
        tenant: "t".into(),
        incarnation: 0,
        provider: "synthetic".into(),
        config: serde_json::json!({}),
        credentials: serde_json::json!({}),
        paused: false,
        created_at: start(),
    });
    assert!(matches!(refused.await, Err(StoreError::Unavailable { .. })));
    // Only the writes started before the first failure reached the store (the first merge tick
    // and the first ingest, started together); every later one was refused.
    assert_eq!(health.snapshot().write_failures, 2);

    // The disk has room again: the monitor's probe write heals the store, polling resumes.
    faulty.set(Fault::None);
    let space: Arc<dyn FreeSpace> = FixedSpace::new(u64::MAX);
    monitor::check(guarded.as_ref(), &health, &space).await;
    assert_eq!(health.failure(), None);
    until(LIMIT, || {
        engine
            .status(source.incarnation)
            .is_some_and(|s| s.events_ingested == 30)
    })
    .await;
    assert_eq!(engine.status(source.incarnation).unwrap().storage, None);
    let _ = stop.send(());
}

fn watchdog(health: &Arc<StoreHealth>) -> (Watchdog, std::sync::mpsc::Receiver<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let on_fatal: OnFatal = Arc::new(move |message| {
        let _ = tx.send(message);
    });
    let dog = Watchdog::start(health.clone(), Duration::from_millis(50), on_fatal).unwrap();
    (dog, rx)
}

#[test]
fn the_watchdog_gives_up_on_a_write_stuck_past_exit_after() {
    let health = StoreHealth::new(0, Duration::from_secs(5));
    let _stuck = health.write_started();
    let (_dog, fatal) = watchdog(&health);
    let message = fatal.recv_timeout(WAIT).unwrap();
    assert!(
        message.starts_with("a store write has been stuck for 0s ([storage] exit_after = 0s)"),
        "{message}"
    );
    // Once only.
    assert!(fatal.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn the_watchdog_gives_up_on_writes_failing_past_exit_after() {
    let health = StoreHealth::new(0, Duration::from_secs(5));
    health.write_failed(
        "ingest",
        &StoreError::Storage {
            context: "flushing to disk",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        },
    );
    let (_dog, fatal) = watchdog(&health);
    let message = fatal.recv_timeout(WAIT).unwrap();
    assert!(
        message.starts_with("store writes have failed for 0s ([storage] exit_after = 0s): the disk is full (ingest: storage failure (flushing to disk): "),
        "{message}"
    );
}
