//! The sled-backed store: its trees, what it keeps in memory, opening, and the async edge.

use crate::key;
use crate::sealed::{Found, Sealer};
use crate::store::{EventStore, IngestReport, MergeReport, ReadPage, Retention, RetentionReport};
use crate::{
    ApiKeyRecord, DeliveryAttempt, DeliveryState, Filter, SecretKey, SecretKeys, SourceRecord,
    SourceRef, SourceState, StoreError, SubscriptionRecord,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use tributary_core::{Cursor, Gap, ObjectStateError, ObjectStateRead, Page, SourceId};

/// How long [`SledStore::open`] waits for another holder of the directory's lock to let go.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT: u32 = 3;

pub(crate) const META_FORMAT: &[u8] = b"format";
pub(crate) const META_EPOCH: &[u8] = b"epoch";
/// The number the next new tenant gets (starts at 1).
pub(crate) const META_NEXT_TENANT: &[u8] = b"next_tenant";
/// The incarnation the next new source gets (starts at 1).
pub(crate) const META_NEXT_INCARNATION: &[u8] = b"next_incarnation";
/// Written by [`EventStore::probe_write`]: the time of the last probe (ms), read by nothing.
pub(crate) const META_PROBE: &[u8] = b"probe";

/// The trees of format 3, by role. Their names differ from format 2's, so an upgrade writes
/// them beside the old ones and removes those only once it is complete.
pub(crate) mod trees {
    pub(crate) const TENANTS: &str = "t3.tenants";
    pub(crate) const SOURCES: &str = "t3.sources";
    pub(crate) const IDS: &str = "t3.ids";
    pub(crate) const PENDING: &str = "t3.pending";
    pub(crate) const STATE: &str = "t3.state";
    pub(crate) const GAPS: &str = "t3.gaps";
    pub(crate) const OBJECTS: &str = "t3.objects";
    pub(crate) const LOG: &str = "t3.log";
    pub(crate) const BY_SOURCE: &str = "t3.by_source";
}

/// Reads that examine at most this many entries (their budget, or their page size when they keep
/// every entry they examine) run on the caller's task: a page of the
/// default size from sled's cache takes some tens of microseconds, while a hand-off to the
/// blocking pool costs about a third of the API's throughput under load
/// (`tests/bench/api-wrk.sh`). Larger budgets run on the blocking pool.
pub const INLINE_SCAN: usize = 200;

/// The store on sled. Cheap to clone: clones share one database.
///
/// Trees (format 3; `docs/architecture.md` has the table): `meta`; `t3.tenants` (tenant →
/// [`TenantRecord`]); `t3.sources` (`tenant | id` → [`SourceRecord`]); `t3.pending`
/// (`tenant | incarnation | n` → a batch of framed events); `t3.state`, `t3.ids`, `t3.gaps`,
/// `t3.objects` (by incarnation); `t3.log` (`tenant | seq` → header + event JSON);
/// `t3.by_source` (`incarnation | seq` → ordinal); `subscriptions`, `deliveries`, `api_keys`.
#[derive(Clone)]
pub struct SledStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    pub(crate) meta: sled::Tree,
    pub(crate) tenants: sled::Tree,
    pub(crate) sources: sled::Tree,
    pub(crate) ids: sled::Tree,
    pub(crate) pending: sled::Tree,
    pub(crate) state: sled::Tree,
    pub(crate) gaps: sled::Tree,
    pub(crate) objects: sled::Tree,
    pub(crate) log: sled::Tree,
    pub(crate) by_source: sled::Tree,
    pub(crate) subscriptions: sled::Tree,
    pub(crate) deliveries: sled::Tree,
    /// Each subscription's recent delivery attempts (one JSON list per subscription).
    pub(crate) attempts: sled::Tree,
    pub(crate) api_keys: sled::Tree,
    pub(crate) epoch: u64,
    /// Seals and opens the secrets in records (see [`crate::sealed`]).
    pub(crate) sealer: Sealer,
    /// What opening re-sealed.
    resealed: Resealed,
    /// One writer at a time: ingest, merge, retention and source changes read outside their
    /// transaction what they then write inside it.
    writer: Mutex<()>,
    /// See [`EventStore::sources_generation`].
    sources_generation: AtomicU64,
    /// The tenants and their live sources, mirrored from the trees (changed only by writers,
    /// after their transaction commits).
    pub(crate) catalog: RwLock<Catalog>,
    /// Each incarnation's newest ordinal in the log index as committed, filled as merges need
    /// them (read from the index on a miss); used by writers only.
    pub(crate) ordinals: Mutex<HashMap<u64, u64>>,
}

/// What the store keeps in memory of its tenants and sources.
#[derive(Default)]
pub(crate) struct Catalog {
    pub(crate) tenants: HashMap<String, Arc<TenantLog>>,
    /// Every live incarnation: its tenant and id.
    pub(crate) live: HashMap<u64, (Arc<TenantLog>, SourceId)>,
}

/// One tenant's log as readers see it, and its live sources.
pub(crate) struct TenantLog {
    pub(crate) name: String,
    /// The tenant's number in keys.
    pub(crate) no: u64,
    /// [`EventStore::stream_key`].
    pub(crate) key: u64,
    /// The end of the log readers see: the persisted `next_seq`, mirrored after each merge is
    /// flushed to disk (so no reader sees a position a crash could give to another event).
    pub(crate) next_seq: AtomicU64,
    /// The first position retention has not removed, mirrored after each retention pass.
    pub(crate) retained_from: AtomicU64,
    /// Each live incarnation with entries in the log (and those deleted since the store opened),
    /// with its newest entry that readers may see. Updated before the end of the log moves.
    pub(crate) ends: RwLock<HashMap<u64, SourceEnd>>,
    /// The live sources, by id.
    pub(crate) names: RwLock<HashMap<SourceId, u64>>,
    /// The record as last committed (`t3.tenants`): read and changed by writers only, under the
    /// writer lock, so a merge need not read and decode it.
    pub(crate) committed: Mutex<TenantRecord>,
}

impl TenantLog {
    pub(crate) fn new(name: &str, no: u64, epoch: u64, record: &TenantRecord) -> Self {
        Self {
            name: name.to_owned(),
            no,
            key: stream_key(epoch, name),
            next_seq: AtomicU64::new(record.next_seq),
            retained_from: AtomicU64::new(record.next_seq),
            ends: RwLock::new(HashMap::new()),
            names: RwLock::new(HashMap::new()),
            committed: Mutex::new(*record),
        }
    }

    pub(crate) fn ends(&self) -> RwLockReadGuard<'_, HashMap<u64, SourceEnd>> {
        self.ends.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn incarnation(&self, id: &SourceId) -> Option<u64> {
        self.names
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .copied()
    }
}

/// A tenant as persisted in `t3.tenants`: its number and where its log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantRecord {
    pub(crate) no: u64,
    /// The next position to assign (starts at 1).
    pub(crate) next_seq: u64,
    /// The largest `occurred_at` (ms) merged: the frontier this tenant's merge reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_time: Option<i64>,
}

impl TenantRecord {
    pub(crate) fn new(no: u64) -> Self {
        Self {
            no,
            next_seq: 1,
            last_time: None,
        }
    }
}

/// The key of a tenant's stream: the first 8 bytes of SHA-256 over the store's epoch and the
/// tenant's name. Stable for the life of the store; tells nothing of the epoch or of other
/// tenants.
pub(crate) fn stream_key(epoch: u64, tenant: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"tributary stream\0");
    h.update(epoch.to_be_bytes());
    h.update(tenant.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore").finish_non_exhaustive()
    }
}

/// Secrets re-sealed under the current key when the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resealed {
    /// Stored plain by an earlier build.
    pub plain: u64,
    /// Sealed under the previous key.
    pub previous: u64,
}

impl SledStore {
    /// Opens (or creates) the store in the directory `path` with the key of the directory's key
    /// file ([`crate::DEFAULT_KEY_FILE`], created with a new key when it is missing): for tests,
    /// tools and a server given no key. See [`SledStore::open_with_keys`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        private_dir(path)?;
        let file = crate::default_key_file(path);
        let (key, created) = SecretKey::load_or_create(&file)?;
        if created {
            tracing::warn!(
                key_file = %file.display(),
                "generated a new secret key for credentials at rest; back it up (without it the stored credentials cannot be read)"
            );
        }
        Self::open_with_keys(path, SecretKeys::new(key))
    }

    /// Opens (or creates) the store in the directory `path`, upgrading a store of an older
    /// format (see [`crate::upgrade`]), with its secrets sealed under `keys.current`: secrets
    /// stored plain (by an earlier build) or under `keys.previous` are re-sealed before it
    /// returns; a secret sealed under another key fails the open, naming its record. The
    /// directory is made private (0700) and the files in it readable by their owner only (0600).
    ///
    /// sled locks the directory; a store just closed in this process (its background flusher
    /// still finishing) can hold the lock for a moment, so a lock conflict is retried with a
    /// growing pause for up to [`LOCK_WAIT`] before it is reported.
    pub fn open_with_keys(path: impl AsRef<Path>, keys: SecretKeys) -> Result<Self, StoreError> {
        let path = path.as_ref();
        private_dir(path)?;
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(5);
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                Err(e) => return Err(StoreError::storage("opening the database")(e)),
            }
        };
        let store = Self::from_db(db, &path.display().to_string(), keys)?;
        private_files(path)?;
        Ok(store)
    }

    /// A store in a temporary directory, removed when the last clone is dropped: for tests and demos.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(StoreError::storage("opening a temporary database"))?;
        Self::from_db(db, "(temporary)", SecretKeys::new(SecretKey::generate()?))
    }

    /// What opening re-sealed under the current key.
    pub fn resealed(&self) -> Resealed {
        self.inner.resealed
    }

    fn from_db(db: sled::Db, path: &str, keys: SecretKeys) -> Result<Self, StoreError> {
        let meta = open_tree(&db, "meta")?;
        match meta
            .get(META_FORMAT)
            .map_err(StoreError::storage("reading the format"))?
        {
            Some(v) if v.as_ref() == FORMAT.to_string().as_bytes() => {
                crate::upgrade::drop_old_trees(&db)?;
            }
            Some(v) if v.as_ref() == b"1" || v.as_ref() == b"2" => {
                crate::upgrade::to_format_3(&db, &meta, path)?;
            }
            Some(v) => {
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    found: String::from_utf8_lossy(&v).into_owned(),
                    expected: FORMAT,
                });
            }
            None => {
                // A new store: fix its epoch, counters and format in one atomic batch.
                let epoch = fastrand::u64(1..);
                let mut batch = sled::Batch::default();
                batch.insert(META_EPOCH, &epoch.to_be_bytes());
                batch.insert(META_NEXT_TENANT, &1u64.to_be_bytes());
                batch.insert(META_NEXT_INCARNATION, &1u64.to_be_bytes());
                batch.insert(META_FORMAT, FORMAT.to_string().as_bytes());
                meta.apply_batch(batch)
                    .map_err(StoreError::storage("initialising the store"))?;
                db.flush()
                    .map_err(StoreError::storage("flushing the new store"))?;
            }
        }
        let epoch = match meta
            .get(META_EPOCH)
            .map_err(StoreError::storage("reading the epoch"))?
        {
            Some(v) => key::u64_value(&v, "epoch")?,
            None => {
                return Err(StoreError::corrupt(
                    "meta",
                    "the store has a format but no epoch",
                ));
            }
        };
        let sealer = Sealer::new(keys);
        let sources = open_tree(&db, trees::SOURCES)?;
        let subscriptions = open_tree(&db, "subscriptions")?;
        let resealed = reseal(&db, &sealer, &sources, &subscriptions)?;
        let inner = Inner {
            tenants: open_tree(&db, trees::TENANTS)?,
            sources,
            ids: open_tree(&db, trees::IDS)?,
            pending: open_tree(&db, trees::PENDING)?,
            state: open_tree(&db, trees::STATE)?,
            gaps: open_tree(&db, trees::GAPS)?,
            objects: open_tree(&db, trees::OBJECTS)?,
            log: open_tree(&db, trees::LOG)?,
            by_source: open_tree(&db, trees::BY_SOURCE)?,
            subscriptions,
            deliveries: open_tree(&db, "deliveries")?,
            attempts: open_tree(&db, "attempts")?,
            api_keys: open_tree(&db, "api_keys")?,
            meta,
            db,
            epoch,
            sealer,
            resealed,
            writer: Mutex::new(()),
            sources_generation: AtomicU64::new(0),
            catalog: RwLock::new(Catalog::default()),
            ordinals: Mutex::new(HashMap::new()),
        };
        let catalog = load_catalog(&inner)?;
        *inner
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner) = catalog;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Takes the single-writer lock. A writer that panicked left nothing half-written (its
    /// transaction either committed or did not), so a poisoned lock is still usable.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.inner
            .catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn catalog_mut(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.inner
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's log, if the tenant ever had a source.
    pub(crate) fn tenant(&self, tenant: &str) -> Option<Arc<TenantLog>> {
        self.catalog().tenants.get(tenant).cloned()
    }

    /// The live incarnation `source` names: its tenant's log. Refuses a deleted incarnation or a
    /// reference whose tenant or id does not match the store's.
    pub(crate) fn live(&self, source: &SourceRef) -> Result<Arc<TenantLog>, StoreError> {
        match self.catalog().live.get(&source.incarnation) {
            Some((log, id)) if log.name == source.tenant && *id == source.id => Ok(Arc::clone(log)),
            _ => Err(StoreError::UnknownSource {
                source_id: source.id.to_string(),
            }),
        }
    }

    /// Runs `f` on a blocking thread, then flushes to disk before returning its result.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&SledStore) -> Result<T, StoreError> + Send + 'static,
    {
        let this = self.clone();
        // The flush runs on the same blocking thread: sled's `flush_async` futures were seen to
        // never complete when dozens of writers flushed at once (the idle-sources benchmark).
        tokio::task::spawn_blocking(move || {
            let out = f(&this)?;
            this.inner
                .db
                .flush()
                .map_err(StoreError::storage("flushing to disk"))?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    pub(crate) fn meta_u64(&self, key: &'static [u8], default: u64) -> Result<u64, StoreError> {
        meta_u64(&self.inner.meta, key, default)
    }
}

pub(crate) fn open_tree(db: &sled::Db, name: &str) -> Result<sled::Tree, StoreError> {
    db.open_tree(name)
        .map_err(StoreError::storage("opening a tree"))
}

pub(crate) fn meta_u64(meta: &sled::Tree, key: &[u8], default: u64) -> Result<u64, StoreError> {
    match meta.get(key).map_err(StoreError::storage("reading meta"))? {
        Some(v) => key::u64_value(&v, "meta value"),
        None => Ok(default),
    }
}

/// Seals the secrets stored plain (by an earlier build) or under the previous key under the
/// current key, in one batch per tree, flushed; logs the counts. A secret that does not open
/// fails the open, naming its record.
fn reseal(
    db: &sled::Db,
    sealer: &Sealer,
    sources: &sled::Tree,
    subscriptions: &sled::Tree,
) -> Result<Resealed, StoreError> {
    use crate::records::{encode_source, encode_subscription, open_source, open_subscription};
    let mut counts = Resealed::default();
    let mut count = |found: Found| match found {
        Found::Current => false,
        Found::Plain => {
            counts.plain += 1;
            true
        }
        Found::Previous => {
            counts.previous += 1;
            true
        }
    };
    let mut batch = sled::Batch::default();
    for entry in sources.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the sources"))?;
        let (record, found) = open_source(sealer, &v)?;
        if count(found) {
            batch.insert(k, encode_source(sealer, &record)?);
        }
    }
    sources
        .apply_batch(batch)
        .map_err(StoreError::storage("re-sealing the sources"))?;
    let mut batch = sled::Batch::default();
    for entry in subscriptions.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the subscriptions"))?;
        let (record, found) = open_subscription(sealer, &v)?;
        if count(found) {
            batch.insert(k, encode_subscription(sealer, &record)?);
        }
    }
    subscriptions
        .apply_batch(batch)
        .map_err(StoreError::storage("re-sealing the subscriptions"))?;
    if counts != Resealed::default() {
        db.flush()
            .map_err(StoreError::storage("flushing the re-sealed secrets"))?;
        tracing::info!(
            plain = counts.plain,
            previous_key = counts.previous,
            "sealed the stored secrets under the current key (plain ones from an earlier build, and those under the previous key)"
        );
    }
    Ok(counts)
}

/// Creates `path` when missing, and makes it private to its owner (0700).
fn private_dir(path: &Path) -> Result<(), StoreError> {
    let io = |source| StoreError::DataDir {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Makes what sled created in `dir` private: directories 0700, files 0600. (Files sled creates
/// later are behind the private directory.)
fn private_files(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        };
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let kind = entry.file_type().map_err(io)?;
            if kind.is_dir() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o700))
                    .map_err(io)?;
                private_files(&entry.path())?;
            } else if kind.is_file() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads the tenants, their live sources and each incarnation's newest log entry.
fn load_catalog(inner: &Inner) -> Result<Catalog, StoreError> {
    let mut catalog = Catalog::default();
    let mut by_no = HashMap::new();
    for entry in inner.tenants.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the tenants"))?;
        let name = String::from_utf8(k.to_vec())
            .map_err(|_| StoreError::corrupt("tenant name", format!("{k:?}")))?;
        let record: TenantRecord = decode_json(&v, || format!("tenant {name:?}"))?;
        let log = Arc::new(TenantLog::new(&name, record.no, inner.epoch, &record));
        let retained_from = match inner
            .log
            .scan_prefix(record.no.to_be_bytes())
            .keys()
            .next()
            .transpose()
            .map_err(StoreError::storage("reading the log"))?
        {
            Some(k) => key::need_num(&k, 1, "log")?,
            None => record.next_seq,
        };
        log.retained_from.store(retained_from, Ordering::Release);
        by_no.insert(record.no, Arc::clone(&log));
        catalog.tenants.insert(name, log);
    }
    for entry in inner.sources.iter() {
        let (k, v) = entry.map_err(StoreError::storage("reading the sources"))?;
        let record: SourceRecord = crate::records::decode_source(&inner.sealer, &v)?;
        let tenant = key::need_num(&k, 0, "source")?;
        let log = by_no
            .get(&tenant)
            .ok_or_else(|| StoreError::corrupt("source", format!("{k:?} names no known tenant")))?;
        log.names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.id.clone(), record.incarnation);
        catalog
            .live
            .insert(record.incarnation, (Arc::clone(log), record.id));
    }
    // Each live incarnation's newest index entry (a deleted one cannot be named by a read, so
    // its newest entry is never needed).
    for (&inc, (log, _)) in &catalog.live {
        let newest = inner
            .by_source
            .scan_prefix(inc.to_be_bytes())
            .next_back()
            .transpose()
            .map_err(StoreError::storage("reading the source index"))?;
        if let Some((k, v)) = newest {
            let seq = key::need_num(&k, 1, "source index")?;
            let ordinal = key::ordinal(&k, &v)?;
            log.ends
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(inc, SourceEnd { seq, ordinal });
        }
    }
    Ok(catalog)
}

/// An incarnation's newest entry in the log index: its position and ordinal (see
/// [`key::ordinal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceEnd {
    pub(crate) seq: u64,
    pub(crate) ordinal: u64,
}

/// One incarnation's committed object memory, read straight from its tree.
struct SourceObjects {
    tree: sled::Tree,
    source: SourceRef,
}

impl ObjectStateRead for SourceObjects {
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, ObjectStateError> {
        let value = self
            .tree
            .get(key::num_str(self.source.incarnation, key))
            .map_err(|e| ObjectStateError(format!("source {}: {e}", self.source.id)))?;
        value
            .map(|v| serde_json::from_slice(&v))
            .transpose()
            .map_err(|e| {
                ObjectStateError(format!(
                    "source {}, object {key:?}: corrupt JSON: {e}",
                    self.source.id
                ))
            })
    }
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(what(), e))
}

pub(crate) fn encode_json<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Encode { what, source })
}

#[async_trait::async_trait]
impl EventStore for SledStore {
    fn stream_key(&self, tenant: &str) -> u64 {
        match self.tenant(tenant) {
            Some(log) => log.key,
            None => stream_key(self.inner.epoch, tenant),
        }
    }

    fn public_source_number(&self, source: &SourceRef) -> u64 {
        let mut h = Sha256::new();
        h.update(b"tributary source\0");
        h.update(self.inner.epoch.to_be_bytes());
        h.update(source.incarnation.to_be_bytes());
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    async fn ingest(&self, source: &SourceRef, page: Page) -> Result<IngestReport, StoreError> {
        let source = source.clone();
        self.write(move |s| s.ingest_blocking(&source, &page, Utc::now()))
            .await
    }

    fn source_state(&self, source: &SourceRef) -> Result<Option<SourceState>, StoreError> {
        self.source_state_blocking(source.incarnation)
    }

    fn pending_len(&self, source: &SourceRef) -> Result<u64, StoreError> {
        self.pending_len_blocking(source)
    }

    fn gaps(&self, source: &SourceRef) -> Result<Vec<Gap>, StoreError> {
        self.gaps_blocking(source)
    }

    fn object_state(&self, source: &SourceRef) -> Box<dyn ObjectStateRead> {
        Box::new(SourceObjects {
            tree: self.inner.objects.clone(),
            source: source.clone(),
        })
    }

    async fn merge_tenants(
        &self,
        frontiers: Vec<(String, DateTime<Utc>)>,
    ) -> Result<Vec<(String, MergeReport)>, StoreError> {
        // `write` flushes before it returns: only then do readers see the merged entries.
        let merged = self
            .write(move |s| {
                let merged = s.merge_many_blocking(&frontiers)?;
                Ok(frontiers
                    .into_iter()
                    .map(|(tenant, _)| tenant)
                    .zip(merged)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(merged
            .into_iter()
            .map(|(tenant, (report, published))| {
                if let Some(published) = published {
                    published.publish(report.last);
                }
                (tenant, report)
            })
            .collect())
    }

    async fn read_within(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError> {
        // A read that keeps every entry it examines (no condition but at most one source, whose
        // index it walks) examines at most `limit` entries.
        let keeps_all = filter.sources.len() <= 1 && filter.matcher().on_sources_only_or_nothing();
        let examines = if keeps_all {
            limit.min(max_scan)
        } else {
            max_scan
        };
        if examines <= INLINE_SCAN {
            return self.read_blocking(tenant, after, limit, filter, max_scan);
        }
        let (this, tenant, after, filter) = (
            self.clone(),
            tenant.to_owned(),
            after.copied(),
            filter.clone(),
        );
        tokio::task::spawn_blocking(move || {
            this.read_blocking(&tenant, after.as_ref(), limit, &filter, max_scan)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
    }

    async fn latest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        Ok(self.latest_blocking(tenant))
    }

    async fn oldest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        Ok(self.oldest_blocking(tenant))
    }

    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        self.write(move |s| s.retention_blocking(retention, now))
            .await
    }

    async fn put_source(&self, record: SourceRecord) -> Result<SourceRef, StoreError> {
        let written = self.write(move |s| s.put_source_blocking(record)).await;
        // Bumped even after a failure, which may have written part of the change.
        self.inner.sources_generation.fetch_add(1, Ordering::AcqRel);
        written
    }

    fn source(&self, tenant: &str, id: &SourceId) -> Result<Option<SourceRecord>, StoreError> {
        self.source_blocking(tenant, id)
    }

    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.sources_blocking()
    }

    fn sources_of(&self, tenant: &str) -> Result<Vec<SourceRecord>, StoreError> {
        self.sources_of_blocking(tenant)
    }

    fn sources_generation(&self) -> u64 {
        self.inner.sources_generation.load(Ordering::Acquire)
    }

    async fn delete_source(&self, tenant: &str, id: &SourceId) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.clone());
        let deleted = self
            .write(move |s| s.delete_source_blocking(&tenant, &id))
            .await;
        self.inner.sources_generation.fetch_add(1, Ordering::AcqRel);
        deleted
    }

    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<(), StoreError> {
        self.write(move |s| s.put_subscription_blocking(&record))
            .await
    }

    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.subscription_blocking(id)
    }

    fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.subscriptions_blocking()
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |s| s.delete_subscription_blocking(&id))
            .await
    }

    fn delivery(&self, subscription: &str) -> Result<Option<DeliveryState>, StoreError> {
        self.delivery_blocking(subscription)
    }

    async fn set_delivery(
        &self,
        subscription: &str,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write(move |s| s.set_delivery_blocking(&id, &state))
            .await
    }

    async fn record_attempt(
        &self,
        subscription: &str,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write(move |s| s.record_attempt_blocking(&id, &attempt))
            .await
    }

    fn attempts(&self, subscription: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.attempts_blocking(subscription)
    }

    async fn set_delivery_after(
        &self,
        subscription: &str,
        state: DeliveryState,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write(move |s| s.set_delivery_after_blocking(&id, &state, &attempt))
            .await
    }

    async fn put_api_key(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        self.write(move |s| s.put_api_key_blocking(&record)).await
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.api_keys_blocking()
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |s| s.delete_api_key_blocking(&id)).await
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|s| {
            let _writer = s.write_lock();
            let now = Utc::now().timestamp_millis().to_be_bytes();
            s.inner
                .meta
                .insert(META_PROBE, &now)
                .map_err(StoreError::storage("writing a probe"))?;
            Ok(())
        })
        .await
    }
}
