//! `/v1/sources`: create, list, read (with status), change (pause, resume, poll policy) and
//! delete the caller's sources.
//!
//! These handlers read the request and answer; the work (storing, starting, settling and
//! deleting sources, the write lock, scrubbing credentials from refusals) is the sources service,
//! [`SourceControl`](crate::control::SourceControl). A source's `credentials` are taken on create
//! (or from an OAuth code exchange, [`super::oauth`]), stored as given and never returned (see
//! `source_json.rs`).
//!
//! Writes (create, patch, delete) are serialized by one lock, so an id check and the write it
//! guards cannot interleave with another request's. Each request validates what it can without
//! the engine first, so a malformed request is a 4xx even on a server without source management
//! (`503 sources_unavailable`).

use super::query::{RawQuery, page_query};
use super::request::{Body, parse_body, quote};
pub use super::source_json::MAX_GAPS_LISTED;
use super::source_json::{NewSource, NotificationBody, SourceBody, body};
use super::subscription_draft;
use super::subscription_json::NewSubscription;
use super::subscriptions;
use super::{ApiError, ApiState, Tenant, openapi};
use crate::control::{
    Creation, create_source, owned, registry_error, settle, start, store_filled_poll, tenant_wide,
    view,
};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tributary_core::{PollPolicyPatch, SourceId};
use tributary_store::SourceRecord;
use utoipa::{IntoParams, ToSchema};

/// `PATCH /v1/sources/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourcePatch {
    /// `true` pauses polling, `false` resumes it (and clears a stop after an error).
    #[serde(default)]
    #[schema(nullable = false)]
    paused: Option<bool>,
    /// A new poll policy (the source restarts with it; its counters start again). Fields left
    /// out keep the source's current values.
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<openapi::PollPolicyBody>)]
    poll: Option<PollPolicyPatch>,
}

/// `GET /v1/sources`: a page of the caller's sources.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceList {
    /// The caller's sources on this page, by id.
    objects: Vec<SourceBody>,
    /// How many sources are in `objects`.
    #[schema(minimum = 0, maximum = 1000)]
    count: u64,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The sources on a page when `limit` is not given.
pub const DEFAULT_SOURCE_PAGE: usize = 100;
/// The largest `limit`.
pub const MAX_SOURCE_PAGE: usize = 1000;

/// The paging of `GET /v1/sources`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SourceListParams {
    /// Sources per page.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
    /// Where to continue: the `next_cursor` of an earlier answer (opaque). Without it, the first
    /// source.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// What a source cursor starts with: its format's version.
const CURSOR_PREFIX: &str = "s1.";

/// The cursor after the source `id`: opaque to clients (the id, in hex, behind a version).
fn source_cursor(id: &SourceId) -> String {
    let hex: String = id.as_str().bytes().map(|b| format!("{b:02x}")).collect();
    format!("{CURSOR_PREFIX}{hex}")
}

/// The source id a cursor continues after; `400 invalid_cursor` for anything not issued here.
fn decode_source_cursor(cursor: &str) -> Result<SourceId, ApiError> {
    let refuse = || {
        ApiError::InvalidCursor(format!(
            "malformed `cursor` {}: pass the `next_cursor` of an earlier answer",
            quote(cursor)
        ))
    };
    let hex = cursor.strip_prefix(CURSOR_PREFIX).ok_or_else(refuse)?;
    if hex.is_empty() || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(refuse());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| refuse())?;
    let id = String::from_utf8(bytes).map_err(|_| refuse())?;
    SourceId::new(id).map_err(|_| refuse())
}

/// The `{id}` of a path.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<SourceId, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid(format!("invalid source id: {e}")))?;
    SourceId::new(id).map_err(|e| ApiError::invalid(format!("invalid source id: {e}")))
}

#[utoipa::path(
    post,
    path = "/v1/sources",
    tag = "sources",
    operation_id = "create_source",
    summary = "Create a source",
    description = "Stores the source and starts polling it (unless `paused`). The config is \
        checked by its provider first; the refusal names the field. `credentials` are stored and \
        never returned. A source-scoped key cannot create sources. With \
        `notification.callback_url` (Cloud Elements' shape), a webhook subscription filtered to \
        the source is created too (the callback is checked first, as a subscription's `url`); \
        the answer's `notification` carries its id and signing secret, shown only here.",
    request_body = NewSource,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = SourceBody),
        (status = 400, description = "A body that is not the JSON described (`invalid_body`), a \
            source its provider refuses (`invalid_source`), or an upstream host that is, or \
            resolves only to, an address outbound requests may not reach: loopback, private, \
            link-local, … (`address_not_allowed`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 409, description = "The id is taken (`source_exists`)", body = openapi::ErrorBody),
        (status = 413, description = "A `config` or `credentials` larger than `[limits] \
            max_config_bytes` or `max_credentials_bytes` (`payload_too_large`; the message names \
            the field and the limit)", body = openapi::ErrorBody),
        openapi::TenantLimit,
        openapi::SourcesUnavailable,
    )
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    tenant: Tenant,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let mut new: NewSource = parse_body(&body)?;
    let notification = new.notification.take();
    let creation = Creation::check(new)?;
    // Cloud Elements' shape: the subscription is checked (url, address, room) before the
    // source is created, and created right after it, filtered to it.
    let draft = match &notification {
        Some(n) => {
            tenant_wide(&tenant, "create sources")?;
            let new = NewSubscription::to(n.callback_url.clone());
            let draft =
                subscription_draft::check_new(&state, &tenant, new, "notification.callback_url")
                    .await?;
            subscriptions::check_places(&state, &tenant).await?;
            Some(draft)
        }
        None => None,
    };
    let mut source = create_source(&state, &tenant, creation).await?;
    if let Some(mut draft) = draft {
        let id = SourceId::new(source.id().to_owned()).map_err(|_| ApiError::Internal)?;
        draft.filter.sources = vec![id.clone()];
        let subscription = match subscriptions::create_subscription(&state, &tenant, draft).await {
            Ok(subscription) => subscription,
            Err(e) => {
                // All or nothing: the caller asked for the source with its callback.
                undo_source(&state, &tenant, &id).await;
                return Err(e);
            }
        };
        source.notification = Some(NotificationBody {
            callback_url: subscription.url().to_owned(),
            subscription_id: subscription.id().to_owned(),
            secret: subscription.secret.unwrap_or_default(),
        });
    }
    Ok((StatusCode::CREATED, Json(source)).into_response())
}

/// Deletes a source just created whose callback subscription could not be made (a limit reached
/// meanwhile, a store failure). Best effort: a failure is logged, and the source stays.
async fn undo_source(state: &ApiState, tenant: &Tenant, id: &SourceId) {
    let undone = async {
        let control = state.sources()?;
        let _writes = control.writes().lock().await;
        let record = owned(state, tenant, id).await?;
        settle(control, &record).await?;
        let _record_writes = control.registry().record_writes().lock().await;
        state
            .store()
            .delete_source(&record.tenant, &record.id)
            .await?;
        Ok::<(), ApiError>(())
    };
    if let Err(e) = undone.await {
        tracing::warn!(source = %id, error = %e, "a source whose callback subscription failed could not be removed");
    }
}

#[utoipa::path(
    get,
    path = "/v1/sources",
    tag = "sources",
    operation_id = "list_sources",
    summary = "The caller's sources, with status",
    description = "The sources of the key's tenant (a source-scoped key: its one source), by id, \
        `limit` at a time: pass `next_cursor` as `cursor` for the next page (`null`: the last).",
    params(SourceListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the sources", body = SourceList),
        (status = 400, description = "A bad `limit` or an unknown parameter \
            (`invalid_parameter`), or a `cursor` not issued here (`invalid_cursor`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourcesUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    raw: RawQuery,
) -> Result<Json<SourceList>, ApiError> {
    let (limit, after) = page_query(
        raw,
        DEFAULT_SOURCE_PAGE,
        MAX_SOURCE_PAGE,
        Some(&decode_source_cursor),
    )?;
    let control = state.sources()?;
    let engine = control.engine().clone();
    let now = control.clock().now();
    let (objects, next_cursor) = state
        .blocking(move |store| {
            let mut records: Vec<SourceRecord> = store
                .sources_of(tenant.as_str())?
                .into_iter()
                .filter(|r| tenant.may_read(r))
                .filter(|r| after.as_ref().is_none_or(|after| r.id > *after))
                .collect();
            records.sort_by(|a, b| a.id.cmp(&b.id));
            records.truncate(limit.saturating_add(1));
            let next_cursor = (records.len() > limit)
                .then(|| records.get(limit - 1).map(|r| source_cursor(&r.id)))
                .flatten();
            let objects = records
                .into_iter()
                .take(limit)
                .map(|r| {
                    let status = engine.status(r.incarnation);
                    body(store, r, status, now)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((objects, next_cursor))
        })
        .await?;
    Ok(Json(SourceList {
        count: objects.len() as u64,
        objects,
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/sources/{id}",
    tag = "sources",
    operation_id = "get_source",
    summary = "One source, with status",
    params(("id" = SourceId, Path, description = "The source id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source", body = SourceBody),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        openapi::SourcesUnavailable,
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
        policy is checked, stored in the config, and the source restarts with it; fields it \
        leaves out keep the source's current values (or the provider's defaults).",
    params(("id" = SourceId, Path, description = "The source id")),
    request_body = SourcePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source after the change", body = SourceBody),
        (status = 400, description = "A malformed id (`invalid_parameter`), a body that is not the \
            JSON described (`invalid_body`), a policy the provider refuses (`invalid_source`), or \
            a stored upstream address the outbound policy now forbids (`address_not_allowed`: the \
            source was created before `[network]` changed)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        openapi::SourceBusy,
    )
)]
pub(crate) async fn patch(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    Body(body): Body,
) -> Result<Json<SourceBody>, ApiError> {
    let id = path_id(path)?;
    let change: SourcePatch = parse_body(&body)?;
    let control = state.sources()?;
    let _writes = control.writes().lock().await;
    // From the read to the write: a token rotation stored meanwhile is not overwritten.
    let record_writes = control.registry().record_writes().lock().await;
    let mut record = owned(&state, &tenant, &id).await?;
    let engine = control.engine();
    if let Some(paused) = change.paused {
        record.paused = paused;
    }
    if let Some(poll) = &change.poll {
        // The fields given over the stored ones; the build fills the rest from the provider's
        // defaults and checks the whole (its refusal names the field).
        let given = serde_json::to_value(poll).map_err(|_| ApiError::Internal)?;
        let Some(map) = record.config.as_object_mut() else {
            return Err(ApiError::InvalidSource(
                "the stored config is not an object; recreate the source".into(),
            ));
        };
        let mut merged = match map.remove("poll") {
            Some(serde_json::Value::Object(stored)) => stored,
            _ => serde_json::Map::new(),
        };
        if let serde_json::Value::Object(given) = given {
            merged.extend(given);
        }
        map.insert("poll".into(), serde_json::Value::Object(merged));
    }
    let built = control
        .registry()
        .build(&record)
        .map_err(|e| registry_error(e, &record.credentials))?;
    if change.poll.is_some() {
        store_filled_poll(&mut record, &built.policy)?;
    }
    let source = state.store().put_source(record.clone()).await?;
    drop(record_writes);
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
    params(("id" = SourceId, Path, description = "The source id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        openapi::SourceBusy,
    )
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(path)?;
    let control = state.sources()?;
    let _writes = control.writes().lock().await;
    let record = owned(&state, &tenant, &id).await?;
    tenant_wide(&tenant, "delete sources")?;
    settle(control, &record).await?;
    // A token rotation scanning the records does not write this one back after the delete.
    let _record_writes = control.registry().record_writes().lock().await;
    state
        .store()
        .delete_source(&record.tenant, &record.id)
        .await?;
    tracing::info!(source = %record.id, tenant = %record.tenant, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}
