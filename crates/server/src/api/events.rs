//! `GET /v1/events` and `GET /v1/events/latest`: pages of the tenant's own log.
//!
//! A page's `objects` are the events' stored JSON spliced into the body as they are: no event is
//! decoded or re-serialized to answer a read.
//!
//! `remaining` is the store's count of the caller's events (of `source`, when given) after the
//! returned cursor, before the other filters: `0` means the reader is caught up. Every tenant
//! has its own log, positions and cursors: nothing of another tenant is ever read or counted.

use super::query::{self, Endpoint, EventQuery, RawQuery};
use super::{ApiError, ApiState, Tenant, openapi};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tributary_core::Cursor;
use tributary_store::{Filter, INLINE_SCAN, MAX_SCAN, ReadPage};

/// `GET /v1/events`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    operation_id = "list_events",
    summary = "A page of the unified log",
    description = "Up to `page_size` events after `cursor` that match the filters, among the \
        caller's sources, oldest first. `remaining` counts the caller's events (of `source`, when \
        given) after the returned cursor, before the other filters: `0` means caught up.",
    params(openapi::PageParams, openapi::FilterParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = openapi::EventPage,
            links(("next_page" = (operation_id = "list_events", parameters(("cursor" = "$response.body#/cursor")),
                description = "The next page")))),
        (status = 400, description = "A bad parameter (`invalid_parameter`), a malformed or foreign \
            cursor (`invalid_cursor`) or one past the end (`cursor_ahead`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "A `source` the caller does not have (`source_not_found`)", body = openapi::ErrorBody),
        (status = 410, description = "The cursor is older than retention (`cursor_expired`, with \
            `oldest_cursor`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let q = query::parse(raw, Endpoint::List)?;
    let after = decode_cursor(&state, &tenant, q.cursor.as_deref())?;
    let limit = q.page_size;
    let page = read_page(&state, tenant, after, limit, Arc::new(q)).await?;
    Ok(json_response(page_body(&page)))
}

/// `GET /v1/events/latest`.
#[utoipa::path(
    get,
    path = "/v1/events/latest",
    tag = "events",
    operation_id = "latest_event_cursor",
    summary = "The cursor after the newest event",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cursor", body = openapi::LatestCursor,
            links(("events_after" = (operation_id = "list_events", parameters(("cursor" = "$response.body#/cursor")),
                description = "The events after it")))),
        openapi::Unauthorized,
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn latest(
    State(state): State<ApiState>,
    tenant: Tenant,
) -> Result<Response, ApiError> {
    let cursor = state.store().latest(tenant.as_str()).await?;
    Ok(json_response(
        format!("{{\"cursor\":\"{}\"}}", cursor.encode()).into_bytes(),
    ))
}

/// Decodes a cursor the reader gave, refusing one not issued for the tenant's stream (another
/// tenant's, another store's) without saying which.
pub(crate) fn decode_cursor(
    state: &ApiState,
    tenant: &Tenant,
    cursor: Option<&str>,
) -> Result<Option<Cursor>, ApiError> {
    cursor
        .map(|c| Cursor::decode(c, state.store().stream_key(tenant.as_str())))
        .transpose()
        .map_err(|e| ApiError::InvalidCursor(e.to_string()))
}

/// Up to `limit` events of the tenant's log after `after` that match `q` (a source-scoped key
/// reads its one source): the first [`INLINE_SCAN`] entries read on this task, what a sparse
/// filter needs beyond them on the blocking pool (the store decides).
pub(crate) async fn read_page(
    state: &ApiState,
    tenant: Tenant,
    after: Option<Cursor>,
    limit: usize,
    q: Arc<EventQuery>,
) -> Result<ReadPage, ApiError> {
    let filter = scoped_filter(&tenant, &q)?;
    let store = state.store();
    let mut page = store
        .read_within(tenant.as_str(), after.as_ref(), limit, &filter, INLINE_SCAN)
        .await?;
    let wanted = limit - page.events.len().min(limit);
    if wanted == 0 || page.remaining == 0 {
        return Ok(page);
    }
    let rest = store
        .read_within(
            tenant.as_str(),
            Some(&page.cursor),
            wanted,
            &filter,
            MAX_SCAN,
        )
        .await?;
    page.events.extend(rest.events);
    page.cursor = rest.cursor;
    page.remaining = rest.remaining;
    Ok(page)
}

/// The store filter for `q` as `tenant` may read: a source-scoped key reads its own source
/// only, and another source it names is answered as one that does not exist.
fn scoped_filter(tenant: &Tenant, q: &EventQuery) -> Result<Filter, ApiError> {
    let sources = match tenant.source() {
        Some(only) => {
            if let Some(other) = q.sources.iter().find(|s| *s != only) {
                return Err(ApiError::SourceNotFound(other.to_string()));
            }
            vec![only.clone()]
        }
        None => q.sources.clone(),
    };
    Ok(Filter {
        sources,
        types: q.types.clone(),
        path_prefix: q.path_prefix.clone(),
        since: q.since,
        until: q.until,
    })
}

/// `{"objects":[…],"cursor":"…","count":N,"remaining":M}` with each event's stored JSON as is.
pub fn page_body(page: &ReadPage) -> Vec<u8> {
    let events: usize = page.events.iter().map(|e| e.json().len() + 1).sum();
    let mut body = Vec::with_capacity(events + 96);
    body.extend_from_slice(b"{\"objects\":[");
    for (i, event) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event.json());
    }
    // A cursor is URL-safe base64: nothing in it needs escaping.
    body.extend_from_slice(
        format!(
            "],\"cursor\":\"{}\",\"count\":{},\"remaining\":{}}}",
            page.cursor.encode(),
            page.events.len(),
            page.remaining
        )
        .as_bytes(),
    );
    body
}

pub(crate) fn json_response(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
