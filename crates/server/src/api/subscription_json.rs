//! A webhook subscription's JSON: what `POST /v1/subscriptions` and `PATCH` take, and what the
//! subscription endpoints answer ([`SubscriptionBody`], with its delivery state). Never a secret,
//! except the one `secret` of a creation's or a rotation's answer.

use super::{ApiError, ApiState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{Cursor, EventType, Seq, SourceId};
use tributary_store::{DeliveryAttempt, DeliveryMode, DeliveryState, Filter, SubscriptionRecord};
use utoipa::ToSchema;

/// The longest `url`, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The most sources a filter names.
pub const MAX_FILTER_SOURCES: usize = 100;
/// The most types a filter names (each at most once makes 7).
pub const MAX_FILTER_TYPES: usize = 16;
/// The longest `path_prefix`, in bytes.
pub const MAX_PATH_PREFIX_BYTES: usize = 1024;
/// The largest `max_batch`.
pub const MAX_BATCH: u32 = 1000;

/// `POST /v1/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSubscription {
    /// Where deliveries are POSTed: `http` or `https`, without credentials or fragment, at most
    /// 2048 bytes; its host must be one outbound requests may reach (`[network]`).
    #[schema(max_length = 2048)]
    pub(crate) url: String,
    /// A Standard Webhooks secret (`whsec_` and the base64 of 24 to 64 bytes); one is generated
    /// when absent. Answered once, in this request's answer.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) secret: Option<String>,
    /// Which events are delivered (all of the tenant's when absent).
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) filter: Option<FilterBody>,
    /// `full` (default): the events themselves, in batches; `notify`: a thin ping.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) mode: Option<Mode>,
    /// The most events one `full` request carries (default 100).
    #[serde(default)]
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    pub(crate) max_batch: Option<u32>,
    /// Where deliveries start: `"latest"` (default: only events merged from now on),
    /// `"oldest"` (every retained event), or `{"cursor": "<an events cursor>"}` (the events
    /// after it).
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) start: Option<StartBody>,
    /// Free text for the owner, at most 500 characters.
    #[serde(default)]
    #[schema(nullable = false, max_length = 500)]
    pub(crate) description: Option<String>,
}

impl NewSubscription {
    /// A subscription of every default to `url` (Cloud Elements' `callback_url`).
    pub(crate) fn to(url: String) -> Self {
        Self {
            url,
            secret: None,
            filter: None,
            mode: None,
            max_batch: None,
            start: None,
            description: None,
        }
    }
}

/// `PATCH /v1/subscriptions/{id}`: every field optional; those given are changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscriptionPatch {
    #[serde(default)]
    #[schema(nullable = false, max_length = 2048)]
    pub(crate) url: Option<String>,
    /// Replaces the whole filter.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) filter: Option<FilterBody>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) mode: Option<Mode>,
    #[serde(default)]
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    pub(crate) max_batch: Option<u32>,
    /// A new description; `""` removes it.
    #[serde(default)]
    #[schema(nullable = false, max_length = 500)]
    pub(crate) description: Option<String>,
    /// `true` pauses deliveries, `false` resumes them from the cursor.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) paused: Option<bool>,
    /// `true` re-enables a subscription the dispatcher disabled (it resumes from its cursor:
    /// nothing is lost). Only `true` is taken.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) enabled: Option<bool>,
    /// `true`: a new secret is generated; the current one keeps signing alongside it for the
    /// rotation grace (default 24 h). The new secret is answered once.
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) rotate_secret: Option<bool>,
    /// Rotates to this secret (as `rotate_secret`, with the secret given).
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) secret: Option<String>,
}

/// `POST /v1/subscriptions/{id}/replay`: exactly one of `cursor` and `since`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayBody {
    /// Deliver again the events after this events cursor (of the caller's tenant).
    #[serde(default)]
    #[schema(nullable = false)]
    pub(crate) cursor: Option<String>,
    /// Deliver again from the first event of the log that occurred at or after this time (RFC
    /// 3339).
    #[serde(default)]
    #[schema(nullable = false, format = DateTime)]
    pub(crate) since: Option<String>,
}

/// Which events a subscription delivers: all conditions given must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilterBody {
    /// Only these sources of the tenant (at most 100); every source when empty.
    #[serde(default)]
    #[schema(value_type = Vec<tributary_core::SourceId>, max_items = 100)]
    pub(crate) sources: Vec<String>,
    /// Only these types (at most 16); every type when empty.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub(crate) types: Vec<EventType>,
    /// Only events whose object (or previous object) lies at or under this path, by whole
    /// segments. Starts with `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^/", max_length = 1024)]
    pub(crate) path_prefix: Option<String>,
}

/// What a subscription's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Full,
    Notify,
}

impl From<Mode> for DeliveryMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Full => DeliveryMode::Full,
            Mode::Notify => DeliveryMode::Notify,
        }
    }
}

impl From<DeliveryMode> for Mode {
    fn from(mode: DeliveryMode) -> Self {
        match mode {
            DeliveryMode::Full => Mode::Full,
            DeliveryMode::Notify => Mode::Notify,
        }
    }
}

/// Where a new subscription starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum StartBody {
    Named(StartName),
    Cursor(CursorStart),
}

/// `latest` or `oldest`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StartName {
    Latest,
    Oldest,
}

/// After an events cursor of the caller's tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorStart {
    #[schema(min_length = 1)]
    pub(crate) cursor: String,
}

/// A subscription, as the API shows it: never its secrets (but for the one `secret` of a
/// creation's or a rotation's answer).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionBody {
    /// `sub_` and 24 hex digits, generated by the server.
    id: String,
    url: String,
    filter: FilterBody,
    mode: Mode,
    #[schema(minimum = 1, maximum = 1000)]
    max_batch: u32,
    description: Option<String>,
    /// Paused by its owner.
    paused: bool,
    /// `false` once the dispatcher disabled it (see `disabled`); `PATCH {"enabled": true}`.
    enabled: bool,
    disabled: Option<DisabledBody>,
    /// While a rotation's grace lasts: until when the replaced secret still signs.
    #[schema(format = DateTime)]
    previous_secret_until: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    delivery: DeliveryBody,
    /// The signing secret: only in the answer of a creation or a rotation, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(crate) secret: Option<String>,
}

impl SubscriptionBody {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// Why and when the dispatcher disabled a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisabledBody {
    #[schema(format = DateTime)]
    at: String,
    reason: String,
}

/// Where a subscription's deliveries stand.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryBody {
    /// An events cursor at the last position delivered and acknowledged: `/v1/events?cursor=`
    /// reads what is still to be delivered.
    cursor: String,
    /// The last log position delivered (0: none yet).
    #[schema(minimum = 0)]
    delivered_seq: u64,
    /// Events of the tenant's log after the cursor, not filtered: an upper bound on what is
    /// still to be delivered.
    #[schema(minimum = 0)]
    lag_events: u64,
    /// How long the oldest event after the cursor has been observed, in seconds (0 when
    /// caught up).
    #[schema(minimum = 0)]
    lag_seconds: u64,
    #[schema(format = DateTime)]
    last_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    /// Failed attempts of the current batch since the last success.
    #[schema(minimum = 0)]
    consecutive_failures: u32,
    /// When the current run of failures began.
    #[schema(format = DateTime)]
    failing_since: Option<String>,
    last_error: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptBody {
    #[schema(format = DateTime)]
    at: String,
    /// The `webhook-id` header (the same on every attempt of a batch).
    webhook_id: String,
    /// The receiver's HTTP status; `null` when none came (timeout, refused connection).
    #[schema(minimum = 100, maximum = 599)]
    status: Option<u16>,
    #[schema(minimum = 0)]
    latency_ms: u64,
    error: Option<String>,
    /// The first and last log positions the request carried.
    #[schema(minimum = 0)]
    first_seq: u64,
    #[schema(minimum = 0)]
    last_seq: u64,
}

impl From<DeliveryAttempt> for AttemptBody {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            at: time(a.at),
            webhook_id: a.webhook_id,
            status: a.status,
            latency_ms: a.latency_ms,
            error: a.error,
            first_seq: a.first.get(),
            last_seq: a.last.get(),
        }
    }
}

fn time(t: DateTime<Utc>) -> String {
    tributary_core::time::format(&t)
}

/// The store's filter of a body (already checked).
pub(crate) fn to_filter(body: &FilterBody) -> Result<Filter, ApiError> {
    let sources = body
        .sources
        .iter()
        .map(|s| {
            SourceId::new(s.clone())
                .map_err(|e| ApiError::InvalidBody(format!("`filter.sources`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filter {
        sources,
        types: body.types.clone(),
        path_prefix: body.path_prefix.clone(),
        since: None,
        until: None,
    })
}

fn filter_body(filter: &Filter) -> FilterBody {
    FilterBody {
        sources: filter
            .sources
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
        types: filter.types.clone(),
        path_prefix: filter.path_prefix.clone(),
    }
}

/// The body of `record` with its delivery state, at `now`.
pub(crate) async fn body(
    state: &ApiState,
    record: SubscriptionRecord,
    now: DateTime<Utc>,
) -> Result<SubscriptionBody, ApiError> {
    let id = record.id.clone();
    let delivery = state
        .blocking(move |store| Ok(store.delivery(&id)?.unwrap_or_default()))
        .await?;
    let store = state.store();
    let tenant = record.tenant.as_str();
    let latest = store.latest(tenant).await?;
    let oldest = store.oldest(tenant).await?;
    let key = store.stream_key(tenant);
    let DeliveryState {
        delivered,
        attempts,
        next_attempt_at,
        last_error,
        failing_since,
        last_attempt_at,
        ..
    } = delivery;
    let lag_events = latest.seq.get().saturating_sub(delivered.get());
    let lag_seconds = if lag_events == 0 {
        0
    } else {
        // From the oldest retained event when retention removed the cursor's next ones.
        let after = Cursor::new(key, Seq(delivered.get().max(oldest.seq.get())));
        let page = store
            .read_within(tenant, Some(&after), 1, &Filter::default(), 1)
            .await?;
        match page.events.first() {
            Some(first) => {
                let observed = first.event()?.observed_at;
                u64::try_from((now - observed).num_seconds().max(0)).unwrap_or(0)
            }
            None => 0,
        }
    };
    let previous_secret_until = record
        .secrets
        .previous
        .as_ref()
        .filter(|p| p.until > now)
        .map(|p| time(p.until));
    Ok(SubscriptionBody {
        id: record.id,
        url: record.url,
        filter: filter_body(&record.filter),
        mode: record.mode.into(),
        max_batch: record.max_batch,
        description: record.description,
        paused: record.paused,
        enabled: record.disabled.is_none(),
        disabled: record.disabled.map(|d| DisabledBody {
            at: time(d.at),
            reason: d.reason,
        }),
        previous_secret_until,
        created_at: time(record.created_at),
        delivery: DeliveryBody {
            cursor: Cursor::new(key, delivered).encode(),
            delivered_seq: delivered.get(),
            lag_events,
            lag_seconds,
            last_attempt_at: last_attempt_at.map(time),
            next_attempt_at: next_attempt_at.map(time),
            consecutive_failures: attempts,
            failing_since: failing_since.map(time),
            last_error,
        },
        secret: None,
    })
}
