//! `bench webhooks`: webhook delivery against a local receiver that answers `204` at once, beside
//! its limit, in one run.
//!
//! 1. **Throughput.** A store holds `--events` Egnyte-like events of one tenant (the list API
//!    benchmark's events). The *limit* is a plain loop per connection sending the same signed
//!    `full` bodies the dispatcher sends (the log read and the bodies built beforehand; the
//!    signing and the POST timed), through the same HTTP client (the server's `Outbound`), with
//!    `--subscriptions` loops at once. The *dispatcher* then delivers the whole log to
//!    `--subscriptions` subscriptions (`max_concurrent` = the same number): every batch read from
//!    the store, spliced, persisted before it is sent and acknowledged after. Both send
//!    `subscriptions × events` events; each reports events per second.
//! 2. **Delay.** One subscription at the log's end; `--rate` events per second are ingested and
//!    merged for `--seconds`; each event's delay is the time from the end of the merge that made
//!    it visible to the receiver's `204` for the request that carried it (p50, p99, max).
//! 3. **Idle cost.** `--idle` subscriptions with nothing to send: the process's CPU time as a
//!    share of one core over `--idle-seconds`.
//!
//! Stdout: one JSON object.

use super::BenchError;
use super::api::{SOURCES, TENANT, event, fill, t0};
use super::idle::cpu_time;
use chrono::Duration as ChronoDuration;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::{Checkpoint, Clock, Page, Seq, SourceId, SystemClock, Watermark};
use tributary_server::webhooks::signature::{SigningKey, generate_secret};
use tributary_server::webhooks::{Dispatcher, DispatcherConfig};
use tributary_store::{
    DeliveryMode, DeliveryState, EventStore, Filter, SigningSecrets, SledStore, SubscriptionRecord,
};

#[derive(Debug, clap::Args)]
pub struct WebhookBenchArgs {
    /// Events in the log for the throughput part.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Subscriptions (and connections of the plain loop) at once.
    #[arg(long, default_value_t = 4)]
    pub subscriptions: usize,
    /// Events per `full` request.
    #[arg(long, default_value_t = 100)]
    pub batch: u32,
    /// Events per second ingested in the delay part.
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Seconds of ingest in the delay part.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Idle subscriptions in the idle part.
    #[arg(long, default_value_t = 1_000)]
    pub idle: usize,
    /// Seconds the idle part measures.
    #[arg(long, default_value_t = 10)]
    pub idle_seconds: u64,
}

fn failed(what: &str) -> impl Fn(String) -> BenchError + '_ {
    move |e| BenchError::Poll(format!("{what}: {e}"))
}

pub async fn run(args: WebhookBenchArgs) -> Result<(), BenchError> {
    let temp = tempfile::tempdir().map_err(BenchError::TempDir)?;
    let sled = SledStore::open(temp.path())?;
    let began = Instant::now();
    fill(&sled, args.events).await?;
    let fill_s = began.elapsed().as_secs_f64();
    let store: Arc<dyn EventStore> = Arc::new(sled.clone());
    let outbound = super::bench_outbound()?;
    let receiver = crate::receiver::start(None, false)
        .await
        .map_err(|e| failed("receiver")(e.to_string()))?;
    let last = store.latest(TENANT).await?.seq;

    // 1a. The limit: the same signed bodies in a plain loop, one per connection.
    let mut bodies = Vec::new();
    let mut after = None;
    let now = SystemClock.now();
    loop {
        let page = store
            .read(
                TENANT,
                after.as_ref(),
                args.batch as usize,
                &Filter::default(),
            )
            .await?;
        if page.events.is_empty() {
            break;
        }
        let n = page.events.len() as u64;
        bodies.push((
            tributary_server::webhooks::body::full(now, &page.events, &page.cursor),
            n,
        ));
        after = Some(page.cursor);
    }
    let bodies = Arc::new(bodies);
    let key = SigningKey::parse(&generate_secret().map_err(|e| failed("secret")(e.to_string()))?)
        .map_err(|e| failed("secret")(e.to_string()))?;
    let began = Instant::now();
    let mut loops = Vec::new();
    for c in 0..args.subscriptions {
        let (bodies, key, outbound, url) = (
            bodies.clone(),
            key.clone(),
            outbound.clone(),
            receiver.url.clone(),
        );
        loops.push(tokio::spawn(async move {
            let mut sent = 0u64;
            for (i, (body, n)) in bodies.iter().enumerate() {
                let id = format!("msg_{c}_{i}");
                let timestamp = SystemClock.now().timestamp();
                let request = outbound
                    .client()
                    .post(&url)
                    .timeout(Duration::from_secs(15))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", key.sign(&id, timestamp, body))
                    .body(body.clone());
                let response = outbound.send(request).await.map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("the receiver answered {}", response.status()));
                }
                sent += n;
            }
            Ok::<u64, String>(sent)
        }));
    }
    let mut limit_events = 0;
    for l in loops {
        limit_events += l
            .await
            .map_err(|e| failed("plain loop")(e.to_string()))?
            .map_err(failed("plain loop"))?;
    }
    let limit_s = began.elapsed().as_secs_f64();

    // 1b. The dispatcher, delivering the whole log to each subscription.
    let config = DispatcherConfig {
        jitter: 0.0,
        max_concurrent: args.subscriptions,
        ..DispatcherConfig::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut ids = Vec::new();
    for k in 0..args.subscriptions {
        ids.push(
            subscribe(
                &*store,
                &format!("sub_bench_{k}"),
                &receiver.url,
                args.batch,
                Seq(0),
            )
            .await?,
        );
    }
    let dispatcher = Dispatcher::new(
        store.clone(),
        clock.clone(),
        outbound.clone(),
        config.clone(),
    );
    let began = Instant::now();
    dispatcher.start()?;
    wait_delivered(&*store, &ids, last, Duration::from_secs(600)).await?;
    let dispatch_s = began.elapsed().as_secs_f64();
    dispatcher.stop().await;
    for id in &ids {
        store.delete_subscription(id).await?;
    }
    let dispatch_events = last.0 * args.subscriptions as u64;

    // 2. Delay: events merged live, one subscription at the log's end.
    let mut live = crate::receiver::start(None, true)
        .await
        .map_err(|e| failed("receiver")(e.to_string()))?;
    let id = subscribe(&*store, "sub_bench_live", &live.url, args.batch, last).await?;
    let dispatcher = Dispatcher::new(
        store.clone(),
        clock.clone(),
        outbound.clone(),
        config.clone(),
    );
    dispatcher.start()?;
    let source_id = SourceId::new(SOURCES[0]).map_err(|e| BenchError::Config(e.to_string()))?;
    let source = store
        .source(TENANT, &source_id)?
        .ok_or_else(|| BenchError::Config("the bench source is missing".into()))?
        .source_ref();
    let ticks = args.seconds * 20;
    let per_tick = (args.rate / 20).max(1);
    let mut merged_at = std::collections::HashMap::new();
    let mut k = args.events;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..ticks {
        tick.tick().await;
        let events = (k..k + per_tick)
            .map(|k| event(&source_id, 0, k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BenchError::Config(e.to_string()))?;
        let ids_of: Vec<String> = events.iter().map(|e| e.id.as_str().to_owned()).collect();
        k += per_tick;
        let at = t0() + ChronoDuration::milliseconds((k * 250) as i64);
        let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "k": k}))
            .map_err(|e| BenchError::Config(e.to_string()))?;
        store
            .ingest(
                &source,
                Page::new(events, checkpoint, Some(Watermark::new(at)), false),
            )
            .await?;
        store.merge(TENANT, at).await?;
        let visible = Instant::now();
        dispatcher.merged(TENANT);
        for id in ids_of {
            merged_at.insert(id, visible);
        }
    }
    let live_last = store.latest(TENANT).await?.seq;
    wait_delivered(
        &*store,
        std::slice::from_ref(&id),
        live_last,
        Duration::from_secs(120),
    )
    .await?;
    dispatcher.stop().await;
    live.stop();
    let mut delays = Vec::with_capacity(merged_at.len());
    if let Some(received) = live.received.as_mut() {
        while let Ok(got) = received.try_recv() {
            let body: serde_json::Value = serde_json::from_slice(&got.body)
                .map_err(|e| failed("a delivered body")(e.to_string()))?;
            for e in body["data"]["events"].as_array().into_iter().flatten() {
                if let Some(at) = e["id"].as_str().and_then(|id| merged_at.get(id)) {
                    delays.push(got.at.saturating_duration_since(*at));
                }
            }
        }
    }
    delays.sort();
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map(|d| d.as_secs_f64() * 1000.0)
    };
    store.delete_subscription(&id).await?;

    // 3. Idle cost.
    let latest = store.latest(TENANT).await?.seq;
    let mut idle_ids = Vec::with_capacity(args.idle);
    for k in 0..args.idle {
        idle_ids.push(
            subscribe(
                &*store,
                &format!("sub_idle_{k}"),
                &receiver.url,
                args.batch,
                latest,
            )
            .await?,
        );
    }
    let dispatcher = Dispatcher::new(store.clone(), clock, outbound, config);
    dispatcher.start()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu_before, wall) = (cpu_time(), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let idle_cpu = match (cpu_before, cpu_time()) {
        (Some(a), Some(b)) => Some(
            (b.saturating_sub(a).as_secs_f64() / wall.elapsed().as_secs_f64() * 1000.0).round()
                / 10.0,
        ),
        _ => None,
    };
    dispatcher.stop().await;

    let rate = |events: u64, s: f64| (events as f64 / s).round();
    let report = serde_json::json!({
        "events": last.0,
        "fill_seconds": (fill_s * 10.0).round() / 10.0,
        "subscriptions": args.subscriptions,
        "batch": args.batch,
        "limit": {"events": limit_events, "seconds": limit_s, "events_per_s": rate(limit_events, limit_s)},
        "dispatcher": {"events": dispatch_events, "seconds": dispatch_s, "events_per_s": rate(dispatch_events, dispatch_s)},
        "dispatcher_share_of_limit_percent": ((limit_s / dispatch_s) * (dispatch_events as f64 / limit_events.max(1) as f64) * 1000.0).round() / 10.0,
        "delay_ms": {"events": delays.len(), "rate_per_s": args.rate, "p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)},
        "idle": {"subscriptions": args.idle, "seconds": args.idle_seconds, "cpu_percent_of_one_core": idle_cpu},
        "receiver_refused": receiver.counts.refused.load(std::sync::atomic::Ordering::Relaxed),
    });
    println!("{report}");
    Ok(())
}

/// Stores a `full` subscription of the bench tenant whose cursor is at `delivered`.
async fn subscribe(
    store: &dyn EventStore,
    id: &str,
    url: &str,
    batch: u32,
    delivered: Seq,
) -> Result<String, BenchError> {
    let secret = generate_secret().map_err(|e| failed("secret")(e.to_string()))?;
    store
        .put_subscription(SubscriptionRecord {
            id: id.into(),
            tenant: TENANT.into(),
            url: url.into(),
            secrets: SigningSecrets {
                current: secret,
                previous: None,
            },
            filter: Filter::default(),
            mode: DeliveryMode::Full,
            max_batch: batch,
            description: None,
            paused: false,
            disabled: None,
            created_at: t0(),
        })
        .await?;
    store
        .set_delivery(
            id,
            DeliveryState {
                delivered,
                ..DeliveryState::default()
            },
        )
        .await?;
    Ok(id.to_owned())
}

/// Waits (polling the delivery states every 5 ms) until every subscription has delivered up to
/// `last`.
async fn wait_delivered(
    store: &dyn EventStore,
    ids: &[String],
    last: Seq,
    limit: Duration,
) -> Result<(), BenchError> {
    let began = Instant::now();
    loop {
        let mut done = true;
        for id in ids {
            if store.delivery(id)?.is_none_or(|d| d.delivered < last) {
                done = false;
                break;
            }
        }
        if done {
            return Ok(());
        }
        if began.elapsed() > limit {
            return Err(BenchError::Poll(format!(
                "the subscriptions had not delivered up to {last} after {}s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
