//! A child process for the crash test (`tests/it/crash.rs`): ingests pages of four sources, two
//! tenants with the same two source ids, into the store at `argv[1]` in a loop, merging each
//! tenant as it goes, and prints `<tenant>/<source> <pages>` after each page is durably
//! committed. Killed with SIGKILL at random points; each start resumes from the committed
//! checkpoints and first replays the last committed page, which must be absorbed. Source `a`
//! gives positions (ordered deduplication), source `b` does not (the id index).

use chrono::{DateTime, TimeZone, Utc};
use std::io::Write;
use tributary_core::{
    Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, SourceId, Upstream, Watermark,
};
use tributary_store::{EventStore, SledStore, SourceRecord};

/// Events per page.
pub const PAGE: u64 = 5;
/// `(tenant, source)`: both tenants name their sources alike.
pub const SOURCES: [(&str, &str); 4] = [
    ("acme", "a"),
    ("acme", "b"),
    ("globex", "a"),
    ("globex", "b"),
];
pub const TENANTS: [&str; 2] = ["acme", "globex"];

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
    let mut sources = Vec::new();
    for (tenant, id) in SOURCES {
        // Stored again on every start: the same tenant and id keep their incarnation.
        let record = SourceRecord {
            id: SourceId::new(id)?,
            tenant: tenant.into(),
            incarnation: 0,
            provider: "crash-test".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: time(0, 0),
        };
        sources.push(store.put_source(record).await?);
    }
    let mut pages = [0u64; 4];
    for (i, source) in sources.iter().enumerate() {
        let index = i % 2;
        if let Some(state) = store.source_state(source)? {
            pages[i] = state.checkpoint.as_json()["pages"]
                .as_u64()
                .ok_or("checkpoint without pages")?;
            let replay = store
                .ingest(source, page(&source.id, index, pages[i] - 1)?)
                .await?;
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
    writeln!(out, "ready")?;
    out.flush()?;
    loop {
        // The source that is furthest behind goes next, so all stay within a page of each other.
        let i = (0..pages.len()).min_by_key(|&i| (pages[i], i)).unwrap_or(0);
        let source = &sources[i];
        store
            .ingest(source, page(&source.id, i % 2, pages[i])?)
            .await?;
        pages[i] += 1;
        writeln!(out, "{source} {}", pages[i])?;
        out.flush()?;
        // Each tenant merges up to the smaller promise of its own two sources.
        let frontiers = TENANTS
            .iter()
            .enumerate()
            .map(|(t, tenant)| {
                let least = pages[2 * t].min(pages[2 * t + 1]);
                ((*tenant).to_owned(), time(least * PAGE, 0))
            })
            .collect();
        store.merge_tenants(frontiers).await?;
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
