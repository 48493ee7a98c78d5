//! A child process for the crash test (`tests/it/crash.rs`): ingests pages of two sources into the
//! store at `argv[1]` in a loop, merging as it goes, and prints `<source> <pages>` after each page
//! is durably committed. Killed with SIGKILL at random points; each start resumes from the
//! committed checkpoints and first replays the last committed page, which must be absorbed.
//! Source `a` gives positions (ordered deduplication), source `b` does not (the id index).

use chrono::{DateTime, TimeZone, Utc};
use std::io::Write;
use tributary_core::{
    Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, SourceId, Upstream, Watermark,
};
use tributary_store::{EventStore, SledStore};

/// Events per page.
pub const PAGE: u64 = 5;
pub const SOURCES: [&str; 2] = ["a", "b"];

fn time(n: u64, source: usize) -> DateTime<Utc> {
    let ms = i64::try_from(n * 10).unwrap_or(i64::MAX) + source as i64;
    Utc.timestamp_millis_opt(1_767_225_600_000 + ms)
        .single()
        .unwrap_or_default()
}

fn page(source: &SourceId, index: usize, p: u64) -> Result<Page, Box<dyn std::error::Error>> {
    let events = (p * PAGE..(p + 1) * PAGE)
        .map(|n| {
            Ok(Event {
                id: EventId::new(n.to_string())?,
                seq: None,
                source: source.clone(),
                provider: "crash-test".into(),
                event_type: EventType::Add,
                occurred_at: time(n, index),
                observed_at: time(n, index),
                object: Object::new(n.to_string(), ObjectKind::File, format!("{n}.txt")),
                previous: None,
                actor: None,
                upstream: Upstream {
                    id: n.to_string(),
                    action: "create".into(),
                    raw: None,
                },
                late: false,
            })
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "pages": p + 1}))?;
    let watermark = Watermark::new(time((p + 1) * PAGE, 0));
    let mut page = Page::new(events, checkpoint, Some(watermark), true);
    // Source `a` is deduplicated by position, `b` by its id index: both must survive a kill.
    if index == 0 {
        page.positions = Some((p * PAGE..(p + 1) * PAGE).collect());
    }
    Ok(page)
}

async fn run(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = SledStore::open(path)?;
    let sources = SOURCES.map(|s| SourceId::new(s).unwrap_or_else(|e| panic!("{e}")));
    let mut pages = [0u64; 2];
    for (i, source) in sources.iter().enumerate() {
        if let Some(state) = store.source_state(source)? {
            pages[i] = state.checkpoint.as_json()["pages"]
                .as_u64()
                .ok_or("checkpoint without pages")?;
            let replay = store.ingest(source, page(source, i, pages[i] - 1)?).await?;
            if replay.accepted != 0 {
                return Err(format!(
                    "replaying page {} of {source} stored {} events again",
                    pages[i] - 1,
                    replay.accepted
                )
                .into());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {} {}", pages[0], pages[1])?;
    out.flush()?;
    loop {
        // The source that is behind goes next, so the two stay within a page of each other.
        let i = usize::from(pages[1] < pages[0]);
        store
            .ingest(&sources[i], page(&sources[i], i, pages[i])?)
            .await?;
        pages[i] += 1;
        writeln!(out, "{} {}", SOURCES[i], pages[i])?;
        out.flush()?;
        let frontier = time(pages[0].min(pages[1]) * PAGE, 0);
        store.merge(frontier).await?;
    }
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: ingest-child <store directory>");
        std::process::exit(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ingest-child: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(&path)) {
        eprintln!("ingest-child: {e}");
        std::process::exit(1);
    }
}
