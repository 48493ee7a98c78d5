//! `GET /v1/events` and `GET /v1/events/latest`: pages of the unified log, scoped to the tenant.
//!
//! A page's `objects` are the events' stored JSON spliced into the body as they are: no event is
//! decoded or re-serialized to answer a read.
//!
//! `remaining` is the store's count of the caller's events (of `source`, when given) after the
//! returned cursor, before the other filters: `0` means the reader is caught up; other tenants'
//! events are never counted.

use super::query::{self, Endpoint, EventQuery, RawQuery};
use super::scope::SourceScopes;
use super::{ApiError, ApiState, Tenant, openapi};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tributary_core::{Cursor, Seq};
use tributary_store::{EventStore, Filter, MAX_SCAN, ReadPage};

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
        (status = 401, description = "No or an unknown API key (`unauthorized`)", body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 404, description = "A `source` the caller does not have (`source_not_found`)", body = openapi::ErrorBody),
        (status = 410, description = "The cursor is older than retention (`cursor_expired`, with \
            `oldest_cursor`)", body = openapi::ErrorBody),
        (status = 503, description = "The store does not answer (`store_unavailable`)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let q = query::parse(raw, Endpoint::List)?;
    let after = decode_cursor(&state, q.cursor.as_deref())?;
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
        (status = 401, description = "No or an unknown API key (`unauthorized`)", body = openapi::ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tributary\"`"))),
        (status = 503, description = "The store does not answer (`store_unavailable`)", body = openapi::ErrorBody),
    )
)]
pub(crate) async fn latest(
    State(state): State<ApiState>,
    _tenant: Tenant,
) -> Result<Response, ApiError> {
    let cursor = state
        .blocking(|store| store.latest().map_err(ApiError::from))
        .await?;
    Ok(json_response(
        format!("{{\"cursor\":\"{}\"}}", cursor.encode()).into_bytes(),
    ))
}

/// Decodes a cursor the reader gave, refusing one this store did not issue.
pub(crate) fn decode_cursor(
    state: &ApiState,
    cursor: Option<&str>,
) -> Result<Option<Cursor>, ApiError> {
    cursor
        .map(|c| Cursor::decode(c, state.store().epoch()))
        .transpose()
        .map_err(|e| ApiError::InvalidCursor(e.to_string()))
}

/// Log entries a read examines on the async worker before it hands the rest to the blocking
/// pool: a page of the default size from sled's cache takes some tens of microseconds, which a
/// worker can spend without holding up other requests, while the hand-off costs about a third of
/// the API's throughput under load (`tests/bench/api-wrk.sh`). A sparse filter, which may examine
/// up to [`tributary_store::MAX_SCAN`] entries, continues on the blocking pool.
pub(crate) const INLINE_SCAN: usize = 200;

/// Up to `limit` events after `after` that match `q`, among the sources the caller may read:
/// the first [`INLINE_SCAN`] entries read here, what a sparse filter needs beyond them on the
/// blocking pool, and the whole read there when the tenants' sources must be read again.
pub(crate) async fn read_page(
    state: &ApiState,
    tenant: Tenant,
    after: Option<Cursor>,
    limit: usize,
    q: Arc<EventQuery>,
) -> Result<ReadPage, ApiError> {
    let scopes = state.scopes();
    let store = state.store().as_ref();
    if !scopes.is_fresh(store) {
        // The sources changed: decoding them all (maybe thousands) is blocking work.
        return state
            .blocking(move |store| {
                read_scoped(store, &scopes, &tenant, after.as_ref(), limit, &q, MAX_SCAN)
            })
            .await;
    }
    let mut page = read_scoped(
        store,
        &scopes,
        &tenant,
        after.as_ref(),
        limit,
        &q,
        INLINE_SCAN,
    )?;
    let wanted = limit - page.events.len().min(limit);
    if wanted == 0 || page.remaining == 0 {
        return Ok(page);
    }
    let after = page.cursor;
    let rest = state
        .blocking(move |store| {
            read_scoped(store, &scopes, &tenant, Some(&after), wanted, &q, MAX_SCAN)
        })
        .await?;
    page.events.extend(rest.events);
    page.cursor = rest.cursor;
    page.remaining = rest.remaining;
    Ok(page)
}

/// Reads up to `limit` events after `after` that match `q`, examining at most `max_scan` log
/// entries, among the sources the caller may read only (the tenant's, or a source-scoped key's
/// one source). Blocking.
pub(crate) fn read_scoped(
    store: &dyn EventStore,
    scopes: &SourceScopes,
    tenant: &Tenant,
    after: Option<&Cursor>,
    limit: usize,
    q: &EventQuery,
    max_scan: usize,
) -> Result<ReadPage, ApiError> {
    let owned = scopes.readable(store, tenant)?;
    let sources = if q.sources.is_empty() {
        owned
    } else {
        // Another tenant's source is answered exactly like one that does not exist.
        if let Some(missing) = q.sources.iter().find(|s| !owned.contains(s)) {
            return Err(ApiError::SourceNotFound(missing.to_string()));
        }
        q.sources.clone()
    };
    if sources.is_empty() {
        // An empty source list would match every source: a tenant without sources reads nothing,
        // but its cursor is still checked as a read would.
        return empty_page(store, after);
    }
    let filter = Filter {
        sources,
        types: q.types.clone(),
        path_prefix: q.path_prefix.clone(),
        since: q.since,
        until: q.until,
    };
    Ok(store.read_within(after, limit, &filter, max_scan)?)
}

fn empty_page(store: &dyn EventStore, after: Option<&Cursor>) -> Result<ReadPage, ApiError> {
    let latest = store.latest()?;
    if let Some(c) = after {
        let oldest = store.oldest()?;
        if c.seq < oldest.seq {
            return Err(ApiError::CursorExpired { oldest });
        }
        if c.seq > latest.seq {
            return Err(ApiError::CursorAhead(format!(
                "cursor points past the end of the log (position {} > last position {})",
                c.seq, latest.seq
            )));
        }
    }
    Ok(ReadPage {
        events: Vec::new(),
        cursor: latest,
        remaining: 0,
    })
}

/// `{"objects":[…],"cursor":"…","count":N,"remaining":M}` with each event's stored JSON as is.
pub(crate) fn page_body(page: &ReadPage) -> Vec<u8> {
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

/// The cursor that resumes right after the event at `seq`.
pub(crate) fn cursor_after(store: &dyn EventStore, seq: Seq) -> Cursor {
    Cursor::new(store.epoch(), seq)
}
