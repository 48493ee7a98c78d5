//! `tributary demo`: synthetic sources polled into a store, merged in time order, and tailed.
//!
//! This is the foundation's demo: it shows ingest, checkpoints, the watermark merge and cursor
//! reads working together. The full engine (HTTP API, simulators) replaces it as it lands.

use crate::synthetic::SyntheticProvider;
use chrono::Utc;
use std::time::Instant;
use tributary_core::{Provider, SourceId};
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
    let mut cursor = store.latest()?;
    let (mut polls, mut ingested, mut duplicates, mut printed) = (0u64, 0u64, 0u64, 0u64);
    let mut last_time = None;
    loop {
        let mut more = false;
        for (id, provider) in &providers {
            let state = store.source_state(id)?;
            let page = provider
                .poll(state.as_ref().map(|s| &s.checkpoint))
                .await
                .map_err(|error| DemoError::Poll {
                    source_id: id.clone(),
                    error,
                })?;
            polls += 1;
            more |= page.more;
            let report = store.ingest(id, page).await?;
            ingested += report.accepted;
            duplicates += report.duplicates;
        }
        // The frontier: the smallest promise of all sources.
        let mut frontier = tributary_core::time::max();
        for (id, _) in &providers {
            let watermark = store.source_state(id)?.and_then(|s| s.watermark);
            frontier = frontier.min(watermark.map_or(tributary_core::time::min(), |w| w.time()));
        }
        store.merge(frontier).await?;
        // Tail the unified stream from our cursor.
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
        if !more {
            break;
        }
    }
    // Replaying a source from the start changes nothing: every event is absorbed.
    let (first_id, first) = &providers[0];
    let replay = store
        .ingest(
            first_id,
            first.poll(None).await.map_err(|error| DemoError::Poll {
                source_id: first_id.clone(),
                error,
            })?,
        )
        .await?;
    duplicates += replay.duplicates;
    let elapsed = began.elapsed();
    println!(
        "done: {} sources, {polls} polls, {ingested} events ingested, {printed} merged in time order, {duplicates} duplicates absorbed ({} on a deliberate replay), {:.0} events/s, cursor {}",
        providers.len(),
        replay.duplicates,
        ingested as f64 / elapsed.as_secs_f64().max(1e-9),
        cursor,
    );
    Ok(())
}
