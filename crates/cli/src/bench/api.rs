//! `bench api`: the list API under load, beside a bare axum handler and a raw sled scan of the
//! same events, in one run.
//!
//! It fills a store with `--events` Egnyte-like events (about 560 bytes of JSON each, as in
//! `docs/events.md`) from four sources of one tenant, then:
//!
//! 1. reads the tenant's log as sled stores it, without the store's own work
//!    ([`SledStore::raw_log_scan`], [`SledStore::raw_log_pages`]): a full scan reading every
//!    value, and 100-entry range reads at the same cursors the load uses; events per second of
//!    each;
//! 2. serves the real API (`/v1/events`) and, on another port, a bare axum handler answering every
//!    request with one fixed page body of the same size (the first 100 events as the API sends
//!    them), and writes the cursors of `--cursors` positions spread over the log, one per line, to
//!    `--cursors-file`, for a load generator to pick from.
//!
//! Stdout, one fact per line: `api <url> key <key>`, `bare <url>`, `cursors <file> <n>`,
//! `page_bytes <n>`, `fill events <n> seconds <s>`, `raw_scan events <n> seconds <s>
//! events_per_s <r>` (the best of three passes), `raw_pages ...` likewise, then `ready`. It serves
//! until SIGTERM or Ctrl-C. `tests/bench/api-wrk.sh` drives it with `wrk`.

use super::BenchError;
use axum::body::Bytes;
use axum::http::header;
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tributary_core::{
    Actor, Checkpoint, Cursor, Event, EventId, EventType, Object, ObjectKind, Page, Seq, SourceId,
    Upstream, Watermark,
};
use tributary_server::api::{self, ApiKeys, ApiState, KeyEntry};
use tributary_store::{EventStore, Filter, SledStore, SourceRecord};

const KEY: &str = "bench-api-key";
pub(crate) const TENANT: &str = "bench";
pub(crate) const SOURCES: [&str; 4] = [
    "egnyte-acme",
    "egnyte-globex",
    "egnyte-initech",
    "egnyte-umbrella",
];
/// Events per ingested page.
const PAGE: usize = 1000;

#[derive(Debug, clap::Args)]
pub struct ApiBenchArgs {
    /// Events in the store.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// How many distinct cursors to write, spread evenly over the log.
    #[arg(long, default_value_t = 1000)]
    pub cursors: u64,
    /// Where to write the cursors, one per line.
    #[arg(long)]
    pub cursors_file: PathBuf,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen_bare: String,
}

pub async fn run(args: ApiBenchArgs) -> Result<(), BenchError> {
    if args.events < 200 || args.cursors == 0 {
        return Err(BenchError::Config(
            "--events must be at least 200 and --cursors at least 1".into(),
        ));
    }
    let temp = tempfile::tempdir().map_err(BenchError::TempDir)?;
    let dir = temp.path().join("store");
    let mut out = std::io::stdout().lock();

    let store = SledStore::open(&dir)?;
    let began = Instant::now();
    fill(&store, args.events).await?;
    let filled = began.elapsed().as_secs_f64();
    let _ = writeln!(out, "fill events {} seconds {filled:.1}", args.events);

    // Cursors spread over the log, each with a full page after it.
    let epoch = store.stream_key(TENANT);
    let last = store.latest(TENANT).await?.seq.get();
    let span = last.saturating_sub(100);
    let positions: Vec<u64> = (0..args.cursors).map(|i| i * span / args.cursors).collect();
    let cursors: Vec<String> = positions
        .iter()
        .map(|&p| Cursor::new(epoch, Seq(p)).encode())
        .collect();
    std::fs::write(&args.cursors_file, cursors.join("\n") + "\n")
        .map_err(|e| BenchError::Poll(format!("cannot write the cursors file: {e}")))?;
    let _ = writeln!(
        out,
        "cursors {} {}",
        args.cursors_file.display(),
        cursors.len()
    );

    // The raw scans, on the same bytes: the storage work alone, as the store lays it out.
    let (scan, pages) = tokio::task::spawn_blocking({
        let store = store.clone();
        move || raw_scans(&store, &positions)
    })
    .await
    .map_err(|e| BenchError::Poll(e.to_string()))??;
    let _ = writeln!(
        out,
        "raw_scan events {} seconds {:.3} events_per_s {:.0}",
        scan.0,
        scan.1,
        scan.0 as f64 / scan.1
    );
    let _ = writeln!(
        out,
        "raw_pages events {} seconds {:.3} events_per_s {:.0}",
        pages.0,
        pages.1,
        pages.0 as f64 / pages.1
    );

    let first = store.read(TENANT, None, 100, &Filter::default()).await?;
    let body = Bytes::from(api::events::page_body(&first));
    let _ = writeln!(out, "page_bytes {}", body.len());

    let keys = ApiKeys::new([KeyEntry::new(TENANT, KEY)])
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let state = ApiState::new(Arc::new(store.clone()), keys);
    let bind = |addr: String| async move {
        tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| BenchError::Poll(format!("cannot listen on {addr}: {e}")))
    };
    let listener = bind(args.listen).await?;
    let bare_listener = bind(args.listen_bare).await?;
    let url = local_url(&listener)?;
    let bare_url = local_url(&bare_listener)?;
    let _ = writeln!(out, "api {url} key {KEY}");
    let _ = writeln!(out, "bare {bare_url}");
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);

    let bare = axum::Router::new().route(
        "/v1/events",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut bare_stop = stop_rx.clone();
    let bare_task = tokio::spawn(async move {
        axum::serve(bare_listener, bare)
            .with_graceful_shutdown(async move {
                let _ = bare_stop.wait_for(|s| *s).await;
            })
            .await
    });
    let mut api_stop = stop_rx;
    let served = api::serve(listener, state, async move {
        let _ = api_stop.wait_for(|s| *s).await;
    });
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let (served, ()) = tokio::join!(served, signal);
    served.map_err(|e| BenchError::Poll(format!("the API server failed: {e}")))?;
    let _ = bare_task.await;
    drop(store);
    drop(temp);
    Ok(())
}

fn local_url(listener: &tokio::net::TcpListener) -> Result<String, BenchError> {
    listener
        .local_addr()
        .map(|a| format!("http://{a}"))
        .map_err(|e| BenchError::Poll(e.to_string()))
}

/// `(events, seconds)` of the best of three passes of each: a raw scan of the tenant's whole
/// log reading every value, and raw 100-entry range reads starting at each position.
#[allow(clippy::type_complexity)]
fn raw_scans(store: &SledStore, positions: &[u64]) -> Result<((u64, f64), (u64, f64)), BenchError> {
    let mut best_scan = (0, f64::MAX);
    let mut best_pages = (0, f64::MAX);
    for _ in 0..3 {
        let began = Instant::now();
        let read = store.raw_log_scan(TENANT)?;
        std::hint::black_box(read.bytes);
        let took = began.elapsed().as_secs_f64();
        if took < best_scan.1 {
            best_scan = (read.entries, took);
        }

        let began = Instant::now();
        let read = store.raw_log_pages(TENANT, positions, 100)?;
        std::hint::black_box(read.bytes);
        let took = began.elapsed().as_secs_f64();
        if took < best_pages.1 {
            best_pages = (read.entries, took);
        }
    }
    Ok((best_scan, best_pages))
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Ingests `total` events, a page of each source in turn, merging after every round.
pub(crate) async fn fill(store: &SledStore, total: u64) -> Result<(), BenchError> {
    let config = |e: tributary_core::IdError| BenchError::Config(e.to_string());
    let ids = SOURCES
        .iter()
        .map(|s| SourceId::new(*s).map_err(config))
        .collect::<Result<Vec<_>, _>>()?;
    let mut refs = Vec::with_capacity(ids.len());
    for id in &ids {
        refs.push(
            store
                .put_source(SourceRecord {
                    id: id.clone(),
                    incarnation: 0,
                    tenant: TENANT.into(),
                    provider: "egnyte".into(),
                    config: serde_json::json!({}),
                    credentials: serde_json::json!({}),
                    paused: false,
                    created_at: t0(),
                })
                .await?,
        );
    }
    let mut k = 0u64;
    let mut round = 0u64;
    while k < total {
        for (i, id) in ids.iter().enumerate() {
            let n = (PAGE as u64).min(total - k);
            if n == 0 {
                break;
            }
            let events = (k..k + n)
                .map(|k| event(id, i, k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(config)?;
            k += n;
            let at = t0() + ChronoDuration::milliseconds((k * 250) as i64);
            let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "k": k}))
                .map_err(|e| BenchError::Config(e.to_string()))?;
            store
                .ingest(
                    &refs[i],
                    Page::new(events, checkpoint, Some(Watermark::new(at)), false),
                )
                .await?;
        }
        round += 1;
        if round.is_multiple_of(4) || k >= total {
            store
                .merge(
                    TENANT,
                    t0() + ChronoDuration::milliseconds((k * 250) as i64),
                )
                .await?;
        }
    }
    Ok(())
}

/// Event `k` (global), from source `i`: an Egnyte-like file change of about 560 bytes.
pub(crate) fn event(source: &SourceId, i: usize, k: u64) -> Result<Event, tributary_core::IdError> {
    let at = t0() + ChronoDuration::milliseconds((k * 250) as i64);
    let event_type = match k % 10 {
        0..=4 => EventType::Add,
        5 | 6 => EventType::Update,
        7 => EventType::Delete,
        8 => EventType::Move,
        _ => EventType::Rename,
    };
    let group = format!(
        "{:08x}-5d6e-4f70-8a91-{:012x}",
        k.wrapping_mul(2_654_435_761) as u32,
        k
    );
    let name = format!("report-{k}.xlsx");
    let dir = format!("/Shared/Reports/{}", k % 97);
    let mut object = Object::new(group.clone(), ObjectKind::File, name.clone());
    object.path = Some(format!("{dir}/{name}"));
    object.parent = Some(dir.clone());
    object.size = Some(40_000 + (k % 20_000));
    object.modified = Some(at - ChronoDuration::seconds(1));
    object.url = Some(format!(
        "https://{}.egnyte.com/navigate/file/{group}",
        SOURCES[i].trim_start_matches("egnyte-")
    ));
    let previous = matches!(event_type, EventType::Move | EventType::Rename).then(|| {
        let mut before = object.clone();
        before.path = Some(format!("/Shared/Inbox/{name}"));
        before.parent = Some("/Shared/Inbox".into());
        before
    });
    Ok(Event {
        id: EventId::new(format!("{}", 8_800_000 + k))?,
        seq: None,
        source: source.clone(),
        provider: "egnyte".into(),
        event_type,
        occurred_at: at,
        observed_at: at + ChronoDuration::milliseconds(2417),
        object,
        previous,
        actor: Some(Actor {
            id: format!("{}", 1000 + k % 50),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@acme.example".into()),
            via: Some("WebUI".into()),
        }),
        upstream: Upstream {
            id: format!("{}", 8_800_000 + k),
            action: "create".into(),
            raw: None,
        },
        late: false,
    })
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
