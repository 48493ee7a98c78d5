//! What the store keeps about each source: its configuration and where its polling stands.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{Checkpoint, DailyCalls, SourceId, Watermark};

/// One incarnation of a source: the tenant and id it is named by, and the number the store gave
/// it when it was created, never given again. Deleting a source and creating one with the same
/// id makes a new incarnation, with its own checkpoint, deduplication index, object memory and
/// positions; what the store keeps of a source is keyed by the incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRef {
    pub tenant: String,
    pub id: SourceId,
    pub incarnation: u64,
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tenant, self.id)
    }
}

/// A configured source: which provider, how it is set up, and its credentials. Persisted so a
/// restarted engine resumes every source. Credentials are stored as given; the API never returns
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Unique within its tenant only: two tenants may each have a source with the same id.
    pub id: SourceId,
    /// The tenant that owns the source.
    pub tenant: String,
    /// Set by the store ([`crate::EventStore::put_source`]): the source's incarnation, new when
    /// the tenant had no source with this id, kept when the record is replaced. What a caller
    /// puts here is ignored.
    #[serde(default)]
    pub incarnation: u64,
    /// The provider's name: `egnyte`, `jive`, ...
    pub provider: String,
    /// Provider configuration (domain, folders, poll policy, ...).
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    #[serde(default)]
    pub paused: bool,
    #[serde(with = "tributary_core::time::millis")]
    pub created_at: DateTime<Utc>,
}

impl SourceRecord {
    /// The incarnation this record describes (as the store set it).
    pub fn source_ref(&self) -> SourceRef {
        SourceRef {
            tenant: self.tenant.clone(),
            id: self.id.clone(),
            incarnation: self.incarnation,
        }
    }
}

/// Where a source's polling stands, written in the same transaction as the events it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// The provider's checkpoint after the last committed page.
    pub checkpoint: Checkpoint,
    /// The source's promise: no more events before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
    #[serde(with = "tributary_core::time::millis")]
    pub committed_at: DateTime<Utc>,
    /// Events accepted from this source, all time.
    pub events_ingested: u64,
    /// Events that arrived again and were absorbed, all time.
    pub duplicates_absorbed: u64,
    /// Gaps recorded for this source, all time (see `EventStore::gaps`).
    pub gaps_recorded: u64,
    /// The highest position committed, for a source whose pages carry positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position: Option<u64>,
    /// Requests sent upstream on the latest UTC day the pages counted toward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<DailyCalls>,
    /// The key of the next pending batch of this source (one per page with new events).
    pub(crate) next_pending: u64,
}

impl SourceState {
    /// Upstream requests committed on `day` (UTC): 0 when the last commit was on another day.
    pub fn calls_on(&self, day: NaiveDate) -> u64 {
        self.calls.filter(|c| c.day == day).map_or(0, |c| c.calls)
    }
}
