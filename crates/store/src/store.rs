//! The storage interface the engine programs against, and what its operations report.

use crate::{
    ApiKeyRecord, DeliveryState, Filter, SourceRecord, SourceState, StoreError, SubscriptionRecord,
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
    /// The last position of the log after the merge (0 when empty).
    pub last: Seq,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    pub removed: u64,
    /// The oldest cursor still valid.
    pub oldest: Cursor,
}

/// How long the unified log keeps events. Both limits apply when both are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Remove events whose `occurred_at` is older than this. The log is pruned from its oldest
    /// end, so an old event stored behind a younger one (a late event) waits for that one.
    pub max_age: Option<Duration>,
    /// Keep at most this many events.
    pub max_events: Option<u64>,
}

/// One event as stored in the unified log: its position and its JSON, serialized once at merge
/// time, so a reader can splice it into a response without re-serializing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: Seq,
    json: sled::IVec,
}

impl StoredEvent {
    pub(crate) fn new(seq: Seq, json: sled::IVec) -> Self {
        Self { seq, json }
    }

    /// The event's JSON, exactly as published.
    pub fn json(&self) -> &[u8] {
        &self.json
    }

    pub fn event(&self) -> Result<tributary_core::Event, StoreError> {
        serde_json::from_slice(&self.json)
            .map_err(|e| StoreError::corrupt(format!("log entry {}", self.seq), e))
    }
}

/// One page of the unified log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPage {
    pub events: Vec<StoredEvent>,
    /// Where the next read continues: after the last event returned, or after the last entry
    /// examined when a filter skipped entries.
    pub cursor: Cursor,
    /// Log entries after `cursor`, before any filter.
    pub remaining: u64,
}

/// The engine's durable state. Writes are atomic and flushed to disk before they return; reads
/// never block on writers.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// The random number fixed when this store was created, carried by every cursor it issues.
    fn epoch(&self) -> u64;

    /// Commits a page's new events to the source's pending queue together with its checkpoint,
    /// watermark, gaps and object-memory changes, in one transaction. Events whose id the source already stored are
    /// absorbed.
    async fn ingest(&self, source: &SourceId, page: Page) -> Result<IngestReport, StoreError>;

    /// The source's committed checkpoint and counters; `None` before its first ingest.
    fn source_state(&self, source: &SourceId) -> Result<Option<SourceState>, StoreError>;

    /// Events of the source ingested but not yet merged.
    fn pending_len(&self, source: &SourceId) -> Result<u64, StoreError>;

    /// Gaps the source has recorded, oldest first.
    fn gaps(&self, source: &SourceId) -> Result<Vec<Gap>, StoreError>;

    /// The source's committed object memory, for its provider to read (pages change it).
    fn object_state(&self, source: &SourceId) -> Box<dyn ObjectStateRead>;

    /// Moves every pending event with `occurred_at < frontier` into the unified log: a k-way merge
    /// by `(occurred_at, source)` of the queue heads, never reordering one source's events.
    async fn merge(&self, frontier: DateTime<Utc>) -> Result<MergeReport, StoreError>;

    /// Up to `limit` events after `after` (from the oldest retained event when `None`) that
    /// match `filter`. Examines at most [`crate::MAX_SCAN`] entries, so a sparse filter answers
    /// quickly with a cursor to continue from.
    fn read(
        &self,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
    ) -> Result<ReadPage, StoreError> {
        self.read_within(after, limit, filter, crate::MAX_SCAN)
    }

    /// [`EventStore::read`], examining at most `max_scan` entries (at least 1, at most
    /// [`crate::MAX_SCAN`]): a caller that must not wait long reads a little, then continues
    /// from the page's cursor elsewhere when `remaining > 0` and the page is not full.
    fn read_within(
        &self,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError>;

    /// The cursor after the newest event: a reader starting here sees only new events.
    fn latest(&self) -> Result<Cursor, StoreError>;

    /// The oldest cursor still valid (just before the oldest retained event).
    fn oldest(&self) -> Result<Cursor, StoreError>;

    /// Removes events from the oldest end of the log as `retention` says.
    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError>;

    async fn put_source(&self, record: SourceRecord) -> Result<(), StoreError>;
    fn source(&self, id: &SourceId) -> Result<Option<SourceRecord>, StoreError>;
    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError>;
    /// A number that changes after every [`EventStore::put_source`] and
    /// [`EventStore::delete_source`] of this process, so what a caller derives from
    /// [`EventStore::sources`] can be cached until it changes. Read it before reading the sources.
    fn sources_generation(&self) -> u64;
    /// Removes the source, its checkpoint, its gaps, its object memory and its pending (unmerged) events. Events
    /// already in the unified log stay until retention removes them.
    async fn delete_source(&self, id: &SourceId) -> Result<bool, StoreError>;

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

    /// Stores (or replaces) an API key created through the API, by id.
    async fn put_api_key(&self, record: ApiKeyRecord) -> Result<(), StoreError>;
    /// Every created API key, by id.
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Removes the API key; `false` when there was none with this id.
    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError>;
}
