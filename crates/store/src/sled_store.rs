//! The sled-backed store: its trees, opening and the async edge.

use crate::key;
use crate::store::{EventStore, IngestReport, MergeReport, ReadPage, Retention, RetentionReport};
use crate::{
    ApiKeyRecord, DeliveryState, Filter, SourceRecord, SourceState, StoreError, SubscriptionRecord,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use tributary_core::{Cursor, Gap, ObjectStateError, ObjectStateRead, Page, SourceId};

/// How long [`SledStore::open`] waits for another holder of the directory's lock to let go.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The on-disk format this build reads and writes.
pub(crate) const FORMAT: u32 = 2;

pub(crate) const META_FORMAT: &[u8] = b"format";
pub(crate) const META_EPOCH: &[u8] = b"epoch";
/// The next log position to assign (starts at 1).
pub(crate) const META_NEXT_SEQ: &[u8] = b"next_seq";
/// The largest `occurred_at` (ms since the epoch) appended to the log: the merge frontier reached.
pub(crate) const META_LAST_TIME: &[u8] = b"last_time";

/// The store on sled. Cheap to clone: clones share one database.
///
/// Trees: `meta`; `ids` (`source \0 event-id`, the deduplication index); `pending`
/// (`source \0 n` → event JSON, each source's queue in upstream order); `state` (source →
/// [`SourceState`]); `gaps` (`source \0 n` → gap); `objects` (`source \0 key` → JSON, the
/// provider's object memory); `log` (seq → event JSON, the unified log);
/// `by_source` (`source \0 seq`, an index of the log); `sources`, `subscriptions`, `deliveries`,
/// `api_keys` (id → [`ApiKeyRecord`]).
#[derive(Clone)]
pub struct SledStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    pub(crate) meta: sled::Tree,
    pub(crate) ids: sled::Tree,
    pub(crate) pending: sled::Tree,
    pub(crate) state: sled::Tree,
    pub(crate) gaps: sled::Tree,
    pub(crate) objects: sled::Tree,
    pub(crate) log: sled::Tree,
    pub(crate) by_source: sled::Tree,
    pub(crate) sources: sled::Tree,
    pub(crate) subscriptions: sled::Tree,
    pub(crate) deliveries: sled::Tree,
    pub(crate) api_keys: sled::Tree,
    pub(crate) epoch: u64,
    /// One writer at a time: ingest, merge and retention read outside their transaction what
    /// they then write inside it.
    writer: Mutex<()>,
    /// See [`EventStore::sources_generation`].
    sources_generation: AtomicU64,
    /// The end of the log readers see: `meta`'s `next_seq`, mirrored after each merge is
    /// flushed to disk (so no reader sees a position a crash could give to another event), and
    /// so a read need not look it up.
    pub(crate) next_seq: AtomicU64,
    /// The first log position retention has not removed (the oldest entry when the log is not
    /// empty), mirrored after each retention pass commits.
    pub(crate) retained_from: AtomicU64,
    /// Every source with an entry in the log, or that had one since the store opened (a superset:
    /// retention does not remove sources), so a read whose filter names them all need not check
    /// each entry's source; with each source's newest entry that readers may see, to count its
    /// entries after a position. Updated before the end of the log moves.
    pub(crate) logged_sources: RwLock<HashMap<Vec<u8>, SourceEnd>>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("epoch", &self.inner.epoch)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in the directory `path`.
    ///
    /// sled locks the directory; a store just closed in this process (its background flusher
    /// still finishing) can hold the lock for a moment, so a lock conflict is retried with a
    /// growing pause for up to [`LOCK_WAIT`] before it is reported.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
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
        Self::from_db(db, &path.display().to_string())
    }

    /// A store in a temporary directory, removed when the last clone is dropped: for tests and demos.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(StoreError::storage("opening a temporary database"))?;
        Self::from_db(db, "(temporary)")
    }

    fn from_db(db: sled::Db, path: &str) -> Result<Self, StoreError> {
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(StoreError::storage("opening a tree"))
        };
        let meta = tree("meta")?;
        match meta
            .get(META_FORMAT)
            .map_err(StoreError::storage("reading the format"))?
        {
            Some(v) if v.as_ref() == FORMAT.to_string().as_bytes() => {}
            Some(v) if v.as_ref() == b"1" => {
                // Format 1 had empty `by_source` values; format 2 keeps each entry's ordinal.
                let by_source = tree("by_source")?;
                number_index_entries(&by_source, path)?;
                meta.insert(META_FORMAT, FORMAT.to_string().as_bytes())
                    .map_err(StoreError::storage("recording the format"))?;
                db.flush()
                    .map_err(StoreError::storage("flushing the upgraded store"))?;
            }
            Some(v) => {
                return Err(StoreError::Format {
                    path: path.to_owned(),
                    found: String::from_utf8_lossy(&v).into_owned(),
                    expected: FORMAT,
                });
            }
            None => {
                // A new store: fix its epoch, first position and format in one atomic batch.
                let epoch = fastrand::u64(1..);
                let mut batch = sled::Batch::default();
                batch.insert(META_EPOCH, &epoch.to_be_bytes());
                batch.insert(META_NEXT_SEQ, &1u64.to_be_bytes());
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
            Some(v) => decode_u64(&v, "epoch")?,
            None => {
                return Err(StoreError::corrupt(
                    "meta",
                    "the store has a format but no epoch",
                ));
            }
        };
        let next_seq = match meta
            .get(META_NEXT_SEQ)
            .map_err(StoreError::storage("reading the next position"))?
        {
            Some(v) => decode_u64(&v, "next_seq")?,
            None => 1,
        };
        let log = tree("log")?;
        let retained_from = match log
            .first()
            .map_err(StoreError::storage("reading the log"))?
        {
            Some((k, _)) => key::seq_from_key(&k)
                .ok_or_else(|| StoreError::corrupt("log key", format!("{k:?}")))?
                .get(),
            None => next_seq,
        };
        let by_source = tree("by_source")?;
        let logged_sources = logged_sources(&by_source)?;
        let inner = Inner {
            ids: tree("ids")?,
            pending: tree("pending")?,
            state: tree("state")?,
            gaps: tree("gaps")?,
            objects: tree("objects")?,
            log,
            by_source,
            sources: tree("sources")?,
            subscriptions: tree("subscriptions")?,
            deliveries: tree("deliveries")?,
            api_keys: tree("api_keys")?,
            meta,
            db,
            epoch,
            writer: Mutex::new(()),
            sources_generation: AtomicU64::new(0),
            next_seq: AtomicU64::new(next_seq),
            retained_from: AtomicU64::new(retained_from),
            logged_sources: RwLock::new(logged_sources),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Takes the single-writer lock. A writer that panicked left nothing half-written (its
    /// transaction either committed or did not), so a poisoned lock is still usable.
    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
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
        match self
            .inner
            .meta
            .get(key)
            .map_err(StoreError::storage("reading meta"))?
        {
            Some(v) => decode_u64(&v, "meta value"),
            None => Ok(default),
        }
    }
}

/// Writes each `by_source` entry's ordinal among its source's entries (1, 2, …; see
/// [`key::ordinal`]), in batches. Idempotent, so an upgrade cut short runs again on next open.
fn number_index_entries(by_source: &sled::Tree, path: &str) -> Result<(), StoreError> {
    const BATCH: usize = 10_000;
    let total = by_source.len();
    tracing::info!(
        store = path,
        entries = total,
        "upgrading the store to format 2: numbering the source index"
    );
    let mut batch = sled::Batch::default();
    let (mut in_batch, mut done) = (0, 0);
    let mut current: Option<(Vec<u8>, u64)> = None;
    for entry in by_source.iter() {
        let (k, _) = entry.map_err(StoreError::storage("scanning the source index"))?;
        let (source, _) = key::split_source_u64(&k)
            .ok_or_else(|| StoreError::corrupt("index key", format!("{k:?}")))?;
        let ordinal = match &mut current {
            Some((s, n)) if s.as_slice() == source => {
                *n += 1;
                *n
            }
            _ => {
                current = Some((source.to_vec(), 1));
                1
            }
        };
        batch.insert(k, &ordinal.to_be_bytes());
        in_batch += 1;
        if in_batch == BATCH {
            by_source
                .apply_batch(std::mem::take(&mut batch))
                .map_err(StoreError::storage("numbering the source index"))?;
            done += in_batch;
            in_batch = 0;
            tracing::info!(store = path, done, of = total, "numbering the source index");
        }
    }
    by_source
        .apply_batch(batch)
        .map_err(StoreError::storage("numbering the source index"))?;
    tracing::info!(
        store = path,
        entries = done + in_batch,
        "store upgraded to format 2"
    );
    Ok(())
}

/// A source's newest entry in the log index: its position and ordinal (see [`key::ordinal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceEnd {
    pub(crate) seq: u64,
    pub(crate) ordinal: u64,
}

/// The sources in the log's index, with their newest entry.
fn logged_sources(by_source: &sled::Tree) -> Result<HashMap<Vec<u8>, SourceEnd>, StoreError> {
    let mut ends = HashMap::new();
    for source in sources_in(by_source, "scanning the source index")? {
        let mut prefix = source.clone();
        prefix.push(key::SEP);
        let newest = by_source
            .range(prefix.as_slice()..key::after_source(&source).as_slice())
            .next_back()
            .transpose()
            .map_err(StoreError::storage("reading the source index"))?;
        if let Some((k, v)) = newest {
            let (_, seq) = key::split_source_u64(&k)
                .ok_or_else(|| StoreError::corrupt("index key", format!("{k:?}")))?;
            let ordinal = key::ordinal(&k, &v)?;
            ends.insert(source, SourceEnd { seq, ordinal });
        }
    }
    Ok(ends)
}

/// Every source with a key in `tree`, whose keys are `source \0 u64`, in key order: one seek per
/// source, skipping from one source's keys to the next. `doing` says what in errors.
pub(crate) fn sources_in(
    tree: &sled::Tree,
    doing: &'static str,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut found = Vec::new();
    let mut from = Vec::new();
    while let Some((k, _)) = tree
        .range(from.as_slice()..)
        .next()
        .transpose()
        .map_err(StoreError::storage(doing))?
    {
        let (source, _) = key::split_source_u64(&k)
            .ok_or_else(|| StoreError::corrupt(format!("key ({doing})"), format!("{k:?}")))?;
        from = key::after_source(source);
        found.push(source.to_vec());
    }
    Ok(found)
}

/// One source's committed object memory, read straight from its tree.
struct SourceObjects {
    tree: sled::Tree,
    source: SourceId,
}

impl ObjectStateRead for SourceObjects {
    fn get(&self, key: &str) -> Result<Option<serde_json::Value>, ObjectStateError> {
        let value = self
            .tree
            .get(crate::key::source_str(&self.source, key))
            .map_err(|e| ObjectStateError(format!("source {}: {e}", self.source)))?;
        value
            .map(|v| serde_json::from_slice(&v))
            .transpose()
            .map_err(|e| {
                ObjectStateError(format!(
                    "source {}, object {key:?}: corrupt JSON: {e}",
                    self.source
                ))
            })
    }
}

pub(crate) fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes.try_into().map_err(|_| {
        StoreError::corrupt(what, format!("expected 8 bytes, found {}", bytes.len()))
    })?;
    Ok(u64::from_be_bytes(arr))
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
    fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    async fn ingest(&self, source: &SourceId, page: Page) -> Result<IngestReport, StoreError> {
        let source = source.clone();
        self.write(move |s| s.ingest_blocking(&source, &page, Utc::now()))
            .await
    }

    fn source_state(&self, source: &SourceId) -> Result<Option<SourceState>, StoreError> {
        self.source_state_blocking(source)
    }

    fn pending_len(&self, source: &SourceId) -> Result<u64, StoreError> {
        self.pending_len_blocking(source)
    }

    fn gaps(&self, source: &SourceId) -> Result<Vec<Gap>, StoreError> {
        self.gaps_blocking(source)
    }

    fn object_state(&self, source: &SourceId) -> Box<dyn ObjectStateRead> {
        Box::new(SourceObjects {
            tree: self.inner.objects.clone(),
            source: source.clone(),
        })
    }

    async fn merge(&self, frontier: DateTime<Utc>) -> Result<MergeReport, StoreError> {
        // `write` flushes before it returns: only then do readers see the merged entries.
        let (report, ends) = self.write(move |s| s.merge_blocking(frontier)).await?;
        self.publish(report.last, ends);
        Ok(report)
    }

    fn read_within(
        &self,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError> {
        self.read_blocking(after, limit, filter, max_scan)
    }

    fn latest(&self) -> Result<Cursor, StoreError> {
        self.latest_blocking()
    }

    fn oldest(&self) -> Result<Cursor, StoreError> {
        self.oldest_blocking()
    }

    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        self.write(move |s| s.retention_blocking(retention, now))
            .await
    }

    async fn put_source(&self, record: SourceRecord) -> Result<(), StoreError> {
        let written = self.write(move |s| s.put_source_blocking(&record)).await;
        // Bumped even after a failure, which may have written part of the change.
        self.inner.sources_generation.fetch_add(1, Ordering::AcqRel);
        written
    }

    fn source(&self, id: &SourceId) -> Result<Option<SourceRecord>, StoreError> {
        self.source_blocking(id)
    }

    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.sources_blocking()
    }

    fn sources_generation(&self) -> u64 {
        self.inner.sources_generation.load(Ordering::Acquire)
    }

    async fn delete_source(&self, id: &SourceId) -> Result<bool, StoreError> {
        let id = id.clone();
        let deleted = self.write(move |s| s.delete_source_blocking(&id)).await;
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
}
