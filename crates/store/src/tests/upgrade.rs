//! Opening a store of format 2 (one log for every tenant, sources keyed by id), written here by
//! hand in its own layout, upgrades it to a log per tenant.

use super::*;
use crate::upgrade::CUT_AFTER;
use std::path::Path;

/// The old store's epoch.
const EPOCH: u64 = 0x5EED_0000_0000_0002;

/// The old log, in order: `(source, event id, time, late)`. Tenant acme has a1 and a2, globex
/// has g1; `gone` was deleted (no record), so its tenant is unknown.
const OLD_LOG: [(&str, &str, i64, bool); 11] = [
    ("a1", "a1-1", 10, false),
    ("g1", "g1-1", 12, false),
    ("gone", "x-1", 14, false),
    ("a2", "a2-1", 15, false),
    ("a1", "a1-2", 20, false),
    ("g1", "g1-2", 22, false),
    ("a2", "a2-2", 30, false),
    ("gone", "x-2", 31, false),
    ("a1", "a1-3", 40, false),
    // Late in the old log (behind a1-3): stays so.
    ("g1", "g1-3", 25, true),
    ("a2", "a2-3", 50, false),
];

/// A pending (unmerged) batch: `(source, batch number, [(event id, time)])`.
type OldBatch = (&'static str, u64, &'static [(&'static str, i64)]);

const OLD_PENDING: [OldBatch; 4] = [
    ("a1", 0, &[("a1-4", 45)]),
    ("g1", 0, &[("g1-4", 30)]),
    ("g1", 1, &[("g1-5", 35), ("g1-6", 36)]),
    ("gone", 3, &[("x-3", 60)]),
];

fn tenant_of(source: &str) -> Option<&'static str> {
    match source {
        "a1" | "a2" => Some("acme"),
        "g1" => Some("globex"),
        _ => None,
    }
}

fn gap() -> Gap {
    Gap {
        detected_at: t(41),
        after: "a1-3".into(),
        resumed_at: "a1-4".into(),
        reason: "event id a1-3.5 expired upstream".into(),
    }
}

/// `source \0 suffix`, format 2's per-source key.
fn old_key(source: &str, suffix: &[u8]) -> Vec<u8> {
    let mut k = source.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(suffix);
    k
}

/// Writes a format-2 store into `dir` with raw sled, as format 2 laid it out.
fn write_format_2_store(dir: &Path) {
    let db = sled::Config::new().path(dir).open().unwrap();
    let tree = |name: &str| db.open_tree(name).unwrap();
    let meta = tree("meta");
    meta.insert("format", b"2").unwrap();
    meta.insert("epoch", &EPOCH.to_be_bytes()).unwrap();
    meta.insert("next_seq", &(OLD_LOG.len() as u64 + 1).to_be_bytes())
        .unwrap();
    meta.insert("last_time", &t(50).timestamp_millis().to_be_bytes())
        .unwrap();

    let sources = tree("sources");
    for id in ["a1", "a2", "g1"] {
        let mut record = serde_json::to_value(SourceRecord {
            provider: "egnyte".into(),
            config: serde_json::json!({ "domain": format!("{id}.example") }),
            ..record(tenant_of(id).unwrap(), id)
        })
        .unwrap();
        record.as_object_mut().unwrap().remove("incarnation");
        sources
            .insert(id, serde_json::to_vec(&record).unwrap())
            .unwrap();
    }

    let state = tree("state");
    let old_state = |n: u64, events: u64, next_pending: u64| {
        serde_json::json!({
            "checkpoint": cp(n),
            "watermark": Watermark::new(t(40 + n as i64)),
            "committed_at": time::format(&t(100 + n as i64)),
            "events_ingested": events,
            "duplicates_absorbed": n,
            "gaps_recorded": u64::from(n == 4),
            "next_pending": next_pending,
        })
    };
    for (id, value) in [
        ("a1", old_state(4, 4, 1)),
        ("a2", old_state(3, 3, 3)),
        ("g1", old_state(6, 6, 2)),
        ("gone", old_state(9, 3, 4)),
    ] {
        state
            .insert(id, serde_json::to_vec(&value).unwrap())
            .unwrap();
    }

    let (ids, pending) = (tree("ids"), tree("pending"));
    let mut ordinals = std::collections::HashMap::new();
    let (log, by_source) = (tree("log"), tree("by_source"));
    for (seq, &(source, id, ms, late)) in (1u64..).zip(&OLD_LOG) {
        let mut event = add(source, id, ms);
        event.seq = Some(Seq(seq));
        event.late = late;
        log.insert(seq.to_be_bytes(), serde_json::to_vec(&event).unwrap())
            .unwrap();
        let ordinal = ordinals.entry(source).or_insert(0u64);
        *ordinal += 1;
        by_source
            .insert(old_key(source, &seq.to_be_bytes()), &ordinal.to_be_bytes())
            .unwrap();
        ids.insert(old_key(source, id.as_bytes()), &[][..]).unwrap();
    }
    for (source, n, events) in OLD_PENDING {
        let mut batch = Vec::new();
        for &(id, ms) in events {
            crate::pending::push(&mut batch, &add(source, id, ms)).unwrap();
            ids.insert(old_key(source, id.as_bytes()), &[][..]).unwrap();
        }
        pending
            .insert(old_key(source, &n.to_be_bytes()), batch)
            .unwrap();
    }
    tree("gaps")
        .insert(
            old_key("a1", &0u64.to_be_bytes()),
            serde_json::to_vec(&gap()).unwrap(),
        )
        .unwrap();
    let objects = tree("objects");
    for (source, value) in [("a1", "/acme/x"), ("g1", "/globex/x"), ("gone", "/gone")] {
        let json = serde_json::to_vec(&serde_json::json!({ "path": value })).unwrap();
        objects.insert(old_key(source, b"folder-1"), json).unwrap();
    }
    // What the upgrade leaves alone.
    tree("api_keys")
        .insert("key-1", &br#"{"id":"key-1","tenant":"acme","key_sha256":"00","created_at":"2026-01-01T00:00:00.000Z"}"#[..])
        .unwrap();
    db.flush().unwrap();
}

/// The source of `tenant` named `id`.
fn source_of(s: &SledStore, tenant: &str, id: &str) -> SourceRef {
    s.source(tenant, &src(id)).unwrap().unwrap().source_ref()
}

/// What the tenant's read should give after the upgrade: its old entries in the old order,
/// numbered from 1, each event as it was but for its `seq`.
fn expected_log(tenant: &str) -> Vec<Event> {
    OLD_LOG
        .iter()
        .filter(|(source, ..)| tenant_of(source) == Some(tenant))
        .zip(1..)
        .map(|(&(source, id, ms, late), seq)| {
            let mut event = add(source, id, ms);
            event.seq = Some(Seq(seq));
            event.late = late;
            event
        })
        .collect()
}

/// Every event of the tenant's log, read in pages of 2, with `remaining` checked on the way.
async fn full_read(s: &SledStore, tenant: &str) -> Vec<StoredEvent> {
    let last = s.latest(tenant).await.unwrap().seq.get();
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let p = s
            .read(tenant, cursor.as_ref(), 2, &Filter::default())
            .await
            .unwrap();
        out.extend(p.events);
        assert_eq!(p.remaining, last - p.cursor.seq.get());
        cursor = Some(p.cursor);
        if p.remaining == 0 {
            return out;
        }
    }
}

/// Checks what the upgrade carried over, before anything changes it.
async fn check_upgraded(s: &SledStore) {
    for tenant in ["acme", "globex"] {
        let read = full_read(s, tenant).await;
        let events: Vec<Event> = read.iter().map(|e| e.event().unwrap()).collect();
        assert_eq!(events, expected_log(tenant), "{tenant}");
        for e in &read {
            let json: serde_json::Value = serde_json::from_slice(e.json()).unwrap();
            assert_eq!(json["seq"], e.seq.get(), "{tenant}");
        }
        assert!(events.iter().all(|e| e.source.as_str() != "gone"));
    }
    let (a1, a2, g1) = (
        source_of(s, "acme", "a1"),
        source_of(s, "acme", "a2"),
        source_of(s, "globex", "g1"),
    );
    assert_eq!(s.source("acme", &src("g1")).unwrap(), None);
    assert_eq!(s.source("globex", &src("a1")).unwrap(), None);
    assert_eq!(s.sources().unwrap().len(), 3);
    let record = s.source("globex", &src("g1")).unwrap().unwrap();
    assert_eq!(
        (record.provider.as_str(), &record.config),
        ("egnyte", &serde_json::json!({ "domain": "g1.example" }))
    );
    let mut incarnations = vec![a1.incarnation, a2.incarnation, g1.incarnation];
    incarnations.sort_unstable();
    incarnations.dedup();
    assert_eq!(incarnations.len(), 3);

    let state = s.source_state(&a1).unwrap().unwrap();
    assert_eq!(state.checkpoint, cp(4));
    assert_eq!(state.watermark, Some(Watermark::new(t(44))));
    assert_eq!(state.committed_at, t(104));
    assert_eq!(
        (
            state.events_ingested,
            state.duplicates_absorbed,
            state.gaps_recorded,
            state.next_pending
        ),
        (4, 4, 1, 1)
    );
    assert_eq!(s.source_state(&g1).unwrap().unwrap().checkpoint, cp(6));
    assert_eq!(s.source_state(&a2).unwrap().unwrap().next_pending, 3);
    assert_eq!(s.gaps(&a1).unwrap(), vec![gap()]);
    assert_eq!(s.gaps(&g1).unwrap(), vec![]);
    let folder = |r: &SourceRef| s.object_state(r).get("folder-1").unwrap();
    assert_eq!(folder(&a1), Some(serde_json::json!({ "path": "/acme/x" })));
    assert_eq!(
        folder(&g1),
        Some(serde_json::json!({ "path": "/globex/x" }))
    );
    assert_eq!(folder(&a2), None);
    let pending: Vec<u64> = [&a1, &a2, &g1]
        .iter()
        .map(|r| s.pending_len(r).unwrap())
        .collect();
    assert_eq!(pending, [1, 0, 3]);
    assert_eq!(s.api_keys().unwrap().len(), 1);
}

/// Checks the upgraded store keeps working: deduplication, new pages, merges.
async fn check_it_works_on(s: &SledStore) {
    let (a1, g1) = (source_of(s, "acme", "a1"), source_of(s, "globex", "g1"));
    // A replayed page is absorbed: logged and pending ids alike.
    let replay = page(
        vec![
            add("a1", "a1-1", 10),
            add("a1", "a1-3", 40),
            add("a1", "a1-4", 45),
        ],
        5,
        None,
    );
    let r = s.ingest(&a1, replay).await.unwrap();
    assert_eq!((r.accepted, r.duplicates), (0, 3));
    let r = s
        .ingest(&a1, page(vec![add("a1", "a1-5", 60)], 6, None))
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(s.pending_len(&a1).unwrap(), 2);

    // The pending events follow the copied log; late is measured against the tenant's own
    // last time (acme's 50, globex's 25), not the old log's (50).
    let r = s.merge("acme", time::max()).await.unwrap();
    assert_eq!(
        r,
        MergeReport {
            merged: 2,
            late: 1,
            last: Seq(8)
        }
    );
    let r = s.merge("globex", time::max()).await.unwrap();
    assert_eq!(
        r,
        MergeReport {
            merged: 3,
            late: 0,
            last: Seq(6)
        }
    );
    assert_eq!(s.pending_len(&g1).unwrap(), 0);
    let tail = |log: Vec<(String, String, bool)>, from: usize| log[from..].to_vec();
    let entry = |source: &str, id: &str, late| (source.to_owned(), id.to_owned(), late);
    assert_eq!(
        tail(log_in(s, "acme").await, 6),
        [entry("a1", "a1-4", true), entry("a1", "a1-5", false)]
    );
    assert_eq!(
        tail(log_in(s, "globex").await, 3),
        [
            entry("g1", "g1-4", false),
            entry("g1", "g1-5", false),
            entry("g1", "g1-6", false)
        ]
    );
    // A read by one source counts through the copied index and the new entries.
    let p = s.read("acme", None, 1, &sources(&["a1"])).await.unwrap();
    assert_eq!((p.cursor.seq, p.remaining), (Seq(1), 4));
    let p = s
        .read("acme", Some(&p.cursor), 1, &sources(&["a2"]))
        .await
        .unwrap();
    assert_eq!((p.cursor.seq, p.remaining), (Seq(2), 2));
}

fn assert_format_3(db: &sled::Db) {
    let names = db.tree_names();
    for old in [
        "log",
        "sources",
        "state",
        "ids",
        "pending",
        "gaps",
        "objects",
        "by_source",
    ] {
        assert!(
            !names.iter().any(|n| n.as_ref() == old.as_bytes()),
            "tree {old} is left"
        );
    }
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(meta.get("format").unwrap().unwrap(), b"3"[..]);
    for old in ["next_seq", "last_time", "upgrade3"] {
        assert_eq!(meta.get(old).unwrap(), None, "meta {old} is left");
    }
    assert_eq!(meta.get("epoch").unwrap().unwrap(), EPOCH.to_be_bytes()[..]);
}

#[test]
fn a_format_2_store_is_upgraded_to_a_log_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    write_format_2_store(dir.path());
    rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        assert_format_3(&s.inner.db);
        check_upgraded(&s).await;
        assert_ne!(s.stream_key("acme"), s.stream_key("globex"));
    });
    // Reopened, it is format 3 as it stands.
    rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        assert_format_3(&s.inner.db);
        check_upgraded(&s).await;
        check_it_works_on(&s).await;
    });
    rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(log_in(&s, "acme").await.len(), 8);
        assert_eq!(log_in(&s, "globex").await.len(), 6);
    });
}

#[test]
fn an_upgrade_cut_short_resumes_where_it_stopped() {
    let (whole, cut) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_format_2_store(whole.path());
    write_format_2_store(cut.path());
    // Cut after the first log batch; the second commits then fails (the batches hold 3).
    CUT_AFTER.with(|c| c.set(Some(1)));
    let failed = SledStore::open(cut.path());
    CUT_AFTER.with(|c| c.set(None));
    assert!(matches!(failed, Err(StoreError::Worker(_))), "{failed:?}");
    drop(failed);
    {
        // Still format 2, half copied: the progress says where the copy stopped.
        let db = open_raw(cut.path());
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(meta.get("format").unwrap().unwrap(), b"2"[..]);
        let progress: serde_json::Value =
            serde_json::from_slice(&meta.get("upgrade3").unwrap().unwrap()).unwrap();
        assert_eq!(progress["log_through"], 6);
        assert_eq!(db.open_tree("log").unwrap().len(), OLD_LOG.len());
    }
    rt().block_on(async {
        let (whole, cut) = (
            SledStore::open(whole.path()).unwrap(),
            SledStore::open(cut.path()).unwrap(),
        );
        assert_format_3(&cut.inner.db);
        check_upgraded(&cut).await;
        for tenant in ["acme", "globex"] {
            assert_eq!(
                full_read(&cut, tenant).await,
                full_read(&whole, tenant).await
            );
            assert_eq!(cut.stream_key(tenant), whole.stream_key(tenant));
            assert_eq!(
                cut.sources_of(tenant).unwrap(),
                whole.sources_of(tenant).unwrap()
            );
        }
        check_it_works_on(&whole).await;
        check_it_works_on(&cut).await;
        for tenant in ["acme", "globex"] {
            assert_eq!(
                full_read(&cut, tenant).await,
                full_read(&whole, tenant).await
            );
        }
    });
}

#[test]
fn an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("format", b"9")
            .unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(dir.path()) {
        Err(StoreError::Format {
            found, expected, ..
        }) => assert_eq!((found.as_str(), expected), ("9", 3)),
        other => panic!("expected a format error, got {other:?}"),
    }
    // Refused without a change.
    let db = open_raw(dir.path());
    assert_eq!(db.tree_names().len(), 2, "{:?}", db.tree_names());
}

/// Opens the directory with raw sled, waiting for a store just dropped to let go of it.
pub(super) fn open_raw(dir: &Path) -> sled::Db {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => return db,
            Err(_) if started.elapsed() < std::time::Duration::from_secs(10) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_pending_batch_this_build_cannot_read_stops_the_upgrade_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_format_2_store(dir.path());
    {
        // One event's JSON where a framed batch belongs (as stores of an early build kept them).
        let db = open_raw(dir.path());
        db.open_tree("pending")
            .unwrap()
            .insert(old_key("a2", &7u64.to_be_bytes()), &br#"{"id":"x"}"#[..])
            .unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(dir.path()) {
        Err(StoreError::Corrupt { what, .. }) => {
            assert!(what.contains("pending events of source a2"), "{what}");
        }
        other => panic!("expected the upgrade to stop, got {other:?}"),
    }
    // Still format 2, with its log where it was.
    let db = open_raw(dir.path());
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(meta.get("format").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(db.open_tree("log").unwrap().len(), OLD_LOG.len());
}
