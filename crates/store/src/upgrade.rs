//! Upgrading a store of format 1 or 2 (one log for every tenant, sources keyed by id) to
//! format 3 (a log per tenant, sources keyed by incarnation).
//!
//! The new trees are written beside the old ones, which stay untouched until the format flips,
//! so an upgrade cut short (a crash, a full disk) is taken up again on the next open:
//!
//! 1. **Sources**: every source record gets its tenant's number (tenants in name order) and an
//!    incarnation (sources in id order), and its state, deduplication index, pending events,
//!    gaps and object memory are copied under the new keys. Deterministic and idempotent, so
//!    it simply runs again when cut short; `upgrade3` in `meta` marks it done.
//! 2. **Log**: the old log is read in order, a batch at a time; each entry goes to its source's
//!    tenant's log with that tenant's next position (its JSON's `seq` rewritten) and into the
//!    source index. Each batch commits with the tenants' positions and the last old position
//!    copied (`upgrade3`), so a cut-short upgrade resumes after the last batch committed.
//! 3. `format` becomes 3, then the old trees are dropped (again on a later open if cut short).
//!
//! Format 2 did not record the tenant of a deleted source's events: entries whose source has no
//! record are not carried into any tenant's log (their number is logged). Cursors of the old
//! store are refused afterwards (every tenant's positions start again at 1).

use crate::StoreError;
use crate::key;
use crate::sled_store::{
    META_FORMAT, META_NEXT_INCARNATION, META_NEXT_TENANT, TenantRecord, decode_json, encode_json,
    open_tree, trees,
};
use crate::{SourceRecord, SourceState};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use std::collections::{BTreeSet, HashMap};
use tributary_core::{Event, Seq};

/// The trees of formats 1 and 2 that format 3 replaces.
const OLD_TREES: [&str; 8] = [
    "sources",
    "state",
    "ids",
    "pending",
    "gaps",
    "objects",
    "log",
    "by_source",
];
/// Old `meta` keys: the global log's next position and last time merged.
const OLD_META: [&[u8]; 2] = [b"next_seq", b"last_time"];
/// Where an upgrade stands.
const META_UPGRADE: &[u8] = b"upgrade3";

/// Keys copied (or log entries moved) per batch.
const BATCH: usize = if cfg!(test) { 3 } else { 10_000 };

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Progress {
    /// The last position of the old log copied (0: none yet).
    log_through: u64,
}

/// A format-2 source as the upgrade maps it.
#[derive(Clone, Copy)]
struct Mapped {
    tenant: u64,
    incarnation: u64,
}

pub(crate) fn to_format_3(db: &sled::Db, meta: &sled::Tree, path: &str) -> Result<(), StoreError> {
    let old = |name| open_tree(db, name);
    let (sources, log) = (old("sources")?, old("log")?);
    tracing::info!(
        store = path,
        sources = sources.len(),
        log_entries = log.len(),
        "upgrading the store to format 3: a log per tenant, sources by incarnation"
    );
    let records = old_sources(&sources)?;
    let names: BTreeSet<&str> = records.iter().map(|r| r.tenant.as_str()).collect();
    let tenant_no: HashMap<&str, u64> = names.iter().zip(1u64..).map(|(n, i)| (*n, i)).collect();
    let mapped: HashMap<String, Mapped> = records
        .iter()
        .zip(1u64..)
        .map(|(r, inc)| {
            let m = Mapped {
                tenant: tenant_no[r.tenant.as_str()],
                incarnation: inc,
            };
            (r.id.as_str().to_owned(), m)
        })
        .collect();

    let progress: Option<Progress> = meta
        .get(META_UPGRADE)
        .map_err(StoreError::storage("reading the upgrade's progress"))?
        .map(|v| decode_json(&v, || "upgrade progress".into()))
        .transpose()?;
    let progress = match progress {
        Some(p) => {
            tracing::info!(
                store = path,
                copied_through = p.log_through,
                "resuming the upgrade"
            );
            p
        }
        None => {
            copy_sources(db, meta, &records, &tenant_no, &mapped, path)?;
            Progress::default()
        }
    };
    copy_log(db, meta, &log, &mapped, progress, path)?;
    meta.insert(META_FORMAT, b"3")
        .map_err(StoreError::storage("recording the format"))?;
    db.flush()
        .map_err(StoreError::storage("flushing the upgraded store"))?;
    drop_old_trees(db)?;
    tracing::info!(store = path, "store upgraded to format 3");
    Ok(())
}

fn old_sources(sources: &sled::Tree) -> Result<Vec<SourceRecord>, StoreError> {
    let mut records = Vec::new();
    for entry in sources.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the old sources"))?;
        records.push(decode_json(&v, || {
            format!("source {:?}", String::from_utf8_lossy(&k))
        })?);
    }
    Ok(records)
}

/// Step 1: tenants, source records (with incarnations) and every per-source tree.
fn copy_sources(
    db: &sled::Db,
    meta: &sled::Tree,
    records: &[SourceRecord],
    tenant_no: &HashMap<&str, u64>,
    mapped: &HashMap<String, Mapped>,
    path: &str,
) -> Result<(), StoreError> {
    let tenants = open_tree(db, trees::TENANTS)?;
    let mut batch = sled::Batch::default();
    for (name, &no) in tenant_no {
        batch.insert(
            name.as_bytes(),
            encode_json(&TenantRecord::new(no), "tenant")?,
        );
    }
    tenants
        .apply_batch(batch)
        .map_err(StoreError::storage("writing the tenants"))?;
    let new_sources = open_tree(db, trees::SOURCES)?;
    let mut batch = sled::Batch::default();
    for record in records {
        let m = mapped[record.id.as_str()];
        let mut record = record.clone();
        record.incarnation = m.incarnation;
        batch.insert(
            key::num_str(m.tenant, record.id.as_str()),
            encode_json(&record, "source")?,
        );
    }
    new_sources
        .apply_batch(batch)
        .map_err(StoreError::storage("writing the sources"))?;

    // `state` is keyed by the source id alone; the others by `source \0 suffix`.
    let state = open_tree(db, "state")?;
    let new_state = open_tree(db, trees::STATE)?;
    for entry in state.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the old states"))?;
        let id = String::from_utf8_lossy(&k);
        if let Some(m) = mapped.get(id.as_ref()) {
            // Checked, so a corrupt state stops the upgrade rather than being carried over.
            let _: SourceState = decode_json(&v, || format!("state of source {id}"))?;
            new_state
                .insert(m.incarnation.to_be_bytes(), v)
                .map_err(StoreError::storage("writing a state"))?;
        }
    }
    for (old, new) in [
        ("ids", trees::IDS),
        ("pending", trees::PENDING),
        ("gaps", trees::GAPS),
        ("objects", trees::OBJECTS),
    ] {
        let (from, to) = (open_tree(db, old)?, open_tree(db, new)?);
        let total = from.len();
        let (mut batch, mut in_batch, mut done) = (sled::Batch::default(), 0, 0usize);
        for entry in from.iter() {
            let (k, v) = entry.map_err(StoreError::storage("reading old source data"))?;
            let at = k
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| StoreError::corrupt(format!("{old} key"), format!("{k:?}")))?;
            let id = String::from_utf8_lossy(&k[..at]);
            let Some(m) = mapped.get(id.as_ref()) else {
                continue;
            };
            if new == trees::PENDING {
                // Checked, so a batch this build cannot read stops the upgrade (with the old
                // store untouched) instead of failing every merge after it.
                crate::pending::count(&v).map_err(|e| {
                    StoreError::corrupt(
                        format!("pending events of source {id} (upgrading to format 3)"),
                        e,
                    )
                })?;
            }
            let suffix = &k[at + 1..];
            let mut new_key = Vec::with_capacity(2 * key::N + suffix.len());
            if new == trees::PENDING {
                new_key.extend_from_slice(&m.tenant.to_be_bytes());
            }
            new_key.extend_from_slice(&m.incarnation.to_be_bytes());
            new_key.extend_from_slice(suffix);
            batch.insert(new_key, v);
            in_batch += 1;
            if in_batch == BATCH {
                to.apply_batch(std::mem::take(&mut batch))
                    .map_err(StoreError::storage("copying source data"))?;
                done += in_batch;
                in_batch = 0;
                tracing::info!(
                    store = path,
                    tree = old,
                    done,
                    of = total,
                    "copying source data"
                );
            }
        }
        to.apply_batch(batch)
            .map_err(StoreError::storage("copying source data"))?;
    }
    let mut batch = sled::Batch::default();
    batch.insert(
        META_NEXT_TENANT,
        &(tenant_no.len() as u64 + 1).to_be_bytes(),
    );
    batch.insert(
        META_NEXT_INCARNATION,
        &(records.len() as u64 + 1).to_be_bytes(),
    );
    batch.insert(
        META_UPGRADE,
        encode_json(&Progress::default(), "upgrade progress")?,
    );
    db.flush()
        .map_err(StoreError::storage("flushing the copied sources"))?;
    meta.apply_batch(batch)
        .map_err(StoreError::storage("recording the upgrade's progress"))?;
    db.flush()
        .map_err(StoreError::storage("flushing the upgrade's progress"))?;
    Ok(())
}

/// Step 2: the old log into the tenants' logs, a batch per transaction, resuming after
/// `progress`.
fn copy_log(
    db: &sled::Db,
    meta: &sled::Tree,
    log: &sled::Tree,
    mapped: &HashMap<String, Mapped>,
    progress: Progress,
    path: &str,
) -> Result<(), StoreError> {
    let (tenants, new_log, by_source) = (
        open_tree(db, trees::TENANTS)?,
        open_tree(db, trees::LOG)?,
        open_tree(db, trees::BY_SOURCE)?,
    );
    let mut records: HashMap<u64, (String, TenantRecord)> = HashMap::new();
    for entry in tenants.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the tenants"))?;
        let record: TenantRecord = decode_json(&v, || "tenant".into())?;
        records.insert(
            record.no,
            (String::from_utf8_lossy(&k).into_owned(), record),
        );
    }
    let mut ordinals: HashMap<u64, u64> = HashMap::new();
    let total = log.len();
    let (mut done, mut dropped) = (0u64, 0u64);
    let mut from = progress.log_through + 1;
    loop {
        let mut moved = Vec::with_capacity(BATCH);
        let mut through = None;
        for entry in log.range(Seq(from).to_be_bytes()..).take(BATCH) {
            let (k, v) = entry.map_err(StoreError::storage("reading the old log"))?;
            let old_seq = key::need_num(&k, 0, "old log")?;
            through = Some(old_seq);
            let mut event: Event = decode_json(&v, || format!("old log entry {old_seq}"))?;
            let Some(m) = mapped.get(event.source.as_str()) else {
                dropped += 1;
                continue;
            };
            let Some((_, tenant)) = records.get_mut(&m.tenant) else {
                return Err(StoreError::corrupt(
                    "upgrade",
                    "a source names an unknown tenant",
                ));
            };
            let seq = tenant.next_seq;
            tenant.next_seq += 1;
            let ms = event.occurred_at.timestamp_millis();
            tenant.last_time = Some(tenant.last_time.map_or(ms, |t| t.max(ms)));
            event.seq = Some(Seq(seq));
            let json = encode_json(&event, "event")?;
            let ordinal = match ordinals.get(&m.incarnation) {
                Some(&n) => n + 1,
                None => last_ordinal(&by_source, m.incarnation)? + 1,
            };
            ordinals.insert(m.incarnation, ordinal);
            moved.push((
                key::pair(m.tenant, seq),
                key::entry(m.incarnation, ms, &json),
                key::pair(m.incarnation, seq),
                ordinal,
            ));
        }
        let Some(through) = through else {
            break;
        };
        let progress = encode_json(
            &Progress {
                log_through: through,
            },
            "upgrade progress",
        )?;
        let tenant_values = records
            .values()
            .map(|(name, r)| Ok((name.clone(), encode_json(r, "tenant")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        (&new_log, &by_source, &tenants, meta).transaction(|(l, b, t, m)| {
            for (log_key, value, index_key, ordinal) in &moved {
                l.insert(&log_key[..], value.as_slice())?;
                b.insert(&index_key[..], &ordinal.to_be_bytes())?;
            }
            for (name, value) in &tenant_values {
                t.insert(name.as_bytes(), value.as_slice())?;
            }
            m.insert(META_UPGRADE, progress.as_slice())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
        })?;
        db.flush()
            .map_err(StoreError::storage("flushing the upgraded log"))?;
        done += moved.len() as u64;
        tracing::info!(
            store = path,
            done,
            dropped,
            of = total,
            "moving the log into tenants' logs"
        );
        interrupt_point()?;
        from = through + 1;
    }
    if dropped > 0 {
        tracing::warn!(
            store = path,
            dropped,
            "log entries of deleted sources were not carried over: format 2 did not record their tenant"
        );
    }
    Ok(())
}

fn last_ordinal(by_source: &sled::Tree, incarnation: u64) -> Result<u64, StoreError> {
    match by_source
        .scan_prefix(incarnation.to_be_bytes())
        .next_back()
        .transpose()
        .map_err(StoreError::storage("reading the source index"))?
    {
        Some((k, v)) => key::ordinal(&k, &v),
        None => Ok(0),
    }
}

/// Removes what formats 1 and 2 had that format 3 replaced, if anything is left of it.
pub(crate) fn drop_old_trees(db: &sled::Db) -> Result<(), StoreError> {
    let names = db.tree_names();
    for old in OLD_TREES {
        if names.iter().any(|n| n.as_ref() == old.as_bytes()) {
            db.drop_tree(old)
                .map_err(StoreError::storage("removing an old tree"))?;
        }
    }
    let meta = open_tree(db, "meta")?;
    for k in OLD_META.iter().copied().chain([META_UPGRADE]) {
        meta.remove(k)
            .map_err(StoreError::storage("removing an old meta key"))?;
    }
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Log batches an upgrade on this thread may commit before it is cut short (tests).
    pub(crate) static CUT_AFTER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

#[cfg(test)]
fn interrupt_point() -> Result<(), StoreError> {
    CUT_AFTER.with(|cut| match cut.get() {
        Some(0) => Err(StoreError::Worker("upgrade cut short (test)".into())),
        Some(n) => {
            cut.set(Some(n - 1));
            Ok(())
        }
        None => Ok(()),
    })
}

#[cfg(not(test))]
fn interrupt_point() -> Result<(), StoreError> {
    Ok(())
}
