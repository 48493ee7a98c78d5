//! `/v1/subscriptions`: create, list, read (with delivery state), change (pause, resume,
//! re-enable, rotate the secret), delete, replay and the recent attempts of the caller's webhook
//! subscriptions.
//!
//! The API writes subscription records itself, and a new subscription's first delivery state
//! (its start position); it tells the dispatcher of every change, and asks it to replay,
//! through a [`SubscriptionControl`](crate::webhooks::SubscriptionControl)
//! ([`ApiState::with_webhooks`]). Writes are serialized by one lock, so a count or a read and
//! the write it guards cannot interleave with another request's.
//!
//! Every operation takes a tenant-wide key (a source-scoped key gets `403 forbidden`: a
//! subscription may read every source of the tenant). Another tenant's subscription is answered
//! exactly as an unknown id (`404 subscription_not_found`). A secret is answered once, by the
//! creation or the rotation that made it; no read and no error carries one.

use super::query::{RawQuery, page_query};
use super::request::{Body, parse_body, quote, random_hex};
use super::subscription_draft::{
    SubscriptionDraft, check_description, check_filter, check_max_batch, check_new, check_secret,
    check_url, fresh_secret, position_of, position_since,
};
use super::subscription_json::{
    AttemptBody, NewSubscription, ReplayBody, StartBody, StartName, SubscriptionBody,
    SubscriptionPatch, body,
};
use super::{ApiError, ApiState, Tenant, openapi};
use crate::control::tenant_wide;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tributary_store::{DeliveryState, PreviousSecret, SigningSecrets, SubscriptionRecord};
use utoipa::{IntoParams, ToSchema};

/// `GET /v1/subscriptions`: a page of the caller's subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionList {
    /// The caller's subscriptions on this page, by id.
    objects: Vec<SubscriptionBody>,
    #[schema(minimum = 0, maximum = 1000)]
    count: u64,
    /// Pass it as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// `GET /v1/subscriptions/{id}/attempts`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptList {
    /// The newest attempts first.
    objects: Vec<AttemptBody>,
    #[schema(minimum = 0, maximum = 100)]
    count: u64,
}

/// The subscriptions on a page when `limit` is not given.
pub const DEFAULT_SUBSCRIPTION_PAGE: usize = 100;
/// The largest `limit` of the list.
pub const MAX_SUBSCRIPTION_PAGE: usize = 1000;
/// The attempts listed when `limit` is not given.
pub const DEFAULT_ATTEMPTS: usize = 20;

/// The paging of `GET /v1/subscriptions`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SubscriptionListParams {
    /// Subscriptions per page.
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<u32>,
    /// Where to continue: the `next_cursor` of an earlier answer (opaque).
    #[param(min_length = 1)]
    cursor: Option<String>,
}

/// How many attempts `GET /v1/subscriptions/{id}/attempts` lists.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AttemptParams {
    /// Attempts listed, newest first.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
}

/// What a subscription list cursor starts with: its format's version.
const CURSOR_PREFIX: &str = "w1.";

/// A subscription list's `cursor`: [`CURSOR_PREFIX`] and the last id of the page before.
fn decode_cursor(value: &str) -> Result<String, ApiError> {
    value
        .strip_prefix(CURSOR_PREFIX)
        .filter(|id| is_subscription_id(id))
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::InvalidCursor(format!(
                "malformed `cursor` {}: pass the `next_cursor` of an earlier answer",
                quote(value)
            ))
        })
}

/// `sub_` and 24 lowercase hex digits, as [`new_id`] makes them.
fn is_subscription_id(id: &str) -> bool {
    id.strip_prefix("sub_").is_some_and(|hex| {
        hex.len() == 24
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn new_id() -> Result<String, ApiError> {
    Ok(format!("sub_{}", random_hex(12)?))
}

/// The `{id}` of a path: anything not shaped like an id is no subscription of the caller.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid(format!("invalid subscription id: {e}")))?;
    if is_subscription_id(&id) {
        Ok(id)
    } else {
        Err(ApiError::SubscriptionNotFound(id))
    }
}

/// The subscription `id` if it is `tenant`'s; another tenant's is not told apart from none.
async fn owned(
    state: &ApiState,
    tenant: &Tenant,
    id: &str,
) -> Result<SubscriptionRecord, ApiError> {
    let lookup = id.to_owned();
    let record = state
        .blocking(move |store| Ok(store.subscription(&lookup)?))
        .await?;
    record
        .filter(|r| r.tenant == tenant.as_str())
        .ok_or_else(|| ApiError::SubscriptionNotFound(id.to_owned()))
}

/// `429 tenant_limit` when the tenant holds its limit's worth of subscriptions (checked again
/// under the write lock by [`create_subscription`]; the Cloud Elements shape of `POST
/// /v1/sources` checks it before it creates the source).
pub(crate) async fn check_places(state: &ApiState, tenant: &Tenant) -> Result<(), ApiError> {
    let limit = state.config().subscriptions_per_tenant;
    let name = tenant.as_str().to_owned();
    let count = state
        .blocking(move |store| {
            Ok(store
                .subscriptions()?
                .iter()
                .filter(|s| s.tenant == name)
                .count())
        })
        .await?;
    if count >= limit {
        return Err(ApiError::TenantLimit {
            message: format!(
                "this tenant has {count} subscriptions, its limit (subscriptions_per_tenant): \
                 delete one first"
            ),
            retry_after: None,
        });
    }
    Ok(())
}

/// Stores a new subscription of `tenant` and its start position, then tells the dispatcher;
/// answers its body with the secret (the only time it is shown).
pub(crate) async fn create_subscription(
    state: &ApiState,
    tenant: &Tenant,
    draft: SubscriptionDraft,
) -> Result<SubscriptionBody, ApiError> {
    let name = tenant.as_str();
    let delivered = match &draft.start {
        None | Some(StartBody::Named(StartName::Latest)) => state.store().latest(name).await?.seq,
        Some(StartBody::Named(StartName::Oldest)) => state.store().oldest(name).await?.seq,
        Some(StartBody::Cursor(c)) => position_of(state, name, &c.cursor).await?,
    };
    let secret = match draft.secret {
        Some(secret) => secret,
        None => fresh_secret()?,
    };
    let now = state.now();
    let record = SubscriptionRecord {
        id: new_id()?,
        tenant: name.to_owned(),
        url: draft.url,
        secrets: SigningSecrets {
            current: secret.clone(),
            previous: None,
        },
        filter: draft.filter,
        mode: draft.mode.into(),
        max_batch: draft.max_batch,
        description: draft.description,
        paused: false,
        disabled: None,
        created_at: now,
    };
    {
        let _writes = state.lock_subscriptions().await;
        check_places(state, tenant).await?;
        state.store().put_subscription(record.clone()).await?;
        let initial = DeliveryState {
            delivered,
            ..DeliveryState::default()
        };
        state.store().set_delivery(&record.id, initial).await?;
    }
    state.subscription_control().changed(&record.id);
    tracing::info!(subscription = %record.id, tenant = %record.tenant, start = delivered.get(), "subscription created");
    let mut answer = body(state, record, now).await?;
    answer.secret = Some(secret);
    Ok(answer)
}

#[utoipa::path(
    post,
    path = "/v1/subscriptions",
    tag = "subscriptions",
    operation_id = "create_subscription",
    summary = "Subscribe a URL to the tenant's events",
    description = "Stores the subscription and its start position, and starts delivering. A \
        `url`, `description` or `filter.path_prefix` over its bound is `400 invalid_body`. The \
        answer carries the signing `secret` (given, or generated): the only time it is shown. \
        A source-scoped key cannot subscribe.",
    request_body = NewSubscription,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, with `secret`", body = SubscriptionBody),
        (status = 400, description = "A body that is not the JSON described, a bad url, secret, \
            `max_batch` or filter, or a source the tenant does not have (`invalid_body`); a \
            start cursor not of this tenant (`invalid_cursor`) or past the end of the log \
            (`cursor_ahead`); a url whose host is, or resolves only to, an address outbound \
            requests may not reach (`address_not_allowed`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 410, description = "A start cursor older than the oldest retained event \
            (`cursor_expired`, with `oldest_cursor`)", body = openapi::ErrorBody),
        openapi::TenantLimit,
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    tenant: Tenant,
    Body(body): Body,
) -> Result<Response, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let new: NewSubscription = parse_body(&body)?;
    let draft = check_new(&state, &tenant, new, "url").await?;
    let answer = create_subscription(&state, &tenant, draft).await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/subscriptions",
    tag = "subscriptions",
    operation_id = "list_subscriptions",
    summary = "The caller's subscriptions, with delivery state",
    description = "By id, `limit` at a time: pass `next_cursor` as `cursor` for the next page \
        (`null`: the last). No secret is shown.",
    params(SubscriptionListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the subscriptions", body = SubscriptionList),
        (status = 400, description = "A bad `limit` or an unknown parameter \
            (`invalid_parameter`), or a `cursor` not issued here (`invalid_cursor`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    raw: RawQuery,
) -> Result<Json<SubscriptionList>, ApiError> {
    let (limit, after) = page_query(
        raw,
        DEFAULT_SUBSCRIPTION_PAGE,
        MAX_SUBSCRIPTION_PAGE,
        Some(&decode_cursor),
    )?;
    tenant_wide(&tenant, "manage subscriptions")?;
    let name = tenant.as_str().to_owned();
    let mut records = state
        .blocking(move |store| {
            Ok(store
                .subscriptions()?
                .into_iter()
                .filter(|s| s.tenant == name)
                .filter(|s| after.as_ref().is_none_or(|after| s.id > *after))
                .collect::<Vec<_>>())
        })
        .await?;
    records.sort_by(|a, b| a.id.cmp(&b.id));
    records.truncate(limit.saturating_add(1));
    let next_cursor = (records.len() > limit)
        .then(|| {
            records
                .get(limit - 1)
                .map(|r| format!("{CURSOR_PREFIX}{}", r.id))
        })
        .flatten();
    let now = state.now();
    let mut objects = Vec::with_capacity(limit.min(records.len()));
    for record in records.into_iter().take(limit) {
        objects.push(body(&state, record, now).await?);
    }
    Ok(Json(SubscriptionList {
        count: objects.len() as u64,
        objects,
        next_cursor,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}",
    tag = "subscriptions",
    operation_id = "get_subscription",
    summary = "One subscription, with delivery state",
    params(("id" = String, Path, description = "The subscription id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription (never its secret)", body = SubscriptionBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such subscription of the caller \
            (`subscription_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<SubscriptionBody>, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let id = path_id(path)?;
    let record = owned(&state, &tenant, &id).await?;
    Ok(Json(body(&state, record, state.now()).await?))
}

#[utoipa::path(
    patch,
    path = "/v1/subscriptions/{id}",
    tag = "subscriptions",
    operation_id = "update_subscription",
    summary = "Change, pause, resume, re-enable or rotate the secret",
    description = "Changes the fields given. `paused` pauses or resumes; `enabled: true` \
        re-enables a subscription the dispatcher disabled (deliveries resume from its cursor). \
        `rotate_secret: true` (or a new `secret`) rotates the signing secret: the old one keeps \
        signing alongside the new one for the rotation grace (24 h by default), and the answer \
        carries the new `secret`, the only time it is shown.",
    params(("id" = String, Path, description = "The subscription id")),
    request_body = SubscriptionPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription after the change (with `secret` after a \
            rotation)", body = SubscriptionBody),
        (status = 400, description = "A body that is not the JSON described, or a bad url, \
            secret, `max_batch` or filter (`invalid_body`); a url whose host outbound requests \
            may not reach (`address_not_allowed`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such subscription of the caller \
            (`subscription_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn patch(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    Body(body_bytes): Body,
) -> Result<Json<SubscriptionBody>, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let id = path_id(path)?;
    let change: SubscriptionPatch = parse_body(&body_bytes)?;
    if change.enabled == Some(false) {
        return Err(ApiError::InvalidBody(
            "`enabled` takes only `true` (to re-enable); to stop deliveries, pause it".into(),
        ));
    }
    if change.rotate_secret == Some(false) && change.secret.is_some() {
        return Err(ApiError::InvalidBody(
            "`secret` rotates the secret: it cannot go with `rotate_secret: false`".into(),
        ));
    }
    // What needs no record: checked before the write lock (the url's host may take a lookup).
    let url = match &change.url {
        Some(url) => Some(check_url(&state, url, "url").await?),
        None => None,
    };
    if let Some(secret) = &change.secret {
        check_secret(secret)?;
    }
    let filter = match &change.filter {
        Some(body) => Some(check_filter(&state, &tenant, body).await?),
        None => None,
    };
    let max_batch = change.max_batch.map(check_max_batch).transpose()?;
    let description = match change.description {
        Some(d) => Some(check_description(Some(d))?),
        None => None,
    };
    let rotate = change.rotate_secret == Some(true) || change.secret.is_some();
    let new_secret = match (rotate, change.secret) {
        (false, _) => None,
        (true, Some(secret)) => Some(secret),
        (true, None) => Some(fresh_secret()?),
    };
    let now = state.now();
    let record = {
        let _writes = state.lock_subscriptions().await;
        let mut record = owned(&state, &tenant, &id).await?;
        if let Some(url) = url {
            record.url = url;
        }
        if let Some(filter) = filter {
            record.filter = filter;
        }
        if let Some(mode) = change.mode {
            record.mode = mode.into();
        }
        if let Some(max_batch) = max_batch {
            record.max_batch = max_batch;
        }
        if let Some(description) = description {
            record.description = description;
        }
        if let Some(paused) = change.paused {
            record.paused = paused;
        }
        if change.enabled == Some(true) {
            record.disabled = None;
        }
        if let Some(secret) = &new_secret {
            let grace = chrono::Duration::from_std(state.config().secret_rotation_grace)
                .unwrap_or(chrono::Duration::MAX);
            let old = std::mem::replace(&mut record.secrets.current, secret.clone());
            record.secrets.previous = Some(PreviousSecret {
                secret: old,
                until: now
                    .checked_add_signed(grace)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
            });
        }
        state.store().put_subscription(record.clone()).await?;
        record
    };
    state.subscription_control().changed(&id);
    tracing::info!(subscription = %id, rotated = new_secret.is_some(), paused = record.paused, "subscription changed");
    let mut answer = body(&state, record, now).await?;
    answer.secret = new_secret;
    Ok(Json(answer))
}

#[utoipa::path(
    delete,
    path = "/v1/subscriptions/{id}",
    tag = "subscriptions",
    operation_id = "delete_subscription",
    summary = "Delete a subscription",
    description = "Removes it and its delivery state; nothing more is sent to its URL.",
    params(("id" = String, Path, description = "The subscription id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such subscription of the caller \
            (`subscription_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let id = path_id(path)?;
    {
        let _writes = state.lock_subscriptions().await;
        owned(&state, &tenant, &id).await?;
        state.store().delete_subscription(&id).await?;
    }
    state.subscription_control().changed(&id);
    tracing::info!(subscription = %id, tenant = %tenant.as_str(), "subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/subscriptions/{id}/replay",
    tag = "subscriptions",
    operation_id = "replay_subscription",
    summary = "Move the subscription's cursor (deliver again)",
    description = "Exactly one of `cursor` (deliver the events after this events cursor) or \
        `since` (deliver from the first event of the log that occurred at or after this time; \
        the log's end when none did). Deliveries resume from there, in order; a batch in flight \
        is abandoned and the retry schedule starts afresh.",
    params(("id" = String, Path, description = "The subscription id")),
    request_body = ReplayBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription at its new position", body = SubscriptionBody),
        (status = 400, description = "Neither or both of `cursor` and `since`, or a bad time \
            (`invalid_body`); a cursor not of this tenant (`invalid_cursor`) or past the end of \
            the log (`cursor_ahead`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such subscription of the caller \
            (`subscription_not_found`)", body = openapi::ErrorBody),
        (status = 410, description = "A cursor older than the oldest retained event \
            (`cursor_expired`, with `oldest_cursor`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn replay(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    Body(body_bytes): Body,
) -> Result<Json<SubscriptionBody>, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let id = path_id(path)?;
    let request: ReplayBody = parse_body(&body_bytes)?;
    let record = owned(&state, &tenant, &id).await?;
    let name = tenant.as_str();
    let position = match (&request.cursor, &request.since) {
        (Some(cursor), None) => position_of(&state, name, cursor).await?,
        (None, Some(since)) => {
            let since = tributary_core::time::parse(since).map_err(|e| {
                ApiError::InvalidBody(format!(
                    "`since` {} is not an RFC 3339 time: {e}",
                    quote(since)
                ))
            })?;
            position_since(&state, name, since).await?
        }
        _ => {
            return Err(ApiError::InvalidBody(
                "give exactly one of `cursor` and `since`".into(),
            ));
        }
    };
    state
        .subscription_control()
        .replay(&id, position)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(subscription = %id, position = position.get(), "subscription replayed");
    Ok(Json(body(&state, record, state.now()).await?))
}

#[utoipa::path(
    get,
    path = "/v1/subscriptions/{id}/attempts",
    tag = "subscriptions",
    operation_id = "list_subscription_attempts",
    summary = "The subscription's recent delivery attempts, newest first",
    description = "The newest 100 are kept; `limit` (default 20) lists fewer.",
    params(("id" = String, Path, description = "The subscription id"), AttemptParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The attempts, newest first", body = AttemptList),
        (status = 400, description = "A bad `limit` or an unknown parameter \
            (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 404, description = "No such subscription of the caller \
            (`subscription_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn attempts(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    raw: RawQuery,
) -> Result<Json<AttemptList>, ApiError> {
    tenant_wide(&tenant, "manage subscriptions")?;
    let id = path_id(path)?;
    let (limit, _) = page_query::<String>(
        raw,
        DEFAULT_ATTEMPTS,
        tributary_store::MAX_ATTEMPTS_KEPT,
        None,
    )?;
    owned(&state, &tenant, &id).await?;
    let objects: Vec<AttemptBody> = state
        .blocking(move |store| Ok(store.attempts(&id)?))
        .await?
        .into_iter()
        .take(limit)
        .map(AttemptBody::from)
        .collect();
    Ok(Json(AttemptList {
        count: objects.len() as u64,
        objects,
    }))
}
