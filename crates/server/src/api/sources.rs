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

use super::request::parse_body;
pub use super::source_json::MAX_GAPS_LISTED;
use super::source_json::{NewSource, SourceBody, body};
use super::{ApiError, ApiState, Tenant, openapi};
use crate::control::{
    Creation, create_source, owned, registry_error, settle, start, tenant_wide, view,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tributary_core::{PollPolicy, SourceId};
use tributary_store::SourceRecord;
use utoipa::ToSchema;

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

/// `GET /v1/sources`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceList {
    /// The caller's sources, by id.
    objects: Vec<SourceBody>,
    #[schema(minimum = 0)]
    count: u64,
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
        never returned. A source-scoped key cannot create sources.",
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
        openapi::SourcesUnavailable,
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
        openapi::Unauthorized,
        openapi::SourcesUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
) -> Result<Json<SourceList>, ApiError> {
    let control = state.sources()?;
    let engine = control.engine().clone();
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
        policy is checked, stored in the config, and the source restarts with it.",
    params(("id" = SourceId, Path, description = "The source id")),
    request_body = SourcePatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The source after the change", body = SourceBody),
        (status = 400, description = "A malformed id (`invalid_parameter`), a body that is not the \
            JSON described (`invalid_body`), or a policy the provider refuses (`invalid_source`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "No such source of the caller (`source_not_found`)", body = openapi::ErrorBody),
        openapi::SourceBusy,
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
    let _writes = control.writes().lock().await;
    let mut record = owned(&state, &tenant, &id).await?;
    let engine = control.engine();
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
    state
        .store()
        .delete_source(&record.tenant, &record.id)
        .await?;
    tracing::info!(source = %record.id, tenant = %record.tenant, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}
