//! `bench idle-sources`: what thousands of scheduled sources cost while nothing happens upstream.
//!
//! `--sources N` Jive sources (a simulator started with `tributary sim jive`, nothing changing)
//! run by one engine on one store for `--seconds`, each on the poll policy given (default: the
//! Jive default, 30 s backing off to 5 min). Reported: polls and upstream requests, each per hour
//! over the part after `--warmup` seconds (when every source has placed itself), and the
//! process's CPU time as a share of one core (from `/proc/self/stat`).

use super::{BenchError, bench_source, open_store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::{PollPolicy, SourceId, SystemClock};
use tributary_jive::{Credentials, JiveConfig, JiveProvider};
use tributary_server::engine::{Engine, EngineConfig};
use tributary_store::EventStore;

#[derive(Debug, clap::Args)]
pub struct IdleArgs {
    /// The Jive simulator's base URL.
    #[arg(long)]
    pub base: String,
    #[arg(long, default_value = "admin")]
    pub user: String,
    #[arg(long, default_value = "admin-password")]
    pub password: String,
    #[arg(long, default_value_t = 10_000)]
    pub sources: usize,
    #[arg(long, default_value_t = 180)]
    pub seconds: u64,
    /// Seconds excluded from the per-hour rates (the first poll of every source).
    #[arg(long, default_value_t = 60)]
    pub warmup: u64,
    #[arg(long, default_value_t = 30_000)]
    pub min_interval_ms: u64,
    #[arg(long, default_value_t = 300_000)]
    pub max_interval_ms: u64,
    #[arg(long, default_value_t = 64)]
    pub max_concurrent_polls: usize,
    /// Keep the store here (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// User plus system CPU time of this process, from `/proc/self/stat` (in USER_HZ = 100 ticks/s).
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

pub async fn run(args: IdleArgs) -> Result<(), BenchError> {
    let (store, _temp) = open_store(args.data_dir.as_ref())?;
    let store: Arc<dyn EventStore> = Arc::new(store);
    let policy = PollPolicy {
        min_interval_ms: args.min_interval_ms,
        max_interval_ms: args.max_interval_ms,
        multiplier: 2.0,
        jitter: 0.1,
    };
    let engine = Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        EngineConfig {
            max_concurrent_polls: args.max_concurrent_polls,
            ..EngineConfig::default()
        },
    );
    let setup = Instant::now();
    let mut providers = Vec::with_capacity(args.sources);
    let outbound = super::bench_outbound()?;
    for i in 0..args.sources {
        let id =
            SourceId::new(format!("jive-{i:05}")).map_err(|e| BenchError::Config(e.to_string()))?;
        let mut config = JiveConfig::new(
            args.base.clone(),
            Credentials::basic(args.user.clone(), args.password.clone()),
        );
        config.poll = policy.clone();
        let source = bench_source(store.as_ref(), &id, "jive").await?;
        let provider = Arc::new(
            JiveProvider::new(
                id.clone(),
                config,
                Arc::from(store.object_state(&source)),
                Arc::new(SystemClock),
                outbound.clone(),
            )
            .map_err(|e| BenchError::Config(e.to_string()))?,
        );
        engine
            .add_source(source, provider.clone(), policy.clone())
            .map_err(|e| BenchError::Config(e.to_string()))?;
        providers.push(provider);
    }
    eprintln!(
        "  {} sources set up in {:.1} s",
        args.sources,
        setup.elapsed().as_secs_f64()
    );
    let calls =
        |providers: &[Arc<JiveProvider>]| providers.iter().map(|p| p.stats().calls).sum::<u64>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    let began = Instant::now();
    let cpu_began = cpu_time();
    tokio::time::sleep(Duration::from_secs(args.warmup.min(args.seconds))).await;
    let (warm_at, warm_cpu, warm_calls, warm_polls) = (
        Instant::now(),
        cpu_time(),
        calls(&providers),
        engine.stats().polls,
    );
    eprintln!(
        "  warm after {:.0} s: {warm_polls} polls, {warm_calls} requests",
        began.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(
        args.seconds.saturating_sub(args.warmup),
    ))
    .await;
    let (end_cpu, end_calls, end_polls) = (cpu_time(), calls(&providers), engine.stats().polls);
    let window = warm_at.elapsed().as_secs_f64();
    let total = began.elapsed().as_secs_f64();
    let _ = stop.send(());
    running
        .await
        .map_err(|e| BenchError::Poll(e.to_string()))?
        .map_err(|e| BenchError::Poll(e.to_string()))?;
    let share = |from: Option<Duration>, to: Option<Duration>, secs: f64| match (from, to) {
        (Some(a), Some(b)) => ((b.saturating_sub(a).as_secs_f64() / secs) * 1000.0).round() / 10.0,
        _ => f64::NAN,
    };
    let per_hour = |n: u64| (n as f64 * 3600.0 / window.max(1e-9)).round();
    let report = serde_json::json!({
        "sources": args.sources,
        "seconds": total.round(),
        "policy_ms": [args.min_interval_ms, args.max_interval_ms],
        "polls": end_polls,
        "requests": end_calls,
        "after_warmup": {
            "seconds": window.round(),
            "polls_per_hour": per_hour(end_polls - warm_polls),
            "requests_per_hour": per_hour(end_calls - warm_calls),
            "cpu_percent_of_one_core": share(warm_cpu, end_cpu, window),
        },
        "cpu_percent_of_one_core_overall": share(cpu_began, end_cpu, total),
        "steady_requests_per_hour_at_max_interval":
            (args.sources as f64 * 2.0 * 3_600_000.0 / args.max_interval_ms as f64).round(),
    });
    println!("{report}");
    Ok(())
}
