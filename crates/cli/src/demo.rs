//! `tributary demo`: the whole engine on a laptop. It starts an Egnyte and a Jive simulator with
//! a steady workload, a store in a temporary directory, one source for each, the engine and the
//! HTTP API, prints `api <url> key <key>` as its first line, and tails the unified stream over the
//! API's live stream: ordered events from two providers within seconds. It also subscribes a
//! small receiver of its own to the tenant's webhooks (`POST /v1/subscriptions`), prints each
//! signed delivery it gets, and checks that every signature is valid and positions come in order.

use crate::tail::{Tail, TailError, line};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::SystemClock;
use tributary_server::api::KeyEntry;
use tributary_server::config::{
    EngineSection, MetricsAuth, MetricsSection, NetworkSection, RetentionSection, ServerConfig,
    SourceEntry, StorageSection,
};
use tributary_server::serve::{ServeError, bind, serve, start};
use tributary_sim::egnyte::{EgnyteSim, EgnyteSimConfig, ThrottleMode};
use tributary_sim::jive::{JiveSim, JiveSimConfig};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the API listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The demo tenant's API key (default: a random one).
    #[arg(long)]
    pub api_key: Option<String>,
    /// Stop after this many events of the unified stream (with both providers among them).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..))]
    pub events: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub seconds: u64,
    /// Keep running (and tailing) until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Changes per second each simulator makes.
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// Keep the store in this directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Seed of both simulators' workloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the first line and a summary only, not every event.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Tail(#[from] TailError),
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("no randomness for the demo key: {0}")]
    Random(String),
    #[error("cannot start a simulator: {0}")]
    Sim(#[source] std::io::Error),
    #[error("the unified stream came out of order at position {0}: this is a bug")]
    OutOfOrder(String),
    #[error(
        "after {seconds} s only {got} events arrived ({by_provider}); expected {want} from both providers"
    )]
    TooFew {
        seconds: u64,
        got: u64,
        want: u64,
        by_provider: String,
    },
    #[error("the webhook subscription: {0}")]
    Webhook(String),
}

async fn listen() -> Result<(tokio::net::TcpListener, String), DemoError> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(DemoError::Sim)?;
    let addr = l.local_addr().map_err(DemoError::Sim)?;
    Ok((l, format!("http://{addr}")))
}

pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let temp = match &args.data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().map_err(DemoError::TempDir)?),
    };
    let data_dir = match (&args.data_dir, &temp) {
        (Some(dir), _) => dir.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => std::env::temp_dir(),
    };
    let clock = Arc::new(SystemClock);
    let (stop_sims, _) = tokio::sync::broadcast::channel::<()>(1);
    let until_stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    // The upstreams.
    let (egnyte_listener, egnyte_url) = listen().await?;
    let egnyte = EgnyteSim::new(
        EgnyteSimConfig {
            backlog: 25,
            rate: args.rate,
            seed: args.seed,
            throttle: ThrottleMode::Off,
            daily_quota: None,
            ..EgnyteSimConfig::default()
        },
        clock.clone(),
    );
    tokio::spawn(egnyte.serve(egnyte_listener, until_stopped(&stop_sims)));
    let (jive_listener, jive_url) = listen().await?;
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 25,
            rate: args.rate,
            seed: args.seed,
            ..JiveSimConfig::new("demo", "demo-password")
        },
        clock.clone(),
    );
    tokio::spawn(jive.serve(jive_listener, until_stopped(&stop_sims)));

    // The server, configured as a user would in tributary.toml.
    let key = match args.api_key.clone() {
        Some(key) => key,
        None => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).map_err(|e| DemoError::Random(e.to_string()))?;
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("demo-{hex}")
        }
    };
    let fast = serde_json::json!({"min_interval_ms": 250, "max_interval_ms": 1000, "multiplier": 2.0, "jitter": 0.1});
    let config = ServerConfig {
        listen: args.listen,
        data_dir,
        engine: EngineSection {
            max_concurrent_polls: 8,
            merge_max_delay_ms: 60_000,
            merge_interval_ms: 200,
            shutdown_grace_ms: 10_000,
        },
        providers: [(
            "egnyte".to_owned(),
            serde_json::json!({"calls_per_second": 100}),
        )]
        .into(),
        keys: vec![KeyEntry::new("demo", key.clone())],
        admin_keys: Vec::new(),
        retention: RetentionSection::default(),
        // The demo has no admin key and listens on loopback: its metrics are for anyone there.
        metrics: MetricsSection {
            auth: MetricsAuth::Open,
        },
        // The simulators listen on 127.0.0.1: allowed explicitly (`serve` allows no loopback).
        network: NetworkSection {
            allow_private: vec!["127.0.0.1/32".into()],
        },
        limits: Default::default(),
        // The key: TRIBUTARY_SECRET_KEY, or the data directory's key file.
        secrets: Default::default(),
        webhooks: Default::default(),
        // A small temporary store: the free-space guard stays off, so a nearly full build
        // machine still shows the demo.
        storage: StorageSection {
            min_free_bytes: 0,
            ..StorageSection::default()
        },
        sources: vec![
            SourceEntry {
                id: "egnyte-demo".into(),
                tenant: "demo".into(),
                provider: "egnyte".into(),
                config: serde_json::json!({
                    "base_url": egnyte_url, "start": "oldest", "suppress": "none",
                    "watermark_skew_ms": 1500, "poll": fast,
                }),
                credentials: serde_json::json!({"kind": "bearer", "token": "test-token"}),
                paused: false,
            },
            SourceEntry {
                id: "jive-demo".into(),
                tenant: "demo".into(),
                provider: "jive".into(),
                config: serde_json::json!({
                    "base_url": jive_url, "start": "backfill", "skew_ms": 1000, "poll": fast,
                }),
                credentials: serde_json::json!({"kind": "basic", "username": "demo", "password": "demo-password"}),
                paused: false,
            },
        ],
    };
    let started = start(&config, clock, crate::providers::factories()).await?;
    let (listener, addr) = bind(config.listen).await?;
    let api = format!("http://{addr}");
    println!("api {api} key {key}");
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(started, listener, async {
        let _ = server_stopped.await;
    }));

    // A webhook subscription to a small receiver of our own, which checks every signature.
    let (webhook, received, tx) = subscribe(&api, &key).await?;
    let webhook_log = tokio::spawn(print_webhooks(received, tx, args.quiet));

    // The unified stream, through the API's live stream.
    let tail = Tail::new(&api, &key, Vec::new())?;
    let mut by_provider: BTreeMap<String, u64> = BTreeMap::new();
    let (mut got, mut last, mut late) = (0u64, None, 0u64);
    let mut disorder = None;
    let want = args.events;
    let follow = args.follow;
    let quiet = args.quiet;
    let mut last_seq = 0u64;
    let tailing = tail.follow(None, |e, _cursor| {
        last_seq = last_seq.max(e.seq.map_or(0, |s| s.0));
        if e.late {
            late += 1;
        } else if last.is_some_and(|t| e.occurred_at < t) {
            disorder = Some(e.seq.map(|s| s.to_string()).unwrap_or_default());
            return false;
        }
        last = last.max(Some(e.occurred_at));
        got += 1;
        *by_provider.entry(e.provider.clone()).or_default() += 1;
        if !quiet {
            println!("{}", line(e));
        }
        follow || got < want || by_provider.len() < 2
    });
    let finished = if follow {
        tokio::select! {
            r = tailing => Some(r),
            _ = crate::signal::shutdown() => None,
        }
    } else {
        tokio::time::timeout(Duration::from_secs(args.seconds), tailing)
            .await
            .ok()
    };
    // The webhook receiver gets what the stream showed (bounded wait: deliveries follow merges
    // within milliseconds).
    let mut delivered = webhook.delivered;
    let caught_up = tokio::time::timeout(
        Duration::from_secs(15),
        delivered.wait_for(|d| d.last >= last_seq || d.error.is_some()),
    )
    .await
    .ok()
    .and_then(Result::ok)
    .map(|d| d.clone());
    let _ = stop_server.send(());
    let _ = stop_sims.send(());
    webhook.receiver.stop();
    webhook_log.abort();
    server
        .await
        .map_err(|e| ServeError::Task(e.to_string()))??;
    if let Some(result) = finished {
        result?;
    }
    if let Some(at) = disorder {
        return Err(DemoError::OutOfOrder(at));
    }
    let summary = by_provider
        .iter()
        .map(|(p, n)| format!("{n} from {p}"))
        .collect::<Vec<_>>()
        .join(", ");
    if !follow && (got < want || by_provider.len() < 2) {
        return Err(DemoError::TooFew {
            seconds: args.seconds,
            got,
            want,
            by_provider: summary,
        });
    }
    match caught_up {
        Some(d) if d.error.is_none() => println!(
            "webhook: {} events in {} signed request{} to {}, every signature valid, in order",
            d.events,
            d.requests,
            if d.requests == 1 { "" } else { "s" },
            webhook.url
        ),
        Some(d) => return Err(DemoError::Webhook(d.error.unwrap_or_default())),
        None => {
            return Err(DemoError::Webhook(format!(
                "the receiver did not get position {last_seq} within 15 s"
            )));
        }
    }
    println!("done: {got} events in time order ({summary}; {late} late)");
    Ok(())
}

/// The demo's webhook: a receiver and what it has been delivered so far.
struct Webhook {
    receiver: crate::receiver::Receiver,
    url: String,
    delivered: tokio::sync::watch::Receiver<Delivered>,
}

type Received = tokio::sync::mpsc::UnboundedReceiver<crate::receiver::Received>;

/// What the receiver has seen: events, requests, the last position, or what went wrong.
#[derive(Debug, Clone, Default)]
struct Delivered {
    events: u64,
    requests: u64,
    last: u64,
    error: Option<String>,
}

/// Starts a receiver that checks signatures with a secret of our own and subscribes it to every
/// event of the demo tenant through the API (`POST /v1/subscriptions`), as a user would.
async fn subscribe(
    api: &str,
    key: &str,
) -> Result<(Webhook, Received, tokio::sync::watch::Sender<Delivered>), DemoError> {
    let failed = |e: String| DemoError::Webhook(e);
    let secret = tributary_server::webhooks::signature::generate_secret()
        .map_err(|e| failed(e.to_string()))?;
    let mut receiver = crate::receiver::start(Some(&secret), true)
        .await
        .map_err(|e| failed(format!("cannot start the receiver: {e}")))?;
    let received = receiver
        .received
        .take()
        .ok_or_else(|| failed("the receiver keeps nothing".into()))?;
    let answer = reqwest::Client::new()
        .post(format!("{api}/v1/subscriptions"))
        .bearer_auth(key)
        .json(&serde_json::json!({
            "url": receiver.url, "secret": secret, "start": "oldest",
            "description": "the demo's receiver",
        }))
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.map_err(|e| failed(e.to_string()))?;
    if status != reqwest::StatusCode::CREATED {
        return Err(failed(format!(
            "POST /v1/subscriptions answered {status}: {body}"
        )));
    }
    let (tx, delivered) = tokio::sync::watch::channel(Delivered::default());
    let url = receiver.url.clone();
    println!(
        "webhook {} -> {url}",
        body["id"].as_str().unwrap_or("(no id)")
    );
    let webhook = Webhook {
        receiver,
        url,
        delivered,
    };
    Ok((webhook, received, tx))
}

/// Prints each delivery and checks that positions only grow (a retried batch may come again,
/// with its first `webhook-id`).
async fn print_webhooks(
    mut received: Received,
    tx: tokio::sync::watch::Sender<Delivered>,
    quiet: bool,
) {
    let mut seen = std::collections::HashSet::new();
    while let Some(got) = received.recv().await {
        let body: serde_json::Value = match serde_json::from_slice(&got.body) {
            Ok(v) => v,
            Err(e) => {
                tx.send_modify(|d| d.error = Some(format!("a body that is not JSON: {e}")));
                continue;
            }
        };
        let seqs: Vec<u64> = body["data"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["seq"].as_u64())
            .collect();
        let again = !seen.insert(got.webhook_id.clone());
        tx.send_modify(|d| {
            d.requests += 1;
            for &seq in &seqs {
                if seq > d.last {
                    if seq != d.last + 1 && d.error.is_none() {
                        d.error = Some(format!("position {} came after {}", seq, d.last));
                    }
                    d.last = seq;
                    d.events += 1;
                } else if !again && d.error.is_none() {
                    d.error = Some(format!("position {seq} came again under a new id"));
                }
            }
        });
        if !quiet {
            println!(
                "webhook {}: {} events, positions {}-{}, signature ok{}",
                got.webhook_id,
                seqs.len(),
                seqs.first().copied().unwrap_or(0),
                seqs.last().copied().unwrap_or(0),
                if again { " (again)" } else { "" }
            );
        }
    }
}
