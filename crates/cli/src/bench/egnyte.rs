//! `bench egnyte-drain`: an Egnyte backlog drained into a fresh store.

use super::{BENCH_TENANT, BenchError, bench_source, open_store};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;
use tributary_core::{InFlightObjects, Provider, SourceId, SystemClock};
use tributary_egnyte::{
    Credentials, EgnyteConfig, EgnyteProvider, RateLimiters, StartPosition, Suppress,
};
use tributary_server::engine::runner::{PIPELINE_PAGES, PollStep, poll_once, poll_pipelined};
use tributary_store::EventStore;

#[derive(Debug, clap::Args)]
pub struct EgnyteDrainArgs {
    /// The domain's base URL, e.g. the first line `tributary sim egnyte` prints.
    #[arg(long)]
    pub base: String,
    #[arg(long, default_value = "test-token")]
    pub token: String,
    /// Events per request (Egnyte's maximum is 100).
    #[arg(long, default_value_t = 100)]
    pub page_size: u32,
    /// Keep the store here (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Also merge everything into the unified log and time that.
    #[arg(long)]
    pub merge: bool,
    /// Poll only: keep the checkpoint in memory and store nothing, to separate the provider's
    /// cost (HTTP, JSON, mapping) from the store's.
    #[arg(long, conflicts_with = "merge")]
    pub no_store: bool,
    /// Commit each page before fetching the next, as the engine did before it overlapped them.
    #[arg(long, conflicts_with = "no_store")]
    pub sequential: bool,
}

pub async fn drain(args: EgnyteDrainArgs) -> Result<(), BenchError> {
    let (store, _temp) = open_store(args.data_dir.as_ref())?;
    let source = SourceId::new("egnyte-bench").map_err(|e| BenchError::Config(e.to_string()))?;
    let mut config = EgnyteConfig::new(args.base.clone(), Credentials::bearer(args.token.clone()));
    config.start = StartPosition::Oldest;
    config.suppress = Suppress::None;
    config.page_size = args.page_size;
    // The simulator runs with its limits off; our own limiter must not be the bottleneck either.
    let per_second = NonZeroU32::new(1_000_000).unwrap_or(NonZeroU32::MIN);
    let limiters = RateLimiters::new(governor::Quota::per_second(per_second));
    let source_ref = bench_source(&store, &source, "egnyte").await?;
    let in_flight = Arc::new(InFlightObjects::new(Arc::from(
        store.object_state(&source_ref),
    )));
    let objects: Arc<dyn tributary_core::ObjectStateRead> = in_flight.clone();
    let provider = EgnyteProvider::new(
        source.clone(),
        config,
        objects,
        &limiters,
        Arc::new(SystemClock),
        super::bench_outbound()?,
    )
    .map_err(|e| BenchError::Config(e.to_string()))?;

    let began = Instant::now();
    let (mut events, mut polls) = (0u64, 0u64);
    let mut checkpoint = None;
    loop {
        polls += 1;
        let step = if args.no_store {
            match provider.poll(checkpoint.as_ref()).await {
                Ok(page) => {
                    let report = tributary_store::IngestReport {
                        accepted: page.events.len() as u64,
                        duplicates: 0,
                    };
                    checkpoint = Some(page.checkpoint);
                    PollStep::Ingested {
                        report,
                        more: page.more,
                    }
                }
                Err(e) => PollStep::Failed {
                    error: e.to_string(),
                },
            }
        } else if args.sequential {
            poll_once(&store, &source_ref, &provider).await
        } else {
            // As the engine drains: each fetch overlaps the previous page's commit.
            poll_pipelined(
                &store,
                &source_ref,
                &provider,
                &in_flight,
                None,
                PIPELINE_PAGES,
            )
            .await
        };
        match step {
            PollStep::Ingested { report, more } => {
                events += report.accepted;
                if polls % 100 == 0 {
                    eprintln!(
                        "  {events} events after {:.1} s",
                        began.elapsed().as_secs_f64()
                    );
                }
                if !more {
                    break;
                }
            }
            other => return Err(BenchError::Poll(format!("{other:?}"))),
        }
    }
    let drained = began.elapsed().as_secs_f64();
    let requests = provider.stats().calls;
    let pages = events.div_ceil(u64::from(args.page_size)).max(1);
    let mut report = serde_json::json!({
        "events": events,
        "requests": requests,
        "seconds": (drained * 1000.0).round() / 1000.0,
        "events_per_second": (events as f64 / drained).round(),
        "polls": polls,
        "mode": if args.no_store { "no-store" } else if args.sequential { "sequential" } else { "pipelined" },
        "requests_per_ceil_pages": requests as f64 / pages as f64,
    });
    if args.merge {
        let merge_began = Instant::now();
        let merged = store
            .merge(BENCH_TENANT, tributary_core::time::max())
            .await?;
        let seconds = merge_began.elapsed().as_secs_f64();
        report["merged"] = merged.merged.into();
        report["merge_seconds"] = ((seconds * 1000.0).round() / 1000.0).into();
        report["merged_per_second"] = (merged.merged as f64 / seconds).round().into();
    }
    println!("{report}");
    Ok(())
}
