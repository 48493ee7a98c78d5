//! Webhook delivery survives `SIGKILL`: `tributary serve` (as `tributary-child`) is killed
//! mid-delivery again and again, and the receiver still ends with every event of the log, in
//! order, duplicates only of whole batches re-sent under their `webhook-id` (at least once).
//!
//! The subscription is written into the store before the first start (its record and its start
//! position, opened with the same key file the server uses), as the subscriptions API would.
//! And in process: `serve` wakes the dispatcher on the engine's merges.

use crate::process::{api_url, serve, signal, stderr, wait};
use chrono::{TimeZone, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tributary_core::{
    Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, Seq, SourceId, Upstream,
    Watermark,
};
use tributary_store::{
    DeliveryMode, DeliveryState, EventStore, SigningSecrets, SledStore, SourceRecord,
    SubscriptionRecord,
};

const PATIENCE: Duration = Duration::from_secs(30);
const EVENTS: u32 = 300;
const KILLS: usize = 20;

fn event(k: u32) -> Event {
    let at =
        Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap() + chrono::Duration::seconds(k.into());
    Event {
        id: EventId::new(format!("e{k}")).unwrap(),
        seq: None,
        source: SourceId::new("s1").unwrap(),
        provider: "test".into(),
        event_type: EventType::Add,
        occurred_at: at,
        observed_at: at,
        object: Object::new(format!("o{k}"), ObjectKind::File, format!("f{k}")),
        previous: None,
        actor: None,
        upstream: Upstream {
            id: format!("u{k}"),
            action: "create".into(),
            raw: None,
        },
        late: false,
    }
}

/// A log of [`EVENTS`] events in tenant `t` and a subscription to `url` (two events a batch).
async fn fill(data: &std::path::Path, url: &str) {
    let store = SledStore::open(data).unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
    let source = SourceId::new("s1").unwrap();
    store
        .put_source(SourceRecord {
            id: source.clone(),
            tenant: "t".into(),
            incarnation: 0,
            provider: "test".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            // Not polled: the log is what is written here.
            paused: true,
            created_at: t0,
        })
        .await
        .unwrap();
    let record = store.source("t", &source).unwrap().unwrap();
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": 1})).unwrap();
    let watermark = Watermark::new(t0 + chrono::Duration::days(1));
    let events = (1..=EVENTS).map(event).collect();
    store
        .ingest(
            &record.source_ref(),
            Page::new(events, checkpoint, Some(watermark), false),
        )
        .await
        .unwrap();
    store
        .merge_tenants(vec![("t".into(), t0 + chrono::Duration::days(1))])
        .await
        .unwrap();
    store
        .put_subscription(SubscriptionRecord {
            id: "sub_kill".into(),
            tenant: "t".into(),
            url: url.into(),
            secrets: SigningSecrets {
                current: tributary_server::webhooks::signature::generate_secret().unwrap(),
                previous: None,
            },
            filter: Default::default(),
            mode: DeliveryMode::Full,
            max_batch: 2,
            description: None,
            paused: false,
            disabled: None,
            created_at: t0,
        })
        .await
        .unwrap();
    store
        .set_delivery("sub_kill", DeliveryState::default())
        .await
        .unwrap();
}

/// The requests the receiver got: `(webhook-id, seqs)`, in arrival order.
async fn received(receiver: &wiremock::MockServer) -> Vec<(String, Vec<u64>)> {
    receiver
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let id = r
                .headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let seqs = body["data"]["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .collect();
            (id, seqs)
        })
        .collect()
}

async fn wait_for_requests(receiver: &wiremock::MockServer, at_least: usize) {
    let began = Instant::now();
    while received(receiver).await.len() < at_least {
        assert!(began.elapsed() < PATIENCE, "fewer than {at_least} requests");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_twenty_times_loses_no_event_and_keeps_the_order() {
    let receiver = wiremock::MockServer::start().await;
    // A little slow, so kills land while a request is in flight as well as between them.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_millis(15)))
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fill(&data, &format!("{}/hook", receiver.uri())).await;
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = {data:?}
[network]
allow_private = ["127.0.0.1/32"]
[webhooks]
retry_schedule = ["100ms"]
jitter = 0.0
"#
        ),
    )
    .unwrap();

    for run in 0..KILLS {
        let before = received(&receiver).await.len();
        let mut child = serve(Some(&config), &[("TRIBUTARY_LOG", "warn".into())]);
        let _api = api_url(&mut child).await;
        wait_for_requests(&receiver, before + 2).await;
        child.kill().unwrap();
        let status = wait(&mut child).await;
        assert!(!status.success(), "run {run}: {status}");
    }
    let mut child = serve(Some(&config), &[("TRIBUTARY_LOG", "warn".into())]);
    let _api = api_url(&mut child).await;
    let began = Instant::now();
    while !received(&receiver)
        .await
        .iter()
        .any(|(_, seqs)| seqs.last() == Some(&u64::from(EVENTS)))
    {
        assert!(began.elapsed() < PATIENCE, "the last event never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal(&child, "TERM");
    let status = wait(&mut child).await;
    let log = stderr(&mut child);
    assert!(status.success(), "{status}: {log}");

    // Every event, in order: each request either starts right after the highest position seen
    // or repeats an earlier request exactly (same webhook-id, same positions).
    let got = received(&receiver).await;
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    let mut highest = 0u64;
    let mut repeats = 0;
    for (id, seqs) in &got {
        assert!(!seqs.is_empty() && seqs.len() <= 2, "{seqs:?}");
        match seen.get(id) {
            Some(before) => {
                assert_eq!(before, seqs, "{id} re-sent with other positions");
                repeats += 1;
            }
            None => {
                let expected: Vec<u64> = (highest + 1..=highest + seqs.len() as u64).collect();
                assert_eq!(seqs, &expected, "a gap or a reordering after {highest}");
                seen.insert(id.clone(), seqs.clone());
            }
        }
        highest = highest.max(*seqs.last().unwrap());
    }
    assert_eq!(highest, u64::from(EVENTS));
    assert!(got.len() >= (EVENTS / 2) as usize);
    assert!(repeats <= KILLS, "{repeats} repeats for {KILLS} kills");
    let store = SledStore::open(&data).unwrap();
    let state = store.delivery("sub_kill").unwrap().unwrap();
    // The drain abandons a request in flight: the last batch is acknowledged, or still pending
    // under the id the receiver saw (it goes again after the next start).
    match state.batch {
        None => assert_eq!(state.delivered, Seq(u64::from(EVENTS))),
        Some(batch) => {
            let (last_id, last_seqs) = got.last().unwrap();
            assert_eq!(&batch.webhook_id, last_id);
            assert_eq!(batch.last, Seq(u64::from(EVENTS)));
            assert_eq!(state.delivered.get() + 1, last_seqs[0]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_wakes_the_dispatcher_on_merges_and_delivers_what_the_engine_polled() {
    use std::sync::Arc;
    use tributary_core::SystemClock;
    use tributary_server::config::{EngineSection, NetworkSection, SourceEntry};
    use tributary_sim::jive::{JiveSim, JiveSimConfig};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jive_url = format!("http://{}", listener.local_addr().unwrap());
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 12,
            seed: 7,
            ..JiveSimConfig::new("u", "p")
        },
        Arc::new(SystemClock),
    );
    let (stop_jive, jive_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(jive.serve(listener, async {
        let _ = jive_stopped.await;
    }));
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let fast = serde_json::json!({"min_interval_ms": 100, "max_interval_ms": 300, "multiplier": 2.0, "jitter": 0.0});
    let config = tributary_server::config::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        engine: EngineSection {
            max_concurrent_polls: 4,
            merge_max_delay_ms: 500,
            merge_interval_ms: 100,
            shutdown_grace_ms: 10_000,
        },
        providers: [(
            "egnyte".to_owned(),
            serde_json::json!({"calls_per_second": 100}),
        )]
        .into(),
        keys: Vec::new(),
        admin_keys: Vec::new(),
        sources: vec![SourceEntry {
            id: "jive-1".into(),
            tenant: "t".into(),
            provider: "jive".into(),
            config: serde_json::json!({"base_url": jive_url, "start": "backfill",
                "skew_ms": 300, "poll": fast}),
            credentials: serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
            paused: false,
        }],
        retention: Default::default(),
        metrics: Default::default(),
        network: NetworkSection {
            allow_private: vec!["127.0.0.1/32".into()],
        },
        limits: Default::default(),
        secrets: Default::default(),
        storage: tributary_server::config::StorageSection {
            min_free_bytes: 0,
            ..Default::default()
        },
        webhooks: Default::default(),
    };
    let started = tributary_server::serve::start(
        &config,
        Arc::new(SystemClock),
        tributary_cli::providers::factories(),
    )
    .await
    .unwrap();
    let t0 = Utc::now();
    started
        .store
        .put_subscription(SubscriptionRecord {
            id: "sub_live".into(),
            tenant: "t".into(),
            url: format!("{}/hook", receiver.uri()),
            secrets: SigningSecrets {
                current: tributary_server::webhooks::signature::generate_secret().unwrap(),
                previous: None,
            },
            filter: Default::default(),
            mode: DeliveryMode::Full,
            max_batch: 5,
            description: None,
            paused: false,
            disabled: None,
            created_at: t0,
        })
        .await
        .unwrap();
    started
        .store
        .set_delivery("sub_live", DeliveryState::default())
        .await
        .unwrap();
    let store = started.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(tributary_server::serve::serve(started, listener, async {
        let _ = stopped.await;
    }));

    let began = Instant::now();
    loop {
        let seqs: Vec<u64> = received(&receiver)
            .await
            .into_iter()
            .flat_map(|(_, seqs)| seqs)
            .collect();
        if seqs.len() >= 12 {
            assert_eq!(seqs, (1..=12).collect::<Vec<u64>>());
            break;
        }
        assert!(began.elapsed() < PATIENCE, "delivered so far: {seqs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    let _ = stop_jive.send(());
    assert_eq!(
        store.delivery("sub_live").unwrap().unwrap().delivered,
        Seq(12)
    );
}
