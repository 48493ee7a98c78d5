//! `tributary demo`: synthetic sources run by the engine into a store, merged in time order, and tailed.
//!
//! This is the foundation's demo: it shows ingest, checkpoints, the watermark merge and cursor
//! reads working together. The full engine (HTTP API, simulators) replaces it as it lands.

use crate::engine::{Engine, EngineConfig};
use crate::synthetic::SyntheticProvider;
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::{PollPolicy, Provider, SourceId, SystemClock};
use tributary_store::{EventStore, Filter, SledStore, StoreError};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Number of synthetic sources.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub sources: u64,
    /// Events per source.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub events: u64,
    /// Events per poll.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page_size: u64,
    /// Keep the store in this directory (default: a temporary directory, removed at exit).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print a summary only, not every event.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("source {source_id}: {error}")]
    Poll {
        source_id: SourceId,
        error: tributary_core::ProviderError,
    },
    #[error("invalid source id: {0}")]
    Id(#[from] tributary_core::IdError),
    #[error("engine: {0}")]
    Engine(String),
    #[error(transparent)]
    Source(#[from] crate::engine::EngineError),
    #[error("the unified stream came out of order at position {0}: this is a bug")]
    OutOfOrder(u64),
}

pub async fn run(args: DemoArgs) -> Result<(), DemoError> {
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(DemoError::TempDir)?;
            temp.path().to_path_buf()
        }
    };
    let store = SledStore::open(&dir)?;
    println!("store {} (epoch {:016x})", dir.display(), store.epoch());

    let start = tributary_core::time::truncate(Utc::now());
    let providers = (0..args.sources)
        .map(|i| {
            let id = SourceId::new(format!("synthetic-{}", i + 1))?;
            Ok((
                id.clone(),
                SyntheticProvider::new(
                    id,
                    args.seed.wrapping_add(i),
                    start,
                    args.events,
                    args.page_size,
                ),
            ))
        })
        .collect::<Result<Vec<_>, DemoError>>()?;

    let began = Instant::now();
    let store = Arc::new(store);
    let config = EngineConfig {
        merge_interval: Duration::from_millis(100),
        ..EngineConfig::default()
    };
    let engine = Engine::new(store.clone(), Arc::new(SystemClock), config);
    let policy = PollPolicy {
        min_interval_ms: 200,
        max_interval_ms: 2_000,
        multiplier: 2.0,
        jitter: 0.1,
    };
    for (id, provider) in &providers {
        engine.add_source(id.clone(), Arc::new(provider.clone()), policy.clone())?;
    }
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

    // Tail the unified stream from the start until every event has arrived.
    let total = args.sources * args.events;
    let mut cursor = store.latest()?;
    let (mut printed, mut last_time) = (0u64, None);
    let mut idle = tokio::time::interval(Duration::from_millis(50));
    while printed < total {
        idle.tick().await;
        loop {
            let page = store.read(Some(&cursor), 100, &Filter::default())?;
            for stored in &page.events {
                let e = stored.event()?;
                if last_time.is_some_and(|t| e.occurred_at < t) {
                    return Err(DemoError::OutOfOrder(stored.seq.get()));
                }
                last_time = Some(e.occurred_at);
                printed += 1;
                if !args.quiet {
                    println!(
                        "{:>6}  {}  {:<12}  {:<7}  {}{}",
                        stored.seq,
                        tributary_core::time::format(&e.occurred_at),
                        e.source,
                        e.event_type,
                        e.previous
                            .as_ref()
                            .and_then(|p| p.path.as_deref())
                            .map(|p| format!("{p} -> "))
                            .unwrap_or_default(),
                        e.object.path.as_deref().unwrap_or(&e.object.name),
                    );
                }
            }
            cursor = page.cursor;
            if page.remaining == 0 {
                break;
            }
        }
        if running.is_finished() {
            break;
        }
    }
    let _ = stop.send(());
    running
        .await
        .map_err(|e| DemoError::Engine(e.to_string()))?
        .map_err(|e| DemoError::Engine(e.to_string()))?;
    let stats = engine.stats();
    let ingested: u64 = providers
        .iter()
        .filter_map(|(id, _)| engine.status(id))
        .map(|s| s.events_ingested)
        .sum();
    let elapsed = began.elapsed();
    // Replaying a source from the start changes nothing: every event is absorbed.
    let (first_id, first) = &providers[0];
    let page = first.poll(None).await.map_err(|error| DemoError::Poll {
        source_id: first_id.clone(),
        error,
    })?;
    let replay = store.ingest(first_id, page).await?;
    println!(
        "done: {} sources, {} polls, {ingested} events ingested, {printed} merged in time order ({} late), \
         a replayed page of {} absorbed, {:.0} events/s, cursor {cursor}",
        providers.len(),
        stats.polls,
        stats.late,
        replay.duplicates,
        ingested as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    Ok(())
}
