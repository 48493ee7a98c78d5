//! `bench jive`: a Jive community's synthesized stream, three ways.
//!
//! - `backfill`: every item of the community (`tributary sim jive --items N`) emitted as `add`
//!   into a fresh store: events synthesized per second and upstream requests per event.
//! - `follow`: a source started from now follows a live workload (`--rate R`) for `--seconds`,
//!   polling every `--interval-ms` (draining while windows remain): events per second, requests
//!   per event, the time one poll takes.
//! - `idle`: `--polls` polls, `--interval-ms` apart, of a community where nothing changes:
//!   requests and time per poll.

use super::{BenchError, bench_source, open_store};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::{SourceId, SystemClock};
use tributary_jive::{Credentials, JiveConfig, JiveProvider, StartPosition};
use tributary_server::engine::runner::{PollStep, poll_once};
use tributary_store::EventStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Backfill,
    Follow,
    Idle,
}

#[derive(Debug, clap::Args)]
pub struct JiveArgs {
    /// The community's base URL, e.g. the first line `tributary sim jive` prints.
    #[arg(long)]
    pub base: String,
    #[arg(long, default_value = "admin")]
    pub user: String,
    #[arg(long, default_value = "admin-password")]
    pub password: String,
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Items per request (Jive's maximum is about 100).
    #[arg(long, default_value_t = 100)]
    pub page_size: u32,
    /// How far behind now windows end.
    #[arg(long, default_value_t = 1_000)]
    pub skew_ms: u64,
    /// `follow`: how long to follow.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// `follow`, `idle`: time between polls (rounds).
    #[arg(long, default_value_t = 1_000)]
    pub interval_ms: u64,
    /// `idle`: how many polls.
    #[arg(long, default_value_t = 50)]
    pub polls: u32,
    /// Keep the store here (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

pub async fn run(args: JiveArgs) -> Result<(), BenchError> {
    let (store, _temp) = open_store(args.data_dir.as_ref())?;
    let source = SourceId::new("jive-bench").map_err(|e| BenchError::Config(e.to_string()))?;
    let mut config = JiveConfig::new(
        args.base.clone(),
        Credentials::basic(args.user.clone(), args.password.clone()),
    );
    config.page_size = args.page_size;
    config.skew_ms = args.skew_ms;
    config.start = match args.mode {
        Mode::Backfill => StartPosition::Backfill,
        Mode::Follow | Mode::Idle => StartPosition::Latest,
    };
    let source_ref = bench_source(&store, &source, "jive").await?;
    let provider = JiveProvider::new(
        source.clone(),
        config,
        Arc::from(store.object_state(&source_ref)),
        Arc::new(SystemClock),
        super::bench_outbound()?,
    )
    .map_err(|e| BenchError::Config(e.to_string()))?;

    // The first poll only places the source (and checks the instance's version).
    let (mut events, mut polls) = (0u64, 0u64);
    let poll = async |polls: &mut u64| -> Result<(u64, bool), BenchError> {
        *polls += 1;
        match poll_once(&store, &source_ref, &provider).await {
            PollStep::Ingested { report, more } => Ok((report.accepted, more)),
            other => Err(BenchError::Poll(format!("{other:?}"))),
        }
    };
    let began = Instant::now();
    let mut report = serde_json::json!({});
    match args.mode {
        Mode::Backfill => loop {
            let (n, more) = poll(&mut polls).await?;
            events += n;
            if polls % 100 == 0 {
                eprintln!(
                    "  {events} events after {:.1} s",
                    began.elapsed().as_secs_f64()
                );
            }
            if !more {
                break;
            }
        },
        Mode::Follow => {
            poll(&mut polls).await?;
            let until = began + Duration::from_secs(args.seconds);
            let mut poll_time = Duration::ZERO;
            let mut rounds = 0u64;
            while Instant::now() < until {
                let started = Instant::now();
                loop {
                    let (n, more) = poll(&mut polls).await?;
                    events += n;
                    if !more {
                        break;
                    }
                }
                rounds += 1;
                poll_time += started.elapsed();
                tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
            }
            report["rounds"] = rounds.into();
            report["ms_per_round"] =
                round3(poll_time.as_secs_f64() * 1000.0 / rounds.max(1) as f64).into();
        }
        Mode::Idle => {
            poll(&mut polls).await?;
            let calls_before = provider.stats().calls;
            let mut spent = Duration::ZERO;
            for _ in 0..args.polls {
                tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
                let one = Instant::now();
                let (n, _) = poll(&mut polls).await?;
                spent += one.elapsed();
                events += n;
            }
            let spent = spent.as_secs_f64();
            let calls = provider.stats().calls - calls_before;
            report["idle_polls"] = args.polls.into();
            report["requests_per_idle_poll"] =
                round3(calls as f64 / f64::from(args.polls.max(1))).into();
            report["ms_per_idle_poll"] =
                round3(spent * 1000.0 / f64::from(args.polls.max(1))).into();
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    let stats = provider.stats();
    report["mode"] = format!("{:?}", args.mode).to_lowercase().into();
    report["events"] = events.into();
    report["seconds"] = round3(seconds).into();
    report["events_per_second"] = (events as f64 / seconds).round().into();
    report["requests"] = stats.calls.into();
    report["requests_per_event"] = round3(stats.calls as f64 / events.max(1) as f64).into();
    report["polls"] = polls.into();
    report["windows"] = stats.windows.into();
    report["splits"] = stats.splits.into();
    report["shift_repairs"] = stats.shift_repairs.into();
    println!("{report}");
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
