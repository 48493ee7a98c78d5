//! `/v1/sources`: create, list, read (with status), change (pause, resume, poll policy) and
//! delete the caller's sources.
//!
//! A source is a [`SourceRecord`] in the store, run by the engine unless paused. Its
//! `credentials` are taken on create (or from an OAuth code exchange, [`super::oauth`]), stored
//! as given and never returned: a source's JSON has no `credentials`, its `config` may not hold
//! any (the registry sets them into the provider's config in memory only), and a provider's
//! refusal is scrubbed of the credentials' values before it is answered.
//!
//! Writes (create, patch, delete) are serialized by one lock, so an id check and the write it
//! guards cannot interleave with another request's. Each request validates what it can without
//! the engine first, so a malformed request is a 4xx even on a server without source management
//! (`503 sources_unavailable`).

use super::oauth::PendingStates;
use super::{AccountId, ApiError, ApiState, Tenant, openapi};
use crate::engine::{Engine, EngineError, SourceStatus};
use crate::registry::{Built, Registry, RegistryError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tributary_core::{Clock, PollPolicy, SourceId};
use tributary_store::{EventStore, SourceRecord, SourceRef};
use utoipa::ToSchema;

/// At most this many of a source's gaps are listed in its status (the newest);
/// `gaps_recorded` counts them all.
pub const MAX_GAPS_LISTED: usize = 20;

/// What `/v1/sources` and `/v1/oauth` act through: the engine that runs sources, the registry
/// that builds them, and the clock. Its engine and registry must work over the [`ApiState`]'s
/// store. Cheap to clone.
#[derive(Clone)]
pub struct SourceControl {
    inner: Arc<ControlInner>,
    /// How long a delete or restart waits for the source's poll in flight.
    settle_limit: std::time::Duration,
}

struct ControlInner {
    engine: Engine,
    registry: Registry,
    clock: Arc<dyn Clock>,
    /// Held by every write to the source table.
    writes: tokio::sync::Mutex<()>,
    oauth: PendingStates,
}

impl SourceControl {
    /// The engine the sources run on (for `/metrics`).
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn new(engine: Engine, registry: Registry, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(ControlInner {
                engine,
                registry,
                clock,
                writes: tokio::sync::Mutex::new(()),
                oauth: PendingStates::default(),
            }),
            settle_limit: SETTLE_LIMIT,
        }
    }

    /// The same, waiting at most `limit` for a poll in flight before answering `503
    /// source_busy` to a delete or restart (default 120 s).
    pub fn with_settle_limit(self, limit: std::time::Duration) -> Self {
        Self {
            settle_limit: limit,
            ..self
        }
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn oauth(&self) -> &PendingStates {
        &self.inner.oauth
    }
}

/// `POST /v1/sources`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSource {
    /// The source's id, unique among the tenant's sources (other tenants' ids are their own);
    /// `src-` and 16 hex digits are generated when absent.
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<openapi::SourceName>)]
    pub(crate) id: Option<String>,
    pub(crate) provider: openapi::ProviderName,
    /// The provider's configuration without credentials (`docs/providers.md`), e.g.
    /// `{"domain": "acme", "folder": "/Shared"}` for Egnyte or `{"base_url": "https://…"}` for
    /// Jive; `poll` sets the poll policy.
    #[schema(value_type = Object)]
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    /// The provider's credentials: `{"kind":"bearer","token":…}` or `{"kind":"oauth",…}` for
    /// Egnyte, `{"kind":"basic","username","password"}` or `{"kind":"oauth",…}` for Jive. Stored,
    /// never returned.
    #[schema(value_type = Object)]
    pub(crate) credentials: serde_json::Map<String, serde_json::Value>,
    /// Create it paused: stored, not polled until resumed.
    #[serde(default)]
    pub(crate) paused: bool,
}

/// `PATCH /v1/sources/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourcePatch {
    /// `true` pauses polling, `false` resumes it (and clears a stop after an error).
    #[serde(default)]
    #[schema(nullable = false)]
    paused: Option<bool>,
    /// A new poll policy (the source restarts with it; its counters start again).
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<openapi::PollPolicyBody>)]
    poll: Option<PollPolicy>,
}

/// A source, as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceBody {
    #[schema(value_type = openapi::SourceName)]
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

/// `GET /v1/sources`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceList {
    /// The caller's sources, by id.
    objects: Vec<SourceBody>,
    #[schema(minimum = 0)]
    count: u64,
}

fn time(t: DateTime<Utc>) -> String {
    tributary_core::time::format(&t)
}

/// Parses a JSON body, naming the field at fault.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidBody(format!("the request body is not valid: {e}")))
}

/// The `{id}` of a path.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<SourceId, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid(format!("invalid source id: {e}")))?;
    SourceId::new(id).map_err(|e| ApiError::invalid(format!("invalid source id: {e}")))
}

/// A new random id: `prefix` and 16 hex digits.
pub(crate) fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        tracing::error!(error = %e, "the OS random source failed");
        ApiError::Internal
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The values of `credentials` (strings of 3 or more characters) replaced by `***` in `message`.
pub(crate) fn scrub(message: &str, credentials: &serde_json::Value) -> String {
    fn leaves<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) if s.len() >= 3 => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| leaves(i, out)),
            _ => {}
        }
    }
    let mut secrets = Vec::new();
    leaves(credentials, &mut secrets);
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut message = message.to_owned();
    for secret in secrets {
        message = message.replace(secret, "***");
    }
    message
}

fn registry_error(e: RegistryError, credentials: &serde_json::Value) -> ApiError {
    ApiError::InvalidSource(scrub(&e.to_string(), credentials))
}

/// Refuses a source-scoped key for operations on the tenant's set of sources.
pub(crate) fn tenant_wide(tenant: &Tenant, what: &str) -> Result<(), ApiError> {
    match tenant.source() {
        Some(source) => Err(ApiError::Forbidden(format!(
            "this API key is limited to source {:?}: it cannot {what}; use a tenant-wide key",
            source.as_str()
        ))),
        None => Ok(()),
    }
}

/// A validated source to create, from `POST /v1/sources` or an OAuth callback.
pub(crate) struct Creation {
    pub(crate) id: Option<SourceId>,
    pub(crate) provider: &'static str,
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    pub(crate) credentials: serde_json::Value,
    pub(crate) paused: bool,
}

impl Creation {
    /// Checks what needs no engine: the id, the provider, no credentials in `config`.
    pub(crate) fn check(new: NewSource) -> Result<Self, ApiError> {
        let id = new
            .id
            .map(|id| {
                SourceId::new(id).map_err(|e| ApiError::InvalidSource(format!("invalid `id`: {e}")))
            })
            .transpose()?;
        check_config(&new.config)?;
        if new.credentials.is_empty() {
            return Err(ApiError::InvalidSource(
                "`credentials` must name a `kind` and its fields".into(),
            ));
        }
        Ok(Self {
            id,
            provider: new.provider.as_str(),
            config: new.config,
            credentials: serde_json::Value::Object(new.credentials),
            paused: new.paused,
        })
    }
}

/// `config` must not hold credentials: they go in `credentials`, which is never returned.
pub(crate) fn check_config(
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    if config.contains_key("credentials") {
        return Err(ApiError::InvalidSource(
            "`config.credentials` is not allowed: give credentials in `credentials` (they are never returned)"
                .into(),
        ));
    }
    Ok(())
}

/// Stores and starts a new source of `tenant`; answers its JSON.
pub(crate) async fn create_source(
    state: &ApiState,
    tenant: &Tenant,
    creation: Creation,
) -> Result<SourceBody, ApiError> {
    let control = state.sources()?;
    tenant_wide(tenant, "create sources")?;
    let id = match creation.id {
        Some(id) => id,
        None => SourceId::new(format!("src-{}", random_hex(8)?)).map_err(|_| ApiError::Internal)?,
    };
    let mut record = SourceRecord {
        id: id.clone(),
        tenant: tenant.as_str().to_owned(),
        incarnation: 0,
        provider: creation.provider.to_owned(),
        config: serde_json::Value::Object(creation.config),
        credentials: creation.credentials,
        paused: creation.paused,
        created_at: control.clock().now(),
    };
    control
        .registry()
        .validate(&record)
        .map_err(|e| registry_error(e, &record.credentials))?;
    let _writes = control.inner.writes.lock().await;
    // Ids are the tenant's own: another tenant's source with this id is neither seen nor told.
    let exists = {
        let (id, tenant) = (id.clone(), tenant.as_str().to_owned());
        state
            .blocking(move |store| Ok(store.source(&tenant, &id)?.is_some()))
            .await?
    };
    if exists {
        return Err(ApiError::SourceExists(id.as_str().to_owned()));
    }
    let source = state.store().put_source(record.clone()).await?;
    record.incarnation = source.incarnation;
    if !record.paused {
        // Built again for the incarnation the store gave: its provider reads that object memory.
        let built = control
            .registry()
            .build(&record)
            .map_err(|e| registry_error(e, &record.credentials))?;
        start(control, source, built)?;
    }
    tracing::info!(source = %record.id, tenant = %record.tenant, provider = %record.provider, "source created");
    view(state, control, record).await
}

/// How long deleting or restarting a source waits for its poll in flight; providers time their
/// requests out well before.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Stops running the source and waits for its poll in flight to commit, so that nothing writes
/// for it afterwards (a deleted source's data is not written again; a restarted source never has
/// two polls at once).
async fn settle(control: &SourceControl, record: &SourceRecord) -> Result<(), ApiError> {
    control
        .inner
        .engine
        .remove_source_settled(record.incarnation, control.settle_limit)
        .await
        .map(|_| ())
        .map_err(|e| engine_error(&record.id, e))
}

/// `StillPolling` is the client's to retry; anything else is a fault of ours.
fn engine_error(id: &SourceId, e: EngineError) -> ApiError {
    match e {
        EngineError::StillPolling(_) => {
            tracing::warn!(source = %id, "the source's poll did not finish in time; it is stopped, the client may retry");
            ApiError::SourceBusy(id.as_str().to_owned())
        }
        e => {
            tracing::error!(source = %id, error = %e, "the engine refused a stored source");
            ApiError::Internal
        }
    }
}

fn start(control: &SourceControl, source: SourceRef, built: Built) -> Result<(), ApiError> {
    let id = source.id.clone();
    control
        .inner
        .engine
        .add_source_pipelined(source, built.provider, built.objects, built.policy)
        .map_err(|e| engine_error(&id, e))
}

/// The source `id` if `tenant` may see it; another tenant's is not told apart from none.
async fn owned(state: &ApiState, tenant: &Tenant, id: &SourceId) -> Result<SourceRecord, ApiError> {
    let (lookup, owner) = (id.clone(), tenant.as_str().to_owned());
    let record = state
        .blocking(move |store| Ok(store.source(&owner, &lookup)?))
        .await?;
    record
        .filter(|r| tenant.may_read(r))
        .ok_or_else(|| ApiError::SourceNotFound(id.as_str().to_owned()))
}

/// The source's JSON: the record without credentials, and its status from engine and store.
async fn view(
    state: &ApiState,
    control: &SourceControl,
    record: SourceRecord,
) -> Result<SourceBody, ApiError> {
    let engine_status = control.inner.engine.status(record.incarnation);
    let now = control.clock().now();
    state
        .blocking(move |store| body(store, record, engine_status, now))
        .await
}

fn body(
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
    };
    Ok(SourceBody {
        account_id,
        id: record.id.as_str().to_owned(),
        provider: record.provider,
        config,
        paused: record.paused,
        created_at: time(record.created_at),
        status,
    })
}

const UNAUTHORIZED: &str = "No or an unknown API key (`unauthorized`)";

#[utoipa::path(
    post,
    path = "/v1/sources",
    tag = "sources",
    operation_id = "create_source",
    summary = "Create a source",
    description = "Stores the source and starts polling it (unless `paused`). The config is \
        checked by its provider first; the refusal names the field. `credentials` are stored and \
        never returned. A source-scoped key cannot create sources.",
    request_body = NewSource,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = SourceBody),
        (status = 400, description = "A body that is not the JSON described (`invalid_body`), or a \
            source its provider refuses (`invalid_source`)", body = openapi::ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 403, description = "A source-scoped key (`forbidden`)", body = openapi::ErrorBody),
        (status = 409, description = "The id is taken (`source_exists`)", body = openapi::ErrorBody),
        (status = 503, description = "No source management on this server \
            (`sources_unavailable`), or the store does not answer (`store_unavailable`)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    tenant: Tenant,
    body: Bytes,
) -> Result<Response, ApiError> {
    let creation = Creation::check(parse_body(&body)?)?;
    let source = create_source(&state, &tenant, creation).await?;
    Ok((StatusCode::CREATED, Json(source)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/sources",
    tag = "sources",
    operation_id = "list_sources",
    summary = "The caller's sources, with status",
    description = "Every source of the key's tenant (a source-scoped key: its one source), by id.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sources", body = SourceList),
        (status = 401, description = UNAUTHORIZED, body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 503, description = "No source management on this server \
            (`sources_unavailable`), or the store does not answer (`store_unavailable`)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
) -> Result<Json<SourceList>, ApiError> {
    let control = state.sources()?;
    let engine = control.inner.engine.clone();
    let now = control.clock().now();
    let objects = state
        .blocking(move |store| {
            let mut records: Vec<SourceRecord> = store
                .sources_of(tenant.as_str())?
                .into_iter()
                .filter(|r| tenant.may_read(r))
                .collect();
            records.sort_by(|a, b| a.id.cmp(&b.id));
            records
                .into_iter()
                .map(|r| {
                    let status = engine.status(r.incarnation);
                    body(store, r, status, now)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(Json(SourceList {
        count: objects.len() as u64,
        objects,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/sources/{id}",
    tag = "sources",
    operation_id = "get_source",
    summary = "One source, with status",
    params(("id" = openapi::SourceName, Path, description = "The source id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source", body = SourceBody),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        (status = 503, description = "No source management on this server \
            (`sources_unavailable`), or the store does not answer (`store_unavailable`)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SourceBody>, ApiError> {
    let id = path_id(path)?;
    let control = state.sources()?;
    let record = owned(&state, &tenant, &id).await?;
    Ok(Json(view(&state, control, record).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/sources/{id}",
    tag = "sources",
    operation_id = "update_source",
    summary = "Pause, resume or change the poll policy",
    description = "`paused: true` stops polling (a poll in flight still commits); `paused: false` \
        resumes at once and, for a source stopped on an error, starts it afresh. A new `poll` \
        policy is checked, stored in the config, and the source restarts with it.",
    params(("id" = openapi::SourceName, Path, description = "The source id")),
    request_body = SourcePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source after the change", body = SourceBody),
        (status = 400, description = "A malformed id (`invalid_parameter`), a body that is not the \
            JSON described (`invalid_body`), or a policy the provider refuses (`invalid_source`)", body = openapi::ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        (status = 503, description = "No source management on this server \
            (`sources_unavailable`), the store does not answer (`store_unavailable`), or the \
            source's poll in flight did not finish within the wait (`source_busy`, with \
            `Retry-After`: the source is stopped; retry)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<SourceBody>, ApiError> {
    let id = path_id(path)?;
    let change: SourcePatch = parse_body(&body)?;
    if let Some(poll) = &change.poll {
        poll.validate()
            .map_err(|e| ApiError::InvalidSource(format!("`poll`: {e}")))?;
    }
    let control = state.sources()?;
    let _writes = control.inner.writes.lock().await;
    let mut record = owned(&state, &tenant, &id).await?;
    let engine = &control.inner.engine;
    if let Some(paused) = change.paused {
        record.paused = paused;
    }
    if let Some(poll) = &change.poll {
        let poll = serde_json::to_value(poll).map_err(|_| ApiError::Internal)?;
        match record.config.as_object_mut() {
            Some(map) => {
                map.insert("poll".into(), poll);
            }
            None => {
                return Err(ApiError::InvalidSource(
                    "the stored config is not an object; recreate the source".into(),
                ));
            }
        }
    }
    let built = control
        .registry()
        .build(&record)
        .map_err(|e| registry_error(e, &record.credentials))?;
    let source = state.store().put_source(record.clone()).await?;
    let current = engine.status(source.incarnation);
    let stopped = current.as_ref().is_some_and(|s| s.stopped.is_some());
    // Restart (a fresh provider and status) for a new policy, or to resume a stopped source.
    let restart = change.poll.is_some() || (!record.paused && stopped);
    if restart && current.is_some() {
        settle(control, &record).await?;
    }
    let in_engine = engine.status(source.incarnation).is_some();
    if record.paused {
        if in_engine {
            engine
                .set_paused(source.incarnation, true)
                .map_err(|_| ApiError::Internal)?;
        }
    } else if in_engine {
        if change.paused == Some(false) {
            engine
                .set_paused(source.incarnation, false)
                .map_err(|_| ApiError::Internal)?;
        }
    } else {
        start(control, source, built)?;
    }
    tracing::info!(source = %id, paused = record.paused, policy = change.poll.is_some(), "source changed");
    Ok(Json(view(&state, control, record).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/sources/{id}",
    tag = "sources",
    operation_id = "delete_source",
    summary = "Delete a source",
    description = "Stops polling it and removes its record, checkpoint, gaps, object memory and \
        unmerged events. Its events already in the unified log stay until retention removes them. \
        A source-scoped key cannot delete sources.",
    params(("id" = openapi::SourceName, Path, description = "The source id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        (status = 401, description = UNAUTHORIZED, body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 403, description = "A source-scoped key (`forbidden`)", body = openapi::ErrorBody),
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        (status = 503, description = "No source management on this server \
            (`sources_unavailable`), the store does not answer (`store_unavailable`), or the \
            source's poll in flight did not finish within the wait (`source_busy`, with \
            `Retry-After`: the source is stopped; retry)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(path)?;
    let control = state.sources()?;
    let _writes = control.inner.writes.lock().await;
    let record = owned(&state, &tenant, &id).await?;
    tenant_wide(&tenant, "delete sources")?;
    settle(control, &record).await?;
    state
        .store()
        .delete_source(&record.tenant, &record.id)
        .await?;
    tracing::info!(source = %record.id, tenant = %record.tenant, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}
