//! `GET /v1/events` and `GET /v1/events/latest`: pages of the unified log, scoped to the tenant.
//!
//! A page's `objects` are the events' stored JSON spliced into the body as they are: no event is
//! decoded or re-serialized to answer a read.
//!
//! `remaining` is the store's count of log entries after the returned cursor *before* any
//! filtering, the tenant scope included: `0` means the reader is caught up; a positive number is
//! an upper bound on what is left for this reader.

use super::query::{self, Endpoint, EventQuery, RawQuery};
use super::{ApiError, ApiState, Tenant, openapi};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tributary_core::{Cursor, Seq, SourceId};
use tributary_store::{EventStore, Filter, MAX_SCAN, ReadPage, StoredEvent};

/// `GET /v1/events`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    operation_id = "list_events",
    summary = "A page of the unified log",
    description = "Up to `page_size` events after `cursor` that match the filters, among the \
        caller's sources, oldest first. `remaining` counts log entries after the returned cursor \
        before any filtering: `0` means caught up.",
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
    let page = state
        .blocking(move |store| read_scoped(store, &tenant, after.as_ref(), limit, &q))
        .await?;
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

/// Reads up to `limit` events after `after` that match `q`, among the sources the caller may
/// read only (the tenant's, or a source-scoped key's one source).
/// Blocking: run it on the blocking pool.
pub(crate) fn read_scoped(
    store: &dyn EventStore,
    tenant: &Tenant,
    after: Option<&Cursor>,
    limit: usize,
    q: &EventQuery,
) -> Result<ReadPage, ApiError> {
    let all = store.sources()?;
    let owned: Vec<_> = all
        .iter()
        .filter(|s| tenant.may_read(s))
        .map(|s| s.id.clone())
        .collect();
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
    let only_sources = filter.types.is_empty()
        && filter.path_prefix.is_none()
        && filter.since.is_none()
        && filter.until.is_none();
    if only_sources
        && filter.sources.len() > 1
        && all.iter().all(|s| filter.sources.contains(&s.id))
    {
        return read_all_sources(store, after, limit, &filter.sources);
    }
    Ok(store.read(after, limit, &filter)?)
}

/// The read of a caller who may read every source there is (the common single-tenant case),
/// without the store's per-event JSON parsing of a many-source filter: the log is read
/// unfiltered and each event's `source` is found in its stored JSON by a byte search
/// ([`stored_source`]). The check still matters: the log keeps the events of deleted sources (of
/// any tenant) until retention, and a source created since `sources` was listed is not the
/// caller's. Pages stay full: reading goes on while entries remain, within the store's scan bound.
fn read_all_sources(
    store: &dyn EventStore,
    after: Option<&Cursor>,
    limit: usize,
    sources: &[SourceId],
) -> Result<ReadPage, ApiError> {
    let keep = |e: &StoredEvent| match stored_source(e.json()) {
        Some(source) => sources.iter().any(|s| s.as_str() == source),
        None => false,
    };
    let mut page = store.read(after, limit, &Filter::default())?;
    let mut examined = page.events.len();
    page.events.retain(keep);
    while page.events.len() < limit && page.remaining > 0 && examined < MAX_SCAN {
        let want = (limit - page.events.len()).min(MAX_SCAN - examined);
        let next = store.read(Some(&page.cursor), want, &Filter::default())?;
        examined += next.events.len();
        page.cursor = next.cursor;
        page.remaining = next.remaining;
        page.events.extend(next.events.into_iter().filter(keep));
    }
    Ok(page)
}

/// The top-level `source` of a stored event's JSON, found without parsing it.
///
/// The store writes `id`, `seq` and `source` first, before any nested object, and `,"` never
/// occurs inside a JSON string (a quote in a string is escaped), so the first `,"source":"` is
/// the event's own field; a source id has no character that JSON escapes. JSON that does not
/// have that shape is parsed instead.
pub(crate) fn stored_source(json: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    const FIELD: &[u8] = b",\"source\":\"";
    let found = json
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b',' && json[i..].starts_with(FIELD))
        .and_then(|at| {
            let rest = &json[at + FIELD.len()..];
            let end = rest.iter().position(|&b| b == b'"')?;
            let value = std::str::from_utf8(&rest[..end]).ok()?;
            (!value.contains('\\')).then_some(value)
        });
    match found {
        Some(value) => Some(std::borrow::Cow::Borrowed(value)),
        None => {
            #[derive(serde::Deserialize)]
            struct SourceOnly {
                source: String,
            }
            match serde_json::from_slice::<SourceOnly>(json) {
                Ok(parsed) => Some(std::borrow::Cow::Owned(parsed.source)),
                Err(e) => {
                    tracing::error!(error = %e, "a log entry has no source");
                    None
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use tributary_core::{Event, EventId, EventType, Object, ObjectKind, Upstream};

    #[test]
    fn the_source_of_stored_json_is_found_without_parsing_and_cannot_be_spoofed() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        // Ids and payloads that spell out another `source` field.
        for id in ["e1", r#"x","source":"evil"#, r#"x\",\"source\":\"evil"#] {
            let event = Event {
                id: EventId::new(id).unwrap(),
                seq: Some(Seq(7)),
                source: SourceId::new("egnyte-acme").unwrap(),
                provider: "egnyte".into(),
                event_type: EventType::Add,
                occurred_at: at,
                observed_at: at,
                object: Object::new(r#"o","source":"evil"#, ObjectKind::File, "f"),
                previous: None,
                actor: None,
                upstream: Upstream {
                    id: "u".into(),
                    action: "create".into(),
                    raw: Some(serde_json::json!({"source": "evil"})),
                },
                late: false,
            };
            let json = serde_json::to_vec(&event).unwrap();
            assert_eq!(stored_source(&json).as_deref(), Some("egnyte-acme"), "{id}");
        }
        // Another shape is parsed; no source at all is none.
        assert_eq!(
            stored_source(br#"{"source":"a1","id":"e"}"#).as_deref(),
            Some("a1")
        );
        assert_eq!(stored_source(br#"{"id":"e"}"#), None);
    }
}
