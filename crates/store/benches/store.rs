//! Ingest, read and merge throughput of the store, each measured beside raw sled doing the same
//! storage work in the same run: the raw figures are the storage limit of the machine, and the
//! goal is for the store to reach at least half of them (see `docs/performance.md`).
//!
//! `cargo bench -p tributary-store`; one group with `cargo bench -p tributary-store -- read`.
//!
//! Every tenant has a log of its own; the ingest, read and merge groups use one tenant with the
//! four sources below, and `merge_tenants` compares one tenant with a thousand.

// A benchmark is not a test, but it fails the same way: loudly, on the first setup error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tributary_core::{
    Actor, Checkpoint, Cursor, Event, EventId, EventType, Object, ObjectKind, Page, Seq, SourceId,
    Upstream, Watermark, time,
};
use tributary_store::{EventStore, Filter, SledStore, SourceRecord, SourceRef};

/// The tenant of the ingest, read and merge groups.
const TENANT: &str = "acme";

/// The sources events come from, round-robin.
const SOURCES: [&str; 4] = [
    "egnyte-acme",
    "egnyte-globex",
    "jive-community",
    "sim-load-01",
];

/// Events per ingested page and per read page.
const PAGE: usize = 100;

/// Events in the log the read benchmarks page through.
const LOG_EVENTS: u64 = 100_000;

/// Pending events one merge moves.
const MERGE_EVENTS: u64 = 1_000;

/// Pending events one `merge_tenants` moves, however many tenants they belong to.
const MERGE_TENANTS_EVENTS: u64 = 10_000;

/// Sources per tenant in the `merge_tenants` group.
const SOURCES_PER_TENANT: usize = 10;

fn source(i: usize) -> SourceId {
    SourceId::new(SOURCES[i % SOURCES.len()]).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_767_225_600_000).unwrap()
}

/// When event `n` happened: a quarter-second apart, so events of all sources interleave in time.
fn occurred(n: u64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(n as i64 * 250)
}

/// Event `n` of `source`: a file change deep in a shared tree with its actor and upstream ids,
/// like an Egnyte event (about 550 bytes of JSON; a rename or move, one in six, carries its
/// previous object too).
fn event(source: &SourceId, n: u64) -> Event {
    let event_type = match n % 12 {
        0..=3 => EventType::Update,
        4..=6 => EventType::Add,
        7 | 8 => EventType::Delete,
        9 => EventType::Rename,
        10 => EventType::Move,
        _ => EventType::Copy,
    };
    let project = n % 173;
    let folder = format!("/Shared/Projects/P{project:03}/Q{}", n % 4 + 1);
    let name = format!("report-{n:08}-v{}.docx", n % 7 + 1);
    let mut object = Object::new(
        format!("{:016x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        ObjectKind::File,
        name.clone(),
    );
    object.path = Some(format!("{folder}/{name}"));
    object.parent = Some(format!(
        "{:016x}",
        project.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
    ));
    object.size = Some(10_000 + n.wrapping_mul(7_919) % 5_000_000);
    object.modified = Some(occurred(n));
    let previous = matches!(event_type, EventType::Rename | EventType::Move).then(|| {
        let mut before = object.clone();
        before.name = format!("draft-{n:08}.docx");
        before.path = Some(format!("/Shared/Inbox/draft-{n:08}.docx"));
        before
    });
    let user = n % 311;
    Event {
        id: EventId::new(format!("{}-{}", 9_000_000_000u64 + n, n % 97)).unwrap(),
        seq: None,
        source: source.clone(),
        provider: "egnyte".into(),
        event_type,
        occurred_at: occurred(n),
        observed_at: occurred(n) + TimeDelta::milliseconds(1_500),
        object,
        previous,
        actor: Some(Actor {
            id: format!("{}", 100_000 + user),
            name: Some(format!("User {user}")),
            email: Some(format!("user{user}@acme.example")),
            via: Some("WebUI".into()),
        }),
        upstream: Upstream {
            id: format!("{}", 9_000_000_000u64 + n),
            action: event_type.as_str().into(),
            raw: None,
        },
        late: false,
    }
}

/// A page of `source`'s events `ns`, with the checkpoint and watermark a provider would send.
fn page(source: &SourceId, ns: impl IntoIterator<Item = u64>) -> Page {
    let events: Vec<Event> = ns.into_iter().map(|n| event(source, n)).collect();
    let last = events.last().map_or(t0(), |e| e.occurred_at);
    let checkpoint = Checkpoint::from_json(serde_json::json!({
        "version": "V1",
        "last_event_id": events.last().map(|e| e.upstream.id.clone()),
    }))
    .unwrap();
    Page::new(events, checkpoint, Some(Watermark::new(last)), false)
}

/// Creates the source `id` of `tenant`.
async fn put_source(store: &SledStore, tenant: &str, id: &SourceId) -> SourceRef {
    store
        .put_source(SourceRecord {
            id: id.clone(),
            tenant: tenant.into(),
            incarnation: 0,
            provider: "egnyte".into(),
            config: serde_json::json!({ "domain": "acme" }),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: t0(),
        })
        .await
        .unwrap()
}

/// The four [`SOURCES`] of [`TENANT`], in order.
fn tenant_sources(rt: &tokio::runtime::Runtime, store: &SledStore) -> Vec<SourceRef> {
    (0..SOURCES.len())
        .map(|i| rt.block_on(put_source(store, TENANT, &source(i))))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A plain sled database on its own directory, opened as the store opens its own.
fn raw_sled(dir: &tempfile::TempDir) -> (sled::Db, sled::Tree) {
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let tree = db.open_tree("events").unwrap();
    (db, tree)
}

/// Ingest of fresh 100-event pages (new ids every time, so nothing is absorbed as a duplicate),
/// flushed to disk as `ingest` always is, beside one flushed sled batch of the same JSON.
fn ingest(c: &mut Criterion) {
    let rt = runtime();
    let store_dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(store_dir.path()).unwrap();
    let refs = tenant_sources(&rt, &store);
    let raw_dir = tempfile::tempdir().unwrap();
    let (raw_db, raw_tree) = raw_sled(&raw_dir);

    let sizes: Vec<usize> = (0..1_000)
        .map(|n| serde_json::to_vec(&event(&source(0), n)).unwrap().len())
        .collect();
    eprintln!(
        "event JSON: {} bytes on average, {}..{}",
        sizes.iter().sum::<usize>() / sizes.len(),
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap()
    );

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(PAGE as u64));
    // Each iteration syncs to disk (milliseconds): sample flat rather than 1, 2, 3, ... iterations.
    group.sampling_mode(SamplingMode::Flat);

    let mut next = 0u64;
    let mut pages = 0usize;
    group.bench_function("store/ingest_page_100", |b| {
        b.iter_batched(
            || {
                let s = &refs[pages % refs.len()];
                let p = page(&s.id, next..next + PAGE as u64);
                pages += 1;
                next += PAGE as u64;
                (s, p)
            },
            |(s, p)| {
                let report = rt.block_on(store.ingest(s, p)).unwrap();
                assert_eq!(report.accepted, PAGE as u64);
                report
            },
            BatchSize::SmallInput,
        );
    });

    // The same events serialized as the store serializes them, keyed by a counter.
    let mut raw_next = 0u64;
    let raw_batch = |n: &mut u64| {
        let s = source((*n / PAGE as u64) as usize);
        let mut batch = sled::Batch::default();
        for e in page(&s, *n..*n + PAGE as u64).events {
            batch.insert(&n.to_be_bytes()[..], serde_json::to_vec(&e).unwrap());
            *n += 1;
        }
        batch
    };
    group.bench_function("raw_sled/batch_insert_100", |b| {
        b.iter_batched(
            || raw_batch(&mut raw_next),
            |batch| {
                raw_tree.apply_batch(batch).unwrap();
                raw_db.flush().unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    // For information: how much of the above is the sync to disk.
    group.bench_function("raw_sled/batch_insert_100_no_flush", |b| {
        b.iter_batched(
            || raw_batch(&mut raw_next),
            |batch| raw_tree.apply_batch(batch).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Reads of 100-event pages of a 100,000-event log, walking it from start to end and wrapping
/// around, beside a raw sled range scan of the same JSON under 8-byte big-endian positions.
fn read(c: &mut Criterion) {
    let rt = runtime();
    let store_dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(store_dir.path()).unwrap();
    let refs = tenant_sources(&rt, &store);
    let raw_dir = tempfile::tempdir().unwrap();
    let (raw_db, raw_tree) = raw_sled(&raw_dir);

    // Event n belongs to source n % 4; each source ingests its own in pages of 1,000, and the
    // merge interleaves them by time.
    let started = Instant::now();
    let per_page = 1_000u64;
    let per_source = LOG_EVENTS / SOURCES.len() as u64;
    for first in (0..per_source).step_by(per_page as usize) {
        for (i, s) in refs.iter().enumerate() {
            let ns = (first..first + per_page).map(|k| k * SOURCES.len() as u64 + i as u64);
            rt.block_on(store.ingest(s, page(&s.id, ns))).unwrap();
        }
    }
    let merged = rt.block_on(store.merge(TENANT, time::max())).unwrap();
    assert_eq!(merged.merged, LOG_EVENTS);

    // The raw tree holds exactly the bytes of the log, under the same positions.
    let mut after = None;
    let mut log_bytes = 0;
    loop {
        let p = rt
            .block_on(store.read(TENANT, after.as_ref(), 1_000, &Filter::default()))
            .unwrap();
        let mut batch = sled::Batch::default();
        for e in &p.events {
            batch.insert(&e.seq.to_be_bytes()[..], e.json());
            log_bytes += e.json().len();
        }
        raw_tree.apply_batch(batch).unwrap();
        after = Some(p.cursor);
        if p.remaining == 0 {
            break;
        }
    }
    raw_db.flush().unwrap();
    assert_eq!(raw_tree.len() as u64, LOG_EVENTS);
    eprintln!(
        "read setup: {LOG_EVENTS} events ({} bytes of JSON each on average) ingested, merged and \
         copied to raw sled in {:.1?}",
        log_bytes / LOG_EVENTS as usize,
        started.elapsed()
    );

    // Where each full page starts, found once: every timed read returns exactly 100 events.
    let starts = |filter: &Filter| {
        let mut starts = Vec::new();
        let mut at = rt.block_on(store.oldest(TENANT)).unwrap();
        loop {
            let p = rt
                .block_on(store.read(TENANT, Some(&at), PAGE, filter))
                .unwrap();
            if p.events.len() == PAGE {
                starts.push(at);
            }
            at = p.cursor;
            if p.remaining == 0 {
                return starts;
            }
        }
    };
    let everything = Filter::default();
    let one_source = Filter {
        sources: vec![source(0)],
        ..Filter::default()
    };

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(PAGE as u64));

    let read_pages = |b: &mut criterion::Bencher<'_>, filter: &Filter, starts: &[Cursor]| {
        let mut i = 0;
        b.iter(|| {
            let p = rt
                .block_on(store.read(TENANT, Some(&starts[i]), PAGE, filter))
                .unwrap();
            i = (i + 1) % starts.len();
            assert_eq!(p.events.len(), PAGE);
            black_box(p.events.iter().map(|e| e.json().len()).sum::<usize>())
        });
    };
    let all_starts = starts(&everything);
    assert_eq!(all_starts.len() as u64, LOG_EVENTS / PAGE as u64);
    group.bench_function("store/read_page_100", |b| {
        read_pages(b, &everything, &all_starts);
    });

    let positions: Vec<u64> = all_starts.iter().map(|c| c.seq.get()).collect();
    group.bench_function("raw_sled/scan_100", |b| {
        let mut i = 0;
        b.iter(|| {
            let from = Seq(positions[i] + 1);
            i = (i + 1) % positions.len();
            let mut bytes = 0;
            let mut n = 0;
            for entry in raw_tree.range(from.to_be_bytes()..).take(PAGE) {
                let (_, json) = entry.unwrap();
                bytes += json.len();
                n += 1;
            }
            assert_eq!(n, PAGE);
            black_box(bytes)
        });
    });

    // For information: a reader of one source of four, through the source index.
    let source_starts = starts(&one_source);
    group.bench_function("store/read_page_100_one_source_filter", |b| {
        read_pages(b, &one_source, &source_starts);
    });

    // For information: a tenant with two sources of four (its `remaining` counted from the
    // source index, two lookups per source).
    let two_sources = Filter {
        sources: vec![source(0), source(1)],
        ..Filter::default()
    };
    let two_starts = starts(&two_sources);
    group.bench_function("store/read_page_100_two_of_four_sources", |b| {
        read_pages(b, &two_sources, &two_starts);
    });
    group.finish();
}

/// For information: one merge of 1,000 pending events of four sources into the log (ingested
/// before each timed merge, untimed), flushed to disk as every merge is.
fn merge(c: &mut Criterion) {
    let rt = runtime();
    let store_dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(store_dir.path()).unwrap();
    let refs = tenant_sources(&rt, &store);

    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(MERGE_EVENTS));
    group.sampling_mode(SamplingMode::Flat);
    let mut next = 0u64;
    group.bench_function("store/merge_1000", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let per_source = MERGE_EVENTS / SOURCES.len() as u64;
                for (i, s) in refs.iter().enumerate() {
                    let ns = (0..per_source).map(|k| next + k * SOURCES.len() as u64 + i as u64);
                    rt.block_on(store.ingest(s, page(&s.id, ns))).unwrap();
                }
                next += MERGE_EVENTS;
                let start = Instant::now();
                let report = rt.block_on(store.merge(TENANT, time::max())).unwrap();
                timed += start.elapsed();
                assert_eq!(report.merged, MERGE_EVENTS);
            }
            timed
        });
    });
    group.finish();
}

/// Runs the futures as tasks of `rt`, at most 64 at a time, and answers their outputs in order.
fn concurrently<T, F>(rt: &tokio::runtime::Runtime, futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let mut futures = futures.into_iter();
    let mut out = Vec::new();
    loop {
        let running: Vec<_> = futures.by_ref().take(64).map(|f| rt.spawn(f)).collect();
        if running.is_empty() {
            return out;
        }
        for task in running {
            out.push(rt.block_on(task).unwrap());
        }
    }
}

/// What a merge costs per event as tenants multiply. One `merge_tenants` of every tenant
/// (frontier at the end of time, one flush) moves 10,000 pending events: of 1 tenant × 10 sources
/// (1,000 events a source, one page each), of 1 tenant × 10,000 sources or of 1,000 tenants × 10
/// sources (1 event a source, one page each). The last two differ only in how the same sources
/// and pages are spread over tenants: the tenants' cost; the first shows what many small queues
/// cost beside a few long ones. The events are ingested before each timed merge, untimed, many
/// sources at once so their syncs to disk are shared.
fn merge_tenants(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("merge_tenants");
    group.throughput(Throughput::Elements(MERGE_TENANTS_EVENTS));
    group.sampling_mode(SamplingMode::Flat);
    // Each iteration first refills the queues (up to 10,000 ingests, about two seconds): few
    // samples, of one or two iterations each.
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(3));
    for (tenants, per_tenant) in [
        (1usize, SOURCES_PER_TENANT),
        (1, 10_000),
        (1_000, SOURCES_PER_TENANT),
    ] {
        let store_dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(store_dir.path()).unwrap();
        let started = Instant::now();
        let names: Vec<String> = (0..tenants).map(|t| format!("tenant-{t:04}")).collect();
        let refs: Vec<SourceRef> = concurrently(
            &rt,
            names.iter().flat_map(|tenant| {
                (0..per_tenant).map(|k| {
                    let (store, tenant) = (store.clone(), tenant.clone());
                    let id = SourceId::new(format!("egnyte-{k:05}")).unwrap();
                    async move { put_source(&store, &tenant, &id).await }
                })
            }),
        );
        let frontiers: Vec<(String, DateTime<Utc>)> =
            names.iter().map(|n| (n.clone(), time::max())).collect();
        let per_source = MERGE_TENANTS_EVENTS / refs.len() as u64;
        let mut next = 0u64;
        let refill = |next: &mut u64| {
            let (all, first) = (refs.len() as u64, *next);
            let reports = concurrently(
                &rt,
                refs.iter().enumerate().map(|(j, s)| {
                    let (store, s) = (store.clone(), s.clone());
                    let ns = (0..per_source).map(move |k| first + k * all + j as u64);
                    let p = page(&s.id, ns);
                    async move { store.ingest(&s, p).await.unwrap() }
                }),
            );
            *next += MERGE_TENANTS_EVENTS;
            assert_eq!(
                reports.iter().map(|r| r.accepted).sum::<u64>(),
                MERGE_TENANTS_EVENTS
            );
        };
        refill(&mut next);
        eprintln!(
            "merge_tenants setup: {tenants} tenants × {per_tenant} sources created and \
             {MERGE_TENANTS_EVENTS} events ingested in {:.1?}",
            started.elapsed()
        );
        let mut filled = true;
        group.bench_function(
            format!("store/{tenants}_tenants_x_{per_tenant}_sources"),
            |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        if !filled {
                            refill(&mut next);
                        }
                        filled = false;
                        let frontiers = frontiers.clone();
                        let start = Instant::now();
                        let reports = rt.block_on(store.merge_tenants(frontiers)).unwrap();
                        timed += start.elapsed();
                        assert_eq!(reports.len(), tenants);
                        let merged: u64 = reports.iter().map(|(_, r)| r.merged).sum();
                        assert_eq!(merged, MERGE_TENANTS_EVENTS);
                    }
                    timed
                });
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = ingest, read, merge, merge_tenants
}
criterion_main!(benches);
