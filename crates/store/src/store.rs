//! The storage interface the engine programs against, and what its operations report.

use crate::{
    ApiKeyRecord, DeliveryAttempt, DeliveryState, Filter, SourceRecord, SourceRef, SourceState,
    StoreError, SubscriptionRecord,
};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tributary_core::{Cursor, Gap, ObjectStateRead, Page, Seq, SourceId};

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// Events new to the store, now pending merge.
    pub accepted: u64,
    /// Events whose id the store already had (a replayed page): absorbed, not stored again.
    pub duplicates: u64,
}

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeReport {
    /// Events moved into the unified log.
    pub merged: u64,
    /// Of those, events appended behind an event with a later `occurred_at`.
    pub late: u64,
    /// The last position of the tenant's log after the merge (0 when empty).
    pub last: Seq,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Entries removed, all tenants together.
    pub removed: u64,
}

/// How long each tenant's log keeps events. Both limits apply when both are set; each tenant's
/// log is counted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Remove events whose `occurred_at` is older than this. A log is pruned from its oldest
    /// end, so an old event stored behind a younger one (a late event) waits for that one.
    pub max_age: Option<Duration>,
    /// Keep at most this many events per tenant.
    pub max_events: Option<u64>,
}

/// One event as stored in a tenant's log: its position and its JSON, serialized once at ingest,
/// so a reader can splice it into a response without re-serializing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: Seq,
    json: EventBytes,
}

/// The bytes of a stored event: shared with the backend's cache where it has one (no copy), or
/// owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EventBytes {
    Sled(sled::IVec),
    Owned(Vec<u8>),
}

impl StoredEvent {
    /// An event read by a backend into memory of its own.
    pub fn new(seq: Seq, json: Vec<u8>) -> Self {
        Self {
            seq,
            json: EventBytes::Owned(json),
        }
    }

    pub(crate) fn shared(seq: Seq, json: sled::IVec) -> Self {
        Self {
            seq,
            json: EventBytes::Sled(json),
        }
    }

    /// The event's JSON, exactly as published.
    pub fn json(&self) -> &[u8] {
        match &self.json {
            EventBytes::Sled(v) => v,
            EventBytes::Owned(v) => v,
        }
    }

    pub fn event(&self) -> Result<tributary_core::Event, StoreError> {
        serde_json::from_slice(self.json())
            .map_err(|e| StoreError::corrupt(format!("log entry {}", self.seq), e))
    }
}

/// One page of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPage {
    pub events: Vec<StoredEvent>,
    /// Where the next read continues: after the last event returned, or after the last entry
    /// examined when a filter skipped entries.
    pub cursor: Cursor,
    /// The entries of the filter's sources (every source of the tenant when it names none)
    /// after `cursor`, before the filter's other conditions.
    pub remaining: u64,
}

/// The engine's durable state. Writes are atomic and flushed to disk before they return; reads
/// never block on writers.
///
/// Every tenant has a log of its own: its sources' events merged in time order, numbered 1, 2,
/// 3, … without gaps. No read, count, error or cursor of one tenant tells anything of another.
/// Sources are named within their tenant and stored by incarnation ([`SourceRef`]): a source
/// deleted and created again with the same id starts afresh, and its old events stay in the
/// tenant's log (never shown as the new one's) until retention removes them.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// The key the cursors of `tenant`'s stream carry ([`Cursor::epoch`]): derived from the
    /// store's random epoch and the tenant, so another tenant's cursor, or one of another store,
    /// is refused as foreign.
    fn stream_key(&self, tenant: &str) -> u64;

    /// A number fixed for the incarnation, derived from the store's secret epoch: what a public
    /// id of the source (a Kloudless account id) is made from. It tells nothing of other tenants
    /// or of the order incarnations were created in.
    fn public_source_number(&self, source: &SourceRef) -> u64;

    /// Commits a page's new events to the source's pending queue together with its checkpoint,
    /// watermark, gaps and object-memory changes, in one transaction. Events whose id the
    /// source already stored are absorbed. A deleted incarnation is refused
    /// ([`StoreError::UnknownSource`]).
    async fn ingest(&self, source: &SourceRef, page: Page) -> Result<IngestReport, StoreError>;

    /// The source's committed checkpoint and counters; `None` before its first ingest.
    fn source_state(&self, source: &SourceRef) -> Result<Option<SourceState>, StoreError>;

    /// Events of the source ingested but not yet merged.
    fn pending_len(&self, source: &SourceRef) -> Result<u64, StoreError>;

    /// Gaps the source has recorded, oldest first.
    fn gaps(&self, source: &SourceRef) -> Result<Vec<Gap>, StoreError>;

    /// The source's committed object memory, for its provider to read (pages change it).
    fn object_state(&self, source: &SourceRef) -> Box<dyn ObjectStateRead>;

    /// Moves every pending event of the tenant's sources with `occurred_at < frontier` into the
    /// tenant's log: a k-way merge by `(occurred_at, source)` of the queue heads, never
    /// reordering one source's events.
    async fn merge(
        &self,
        tenant: &str,
        frontier: DateTime<Utc>,
    ) -> Result<MergeReport, StoreError> {
        let mut reports = self
            .merge_tenants(vec![(tenant.to_owned(), frontier)])
            .await?;
        Ok(reports.pop().map(|(_, r)| r).unwrap_or_default())
    }

    /// [`EventStore::merge`] for several tenants at once, each up to its own frontier, in one
    /// write: one report per tenant, in the order given.
    async fn merge_tenants(
        &self,
        frontiers: Vec<(String, DateTime<Utc>)>,
    ) -> Result<Vec<(String, MergeReport)>, StoreError>;

    /// Up to `limit` events of `tenant`'s log after `after` (from the oldest retained event
    /// when `None`) that match `filter`. Examines at most [`crate::MAX_SCAN`] entries, so a
    /// sparse filter answers quickly with a cursor to continue from. A filter naming a source
    /// the tenant does not have is refused ([`StoreError::UnknownSource`]).
    async fn read(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
    ) -> Result<ReadPage, StoreError> {
        self.read_within(tenant, after, limit, filter, crate::MAX_SCAN)
            .await
    }

    /// [`EventStore::read`], examining at most `max_scan` entries (at least 1, at most
    /// [`crate::MAX_SCAN`]): a caller that must not wait long reads a little, then continues
    /// from the page's cursor when `remaining > 0` and the page is not full.
    async fn read_within(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError>;

    /// The cursor after the newest event of `tenant`: a reader starting here sees only new
    /// events.
    async fn latest(&self, tenant: &str) -> Result<Cursor, StoreError>;

    /// The oldest cursor of `tenant` still valid (just before its oldest retained event).
    async fn oldest(&self, tenant: &str) -> Result<Cursor, StoreError>;

    /// Removes events from the oldest end of every tenant's log as `retention` says.
    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError>;

    /// Stores a source, or replaces the record of the tenant's source with the same id (keeping
    /// its incarnation and data). Answers the incarnation the record now describes.
    async fn put_source(&self, record: SourceRecord) -> Result<SourceRef, StoreError>;
    /// The tenant's source with this id.
    fn source(&self, tenant: &str, id: &SourceId) -> Result<Option<SourceRecord>, StoreError>;
    /// Every source of every tenant.
    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError>;
    /// The tenant's sources, by id.
    fn sources_of(&self, tenant: &str) -> Result<Vec<SourceRecord>, StoreError>;
    /// A number that changes after every [`EventStore::put_source`] and
    /// [`EventStore::delete_source`] of this process, so what a caller derives from
    /// [`EventStore::sources`] can be cached until it changes. Read it before reading the sources.
    fn sources_generation(&self) -> u64;
    /// Removes the tenant's source: its record, checkpoint, gaps, object memory, deduplication
    /// index and pending (unmerged) events. Its events already in the tenant's log stay until
    /// retention removes them. `false` when the tenant had no such source.
    async fn delete_source(&self, tenant: &str, id: &SourceId) -> Result<bool, StoreError>;
    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<(), StoreError>;
    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;
    fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError>;
    /// Removes the subscription and its delivery state.
    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError>;
    fn delivery(&self, subscription: &str) -> Result<Option<DeliveryState>, StoreError>;
    async fn set_delivery(
        &self,
        subscription: &str,
        state: DeliveryState,
    ) -> Result<(), StoreError>;
    /// Records one delivery attempt; the store keeps the newest
    /// [`MAX_ATTEMPTS_KEPT`](crate::MAX_ATTEMPTS_KEPT) per subscription.
    async fn record_attempt(
        &self,
        subscription: &str,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError>;
    /// The subscription's recent delivery attempts, newest first.
    fn attempts(&self, subscription: &str) -> Result<Vec<DeliveryAttempt>, StoreError>;
    /// [`EventStore::record_attempt`] and [`EventStore::set_delivery`] in one write (one flush):
    /// what a delivery's answer changes.
    async fn set_delivery_after(
        &self,
        subscription: &str,
        state: DeliveryState,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError>;

    /// Stores (or replaces) an API key created through the API, by id.
    async fn put_api_key(&self, record: ApiKeyRecord) -> Result<(), StoreError>;
    /// Every created API key, by id.
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Removes the API key; `false` when there was none with this id.
    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError>;

    /// Writes a few bytes of no meaning and flushes them, as every write does: whether the store
    /// takes writes again after a failure. The default does nothing (a store that cannot fail).
    async fn probe_write(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
