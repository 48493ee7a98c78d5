//! The server end to end: both simulators, `serve`'s start-up path, the engine and the HTTP API,
//! read over HTTP as a user would. Real time, so every wait is a bounded poll.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_cli::tail::Tail;
use tributary_core::{Event, EventType, SystemClock};
use tributary_server::api::{AdminKeyEntry, KeyEntry};
use tributary_server::config::{
    EngineSection, MetricsAuth, MetricsSection, NetworkSection, RetentionSection, ServerConfig,
    SourceEntry,
};
use tributary_server::serve::{serve, start};
use tributary_sim::egnyte::{EgnyteSim, EgnyteSimConfig, ThrottleMode};
use tributary_sim::jive::{JiveFault, JiveSim, JiveSimConfig};

const KEY: &str = "e2e-key";
const PATIENCE: Duration = Duration::from_secs(30);

struct Upstreams {
    egnyte: EgnyteSim,
    egnyte_url: String,
    jive: JiveSim,
    jive_url: String,
    _stop: tokio::sync::broadcast::Sender<()>,
}

async fn upstreams(backlog: usize) -> Upstreams {
    let clock = Arc::new(SystemClock);
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let until = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let egnyte_url = format!("http://{}", l.local_addr().unwrap());
    let egnyte = EgnyteSim::new(
        EgnyteSimConfig {
            backlog,
            seed: 5,
            throttle: ThrottleMode::Off,
            daily_quota: None,
            ..EgnyteSimConfig::default()
        },
        clock.clone(),
    );
    tokio::spawn(egnyte.clone().serve(l, until(&stop)));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jive_url = format!("http://{}", l.local_addr().unwrap());
    let jive = JiveSim::new(
        JiveSimConfig {
            items: backlog,
            seed: 5,
            ..JiveSimConfig::new("u", "p")
        },
        clock,
    );
    tokio::spawn(jive.clone().serve(l, until(&stop)));
    Upstreams {
        egnyte,
        egnyte_url,
        jive,
        jive_url,
        _stop: stop,
    }
}

fn config(dir: &Path, up: &Upstreams, max_delay_ms: u64) -> ServerConfig {
    let fast = serde_json::json!({"min_interval_ms": 100, "max_interval_ms": 300, "multiplier": 2.0, "jitter": 0.0});
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        engine: EngineSection {
            max_concurrent_polls: 8,
            merge_max_delay_ms: max_delay_ms,
            merge_interval_ms: 100,
            shutdown_grace_ms: 10_000,
        },
        providers: [(
            "egnyte".to_owned(),
            serde_json::json!({"calls_per_second": 1000}),
        )]
        .into(),
        keys: vec![KeyEntry::new("t", KEY)],
        admin_keys: Vec::new(),
        retention: Default::default(),
        metrics: Default::default(),
        // The simulators listen on 127.0.0.1: allowed explicitly, as an operator would.
        network: NetworkSection {
            allow_private: vec!["127.0.0.1/32".into()],
        },
        limits: Default::default(),
        secrets: Default::default(),
        webhooks: Default::default(),
        // A test must not pause because the machine running it has little disk left.
        storage: tributary_server::config::StorageSection {
            min_free_bytes: 0,
            ..Default::default()
        },
        sources: vec![
            SourceEntry {
                id: "egnyte-1".into(),
                tenant: "t".into(),
                provider: "egnyte".into(),
                // Egnyte stamps whole seconds: the skew must cover one.
                config: serde_json::json!({"base_url": up.egnyte_url, "start": "oldest",
                    "suppress": "none", "watermark_skew_ms": 1500, "poll": fast}),
                credentials: serde_json::json!({"kind": "bearer", "token": "test-token"}),
                paused: false,
            },
            SourceEntry {
                id: "jive-1".into(),
                tenant: "t".into(),
                provider: "jive".into(),
                config: serde_json::json!({"base_url": up.jive_url, "start": "backfill",
                    "skew_ms": 300, "poll": fast}),
                credentials: serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
                paused: false,
            },
        ],
    }
}

struct Server {
    api: String,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<Result<(), tributary_server::serve::ServeError>>,
}

async fn run_server(config: &ServerConfig) -> Server {
    let started = start(
        config,
        Arc::new(SystemClock),
        tributary_cli::providers::factories(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(serve(started, listener, async {
        let _ = stopped.await;
    }));
    Server { api, stop, running }
}

impl Server {
    async fn shut_down(self) {
        let _ = self.stop.send(());
        self.running.await.unwrap().unwrap();
    }
}

/// Every event after `cursor`, paging until nothing remains.
async fn read_all(tail: &Tail, mut cursor: Option<String>) -> (Vec<Event>, Option<String>) {
    let mut out = Vec::new();
    loop {
        let page = tail.page(cursor.as_deref(), 7).await.unwrap();
        out.extend(page.objects);
        cursor = Some(page.cursor);
        if page.remaining == 0 {
            return (out, cursor);
        }
    }
}

/// Reads until `done` says the events so far are complete, or fails after [`PATIENCE`].
async fn read_until(tail: &Tail, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let began = Instant::now();
    loop {
        let (events, _) = read_all(tail, None).await;
        if done(&events) {
            return events;
        }
        assert!(
            began.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} with {} events",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(events: &[Event], source: &str) -> usize {
    events
        .iter()
        .filter(|e| e.source.as_str() == source)
        .count()
}

fn assert_once_and_sorted(events: &[Event]) {
    let ids: HashSet<_> = events
        .iter()
        .map(|e| (e.source.clone(), e.id.clone()))
        .collect();
    assert_eq!(ids.len(), events.len(), "an event repeats");
    for w in events.windows(2) {
        assert!(
            w[0].occurred_at <= w[1].occurred_at || w[1].late,
            "out of order: {} then {}",
            w[0].occurred_at,
            w[1].occurred_at
        );
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq.unwrap().get()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_interleave_into_one_ordered_stream() {
    let up = upstreams(20).await;
    let dir = tempfile::tempdir().unwrap();
    let server = run_server(&config(dir.path(), &up, 60_000)).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    let place = up.jive.places()[0].place_id;
    for round in 0..3 {
        up.egnyte.generate(5);
        for i in 0..3 {
            up.jive
                .create("document", &format!("r{round} d{i}"), place)
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let egnyte_total = up.egnyte.log().len();
    let jive_total = up.jive.contents_count();
    assert_eq!(jive_total, 29);
    let events = read_until(&tail, |e| {
        count(e, "egnyte-1") == egnyte_total && count(e, "jive-1") == jive_total
    })
    .await;
    assert_once_and_sorted(&events);
    assert!(
        events.iter().all(|e| !e.late),
        "nothing is late with honest watermarks"
    );
    let egnyte_ids: HashSet<String> = events
        .iter()
        .filter(|e| e.provider == "egnyte")
        .map(|e| e.upstream.id.clone())
        .collect();
    let logged: HashSet<String> = up.egnyte.log().iter().map(|l| l.id().to_string()).collect();
    assert_eq!(egnyte_ids, logged, "every Egnyte event, once");
    assert!(
        events
            .iter()
            .filter(|e| e.provider == "jive")
            .all(|e| e.event_type == EventType::Add)
    );
    // Interleaved: the providers alternate in the stream, not one block after the other.
    let switches = events
        .windows(2)
        .filter(|w| w[0].provider != w[1].provider)
        .count();
    assert!(switches >= 4, "{switches} switches between providers");
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_holds_the_stream_back_no_longer_than_max_delay() {
    let up = upstreams(0).await;
    // Jive fails every call from the start: it never gives a watermark.
    up.jive.inject(JiveFault::status(500, None, u32::MAX));
    let dir = tempfile::tempdir().unwrap();
    let server = run_server(&config(dir.path(), &up, 1_000)).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    up.egnyte.generate(10);
    let began = Instant::now();
    let events = read_until(&tail, |e| count(e, "egnyte-1") == 10).await;
    // The events are at most a second old when generated; with a 1 s max delay they flow while
    // Jive is down (without the bound they would wait for Jive forever).
    assert!(began.elapsed() < Duration::from_secs(15));
    assert_once_and_sorted(&events);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_stream_keeps_cursors_valid_and_loses_nothing() {
    let up = upstreams(15).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &up, 60_000);
    let server = run_server(&config).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    let first = read_until(&tail, |e| {
        count(e, "egnyte-1") == 15 && count(e, "jive-1") == 15
    })
    .await;
    let (_, cursor) = read_all(&tail, None).await;
    server.shut_down().await;

    // While it is down, both upstreams change.
    up.egnyte.generate(8);
    let place = up.jive.places()[1].place_id;
    for i in 0..4 {
        up.jive
            .create("file", &format!("while down {i}"), place)
            .unwrap();
    }
    let egnyte_total = up.egnyte.log().len();

    let server = run_server(&config).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    let began = Instant::now();
    let rest = loop {
        let (rest, _) = read_all(&tail, cursor.clone()).await;
        let all: Vec<Event> = first.iter().chain(&rest).cloned().collect();
        if count(&all, "egnyte-1") == egnyte_total && count(&all, "jive-1") == 19 {
            break rest;
        }
        assert!(
            began.elapsed() < PATIENCE,
            "{} events after the restart",
            rest.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        rest.len(),
        8 + 4,
        "exactly the changes made while it was down"
    );
    let all: Vec<Event> = first.iter().chain(&rest).cloned().collect();
    assert_once_and_sorted(&all);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_resumes_after_the_last_event_id() {
    let up = upstreams(10).await;
    let dir = tempfile::tempdir().unwrap();
    let server = run_server(&config(dir.path(), &up, 60_000)).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    let all = read_until(&tail, |e| e.len() == 20).await;

    let mut first = Vec::new();
    let mut last_id = None;
    tokio::time::timeout(
        PATIENCE,
        tail.follow(None, |e, id| {
            first.push(e.id.clone());
            last_id = Some(id.to_owned());
            first.len() < 5
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(
        PATIENCE,
        tail.follow(last_id, |e, _| {
            rest.push(e.id.clone());
            rest.len() < 15
        }),
    )
    .await
    .unwrap()
    .unwrap();
    let resumed: Vec<_> = first.into_iter().chain(rest).collect();
    assert_eq!(
        resumed,
        all.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    );
    server.shut_down().await;
}

const ADMIN_KEY: &str = "e2e-admin";

/// `GET /metrics` with `key`: the status and the body.
async fn scrape(api: &str, key: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(format!("{api}/metrics"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the sample `name` (no labels) in a Prometheus text body.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_take_an_admin_key_unless_configured_open() {
    let up = upstreams(0).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &up, 60_000);
    config.admin_keys = vec![AdminKeyEntry::new(ADMIN_KEY)];
    assert_eq!(config.metrics.auth, MetricsAuth::Admin, "the default");
    let server = run_server(&config).await;
    let (status, body) = scrape(&server.api, None).await;
    assert_eq!(status, 401, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "unauthorized", "{body}");
    let (status, body) = scrape(&server.api, Some(KEY)).await;
    assert_eq!(status, 403, "a tenant's key: {body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "admin_key_required", "{body}");
    let (status, body) = scrape(&server.api, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tributary_source_up{tenant=\"t\",source=\"egnyte-1\"}"));
    server.shut_down().await;

    config.metrics = MetricsSection {
        auth: MetricsAuth::Open,
    };
    let server = run_server(&config).await;
    let (status, body) = scrape(&server.api, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE tributary_retention_removed_total counter"));
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_applies_retention_periodically_and_reports_it() {
    let up = upstreams(20).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &up, 60_000);
    config.admin_keys = vec![AdminKeyEntry::new(ADMIN_KEY)];
    config.retention = RetentionSection {
        max_events: Some(5),
        interval: Duration::from_secs(1),
        ..RetentionSection::default()
    };
    let server = run_server(&config).await;
    let tail = Tail::new(&server.api, KEY, Vec::new()).unwrap();
    let began = Instant::now();
    // Until both backlogs are merged and a pass has come after the last merge: the log then
    // holds the newest five, and the metrics count the rest as removed.
    loop {
        let (_, text) = scrape(&server.api, Some(ADMIN_KEY)).await;
        let merged = sample(&text, "tributary_events_merged_total").unwrap();
        let removed = sample(&text, "tributary_retention_removed_total").unwrap();
        let passes = sample(&text, "tributary_retention_passes_total").unwrap();
        // One page from the oldest kept event: a cursor between pages could fall behind a pass.
        let events = tail.page(None, 100).await.unwrap().objects;
        if merged >= 40 && removed + 5 == merged && events.len() == 5 {
            assert!(passes >= 1);
            assert!(
                sample(&text, "tributary_retention_last_pass_timestamp_seconds").is_some(),
                "{text}"
            );
            assert_once_and_sorted(&events);
            break;
        }
        assert!(
            began.elapsed() < PATIENCE,
            "merged {merged}, removed {removed}, {} events left, {passes} passes",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_allows_no_loopback_upstream_unless_configured() {
    let up = upstreams(5).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &up, 60_000);
    config.network = NetworkSection::default();
    let e = match start(
        &config,
        Arc::new(SystemClock),
        tributary_cli::providers::factories(),
    )
    .await
    {
        Ok(_) => panic!("a configured source on 127.0.0.1 started without allow_private"),
        Err(e) => e,
    };
    assert_eq!(
        e.to_string(),
        "source egnyte-1: address not allowed: 127.0.0.1 is a loopback address"
    );
}
