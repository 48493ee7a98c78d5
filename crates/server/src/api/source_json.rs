//! A source's JSON: what `POST /v1/sources` takes ([`NewSource`], also built by the OAuth
//! callback) and what the sources and OAuth endpoints answer ([`SourceBody`] with its status).
//! Never the credentials: a body is made from the record with `credentials` left out.

use super::{AccountId, ApiError, openapi};
use crate::engine::SourceStatus;
use crate::storage::StorageBlock;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_store::{EventStore, SourceRecord};
use utoipa::ToSchema;

/// At most this many of a source's gaps are listed in its status (the newest);
/// `gaps_recorded` counts them all.
pub const MAX_GAPS_LISTED: usize = 20;

/// `POST /v1/sources`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSource {
    /// The source's id, unique among the tenant's sources (other tenants' ids are their own);
    /// `src-` and 16 hex digits are generated when absent.
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<tributary_core::SourceId>)]
    pub(crate) id: Option<String>,
    #[schema(value_type = openapi::ProviderName)]
    pub(crate) provider: String,
    /// The provider's configuration without credentials: the component `<Name>Config` of this
    /// document (`EgnyteConfig` for `egnyte`) without its `credentials`; `poll` sets the poll
    /// policy.
    #[schema(value_type = Object)]
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    /// The provider's credentials: the `credentials` of its `<Name>Config` component (such as
    /// `{"kind":"bearer","token":…}` or `{"kind":"oauth",…}`). Stored, never returned.
    #[schema(value_type = Object)]
    pub(crate) credentials: serde_json::Map<String, serde_json::Value>,
    /// Create it paused: stored, not polled until resumed.
    #[serde(default)]
    pub(crate) paused: bool,
    /// Cloud Elements' shape: `{"callback_url": "https://…"}` also creates a webhook
    /// subscription filtered to this source (`full` mode, from the latest event); the answer's
    /// `notification` carries its id and signing secret, shown once.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) notification: Option<NotificationRequest>,
}

/// `notification` of `POST /v1/sources`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationRequest {
    /// Where the source's events are POSTed (checked as a subscription's `url`).
    #[schema(max_length = 2048)]
    pub(crate) callback_url: String,
}

/// The subscription a source was created with (`notification.callback_url`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NotificationBody {
    /// The subscription's id (`/v1/subscriptions/{id}`).
    pub(crate) subscription_id: String,
    pub(crate) callback_url: String,
    /// Its signing secret: shown in this answer only.
    pub(crate) secret: String,
}

/// A source, as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceBody {
    #[schema(value_type = tributary_core::SourceId)]
    id: String,
    provider: String,
    /// The provider configuration, without credentials.
    #[schema(value_type = Object)]
    config: serde_json::Value,
    paused: bool,
    #[schema(format = DateTime)]
    created_at: String,
    /// The source's numeric account id in the Kloudless-compatible API.
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    account_id: u64,
    status: StatusBody,
    /// Only in the answer of a creation with `notification.callback_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) notification: Option<NotificationBody>,
}

/// Where a source's polling stands. Counters marked "since started" restart with the server and
/// when a policy change or a resume after a stop restarts the source.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusBody {
    /// The engine is polling it: not paused, not stopped, and buildable.
    running: bool,
    /// Why the source stopped (an error retrying will not fix, such as refused credentials);
    /// resume it (`PATCH {"paused": false}`) after fixing the cause.
    stopped: Option<String>,
    /// Polls since started.
    #[schema(minimum = 0)]
    polls: u64,
    /// Events accepted from this source, all time.
    #[schema(minimum = 0)]
    events_ingested: u64,
    /// Events received again and absorbed, all time.
    #[schema(minimum = 0)]
    duplicates_absorbed: u64,
    /// Failed polls in a row.
    #[schema(minimum = 0)]
    consecutive_failures: u32,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    last_poll_at: Option<String>,
    #[schema(format = DateTime)]
    next_poll_at: Option<String>,
    /// The wait an empty poll would cause now (the adaptive interval).
    #[schema(minimum = 0)]
    interval_ms: Option<u64>,
    /// The source's promise: no more events before this time.
    #[schema(format = DateTime)]
    watermark: Option<String>,
    /// How far the watermark is behind now.
    #[schema(minimum = 0)]
    lag_ms: Option<u64>,
    /// The provider's checkpoint after the last committed page (its own shape).
    #[schema(value_type = Option<Object>)]
    checkpoint: Option<serde_json::Value>,
    /// When the last page was committed.
    #[schema(format = DateTime)]
    committed_at: Option<String>,
    /// Requests sent upstream since started, when the provider counts them.
    #[schema(minimum = 0)]
    upstream_calls: Option<u64>,
    /// Requests sent upstream on the current UTC day, across restarts, when the provider counts
    /// them (Egnyte's daily quota is counted per UTC day as well).
    #[schema(minimum = 0)]
    upstream_calls_today: Option<u64>,
    /// Gaps recorded, all time.
    #[schema(minimum = 0)]
    gaps_recorded: u64,
    /// The newest gaps (at most 20), oldest first.
    gaps: Vec<GapBody>,
    /// Set while ingest is held back for every source by the server's storage (no fault of this
    /// source): it polls again by itself once the store takes writes or space returns.
    storage: Option<StorageBody>,
}

/// Why ingest is held back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StorageBody {
    code: StorageCode,
    message: String,
}

/// `store_unavailable`: store writes fail or one is stuck (`/readyz` answers 503 meanwhile);
/// `storage_low`: the data directory's free space is under `[storage] min_free_bytes`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StorageCode {
    StoreUnavailable,
    StorageLow,
}

impl From<&StorageBlock> for StorageBody {
    fn from(block: &StorageBlock) -> Self {
        Self {
            code: match block {
                StorageBlock::StoreUnavailable { .. } => StorageCode::StoreUnavailable,
                StorageBlock::LowSpace { .. } => StorageCode::StorageLow,
            },
            message: block.message(),
        }
    }
}

impl SourceBody {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

/// Events the provider could not deliver (its history expired before we read it).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GapBody {
    #[schema(format = DateTime)]
    detected_at: String,
    /// The last upstream position read before the gap.
    after: String,
    /// The first upstream position read again.
    resumed_at: String,
    reason: String,
}

fn time(t: DateTime<Utc>) -> String {
    tributary_core::time::format(&t)
}

/// The body of `record`, with its status from the engine (`engine`) and the store.
pub(crate) fn body(
    store: &dyn EventStore,
    record: SourceRecord,
    engine: Option<SourceStatus>,
    now: DateTime<Utc>,
) -> Result<SourceBody, ApiError> {
    let source = record.source_ref();
    let account_id = AccountId::of(store, &record).get();
    let stored = store.source_state(&source)?;
    let gaps = store.gaps(&source)?;
    let skip = gaps.len().saturating_sub(MAX_GAPS_LISTED);
    let watermark = stored
        .as_ref()
        .and_then(|s| s.watermark)
        .or_else(|| engine.as_ref().and_then(|e| e.watermark));
    let mut config = record.config;
    if let Some(map) = config.as_object_mut() {
        map.remove("credentials");
    }
    let running = engine
        .as_ref()
        .is_some_and(|e| !e.paused && e.stopped.is_none());
    let status = StatusBody {
        running,
        stopped: engine.as_ref().and_then(|e| e.stopped.clone()),
        polls: engine.as_ref().map_or(0, |e| e.polls),
        events_ingested: stored.as_ref().map_or(0, |s| s.events_ingested),
        duplicates_absorbed: stored.as_ref().map_or(0, |s| s.duplicates_absorbed),
        consecutive_failures: engine.as_ref().map_or(0, |e| e.consecutive_failures),
        last_error: engine.as_ref().and_then(|e| e.last_error.clone()),
        last_poll_at: engine.as_ref().and_then(|e| e.last_poll_at).map(time),
        next_poll_at: engine
            .as_ref()
            .filter(|_| running)
            .and_then(|e| e.next_poll_at)
            .map(time),
        interval_ms: engine
            .as_ref()
            .map(|e| u64::try_from(e.interval.as_millis()).unwrap_or(u64::MAX)),
        watermark: watermark.map(|w| time(w.time())),
        lag_ms: watermark
            .map(|w| u64::try_from((now - w.time()).num_milliseconds().max(0)).unwrap_or(0)),
        checkpoint: stored.as_ref().map(|s| s.checkpoint.as_json().clone()),
        committed_at: stored.as_ref().map(|s| time(s.committed_at)),
        upstream_calls: engine.as_ref().and_then(|e| e.upstream_calls),
        upstream_calls_today: engine
            .as_ref()
            .and_then(|e| e.upstream_calls_today)
            .or_else(|| stored.as_ref().map(|s| s.calls_on(now.date_naive()))),
        gaps_recorded: stored.as_ref().map_or(0, |s| s.gaps_recorded),
        gaps: gaps
            .into_iter()
            .skip(skip)
            .map(|g| GapBody {
                detected_at: time(g.detected_at),
                after: g.after,
                resumed_at: g.resumed_at,
                reason: g.reason,
            })
            .collect(),
        storage: engine
            .as_ref()
            .and_then(|e| e.storage.as_ref())
            .map(StorageBody::from),
    };
    Ok(SourceBody {
        account_id,
        id: record.id.as_str().to_owned(),
        provider: record.provider,
        config,
        paused: record.paused,
        created_at: time(record.created_at),
        status,
        notification: None,
    })
}
