//! `GET /v1/events/stream`: the tenant's log as server-sent events, replayed from a cursor and
//! then followed live (woken by merges of this tenant only).
//!
//! Format, one SSE event per log event:
//!
//! ```text
//! id: <cursor after this event>
//! data: <the event's JSON, as stored>
//!
//! ```
//!
//! No `event:` field, so a browser's `EventSource.onmessage` receives every event. The `id` is
//! the cursor right after the event: a client that reconnects with `Last-Event-ID` (as
//! `EventSource` does by itself) resumes exactly after the last event it received.
//!
//! Where to start: a non-empty `Last-Event-ID` header wins over `?cursor=`, because a reconnecting
//! `EventSource` repeats the original URL (with its original cursor) and adds the header; with
//! neither, the stream starts at the oldest retained event, as `GET /v1/events` does. A bad or
//! expired start answers with the same 4xx as `GET /v1/events`, before the stream begins.
//!
//! The same tenant scope and filters (`source`, `type`, `path_prefix`, `since`, `until`) apply.
//! An idle stream sends a keep-alive comment every [`ApiConfig::keep_alive`](super::ApiConfig).
//! If the stream cannot go on (its position was removed by retention, the store failed, a named
//! source was deleted) it sends one `event: stream_error` whose data is the usual error body
//! (`{"error":{"code","message"}}`) and ends. It also ends when the server shuts down.
//!
//! Each open stream holds a slot counted per tenant and per key ([`Limits::streams_per_tenant`],
//! [`Limits::streams_per_key`]); one more answers `429 tenant_limit` before the stream begins.
//! The slot is given back when the stream ends for any reason, a client that goes away included
//! (the server drops the stream then).
//!
//! [`Limits::streams_per_tenant`]: super::Limits::streams_per_tenant
//! [`Limits::streams_per_key`]: super::Limits::streams_per_key

use super::events::{decode_cursor, read_page};
use super::limits::StreamSlot;
use super::query::{self, Endpoint, EventQuery, RawQuery};
use super::{ApiError, ApiState, Tenant, openapi};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::watch;
use tributary_core::{Cursor, Seq};
use tributary_store::StoredEvent;

/// Events read from the store at once while replaying.
const BATCH: usize = 1000;

/// The header a reconnecting client sends with the last `id` it received.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// `GET /v1/events/stream`.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    operation_id = "stream_events",
    summary = "The unified log as server-sent events, replayed then followed live",
    description = "One SSE event per log event: `id:` the cursor after it, `data:` its JSON (an \
        `Event`). An idle stream sends keep-alive comments. A stream that cannot go on sends one \
        `event: stream_error` whose data is an `ErrorBody`, and ends. A bad or expired start \
        answers with the same 4xx as `GET /v1/events` before the stream begins.",
    params(
        openapi::StreamParams,
        openapi::FilterParams,
        ("Last-Event-ID" = Option<String>, Header,
            description = "The last `id` received: resumes right after it (wins over `cursor`)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stream (it does not end until the server shuts down)",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad parameter (`invalid_parameter`), a malformed or foreign \
            cursor (`invalid_cursor`) or one past the end (`cursor_ahead`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "A `source` the caller does not have (`source_not_found`)", body = openapi::ErrorBody),
        (status = 410, description = "The start is older than retention (`cursor_expired`, with \
            `oldest_cursor`)", body = openapi::ErrorBody),
        openapi::TenantLimit,
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn stream(
    State(state): State<ApiState>,
    tenant: Tenant,
    headers: HeaderMap,
    raw: RawQuery,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let q = query::parse(raw, Endpoint::Stream)?;
    // An empty header is no header (`EventSource` sends none until it has seen an id).
    let start = match headers.get(LAST_EVENT_ID).filter(|v| !v.is_empty()) {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError::InvalidCursor("the Last-Event-ID header is not valid text".into())
        })?),
        None => q.cursor.as_deref(),
    };
    let after = decode_cursor(&state, &tenant, start)?;
    // The Tenant extractor took the key already; without one there would be no tenant.
    let key = super::auth::presented_key_hash(&headers).ok_or(ApiError::Internal)?;
    let slot = state
        .streams()
        .acquire(state.limits(), tenant.as_str(), key)?;
    let mut follower = Follower {
        _slot: slot,
        key: state.store().stream_key(tenant.as_str()),
        merged: state.merged(tenant.as_str()),
        closing: state.closing(),
        state,
        tenant,
        query: Arc::new(q),
        position: after,
        buffer: VecDeque::new(),
        caught_up: false,
        done: false,
    };
    // The first read happens before the response starts, so a bad start is an HTTP error.
    follower.merged.borrow_and_update();
    follower.read().await?;
    let keep_alive = KeepAlive::new().interval(follower.state.config().keep_alive);
    let events = stream::unfold(follower, |mut f| async move {
        f.next().await.map(|event| (Ok(event), f))
    });
    Ok(Sse::new(events).keep_alive(keep_alive))
}

/// One stream's position and what it has read but not yet sent.
struct Follower {
    /// This stream's place among the tenant's and the key's; given back when dropped.
    _slot: StreamSlot,
    state: ApiState,
    tenant: Tenant,
    /// The tenant's stream key, which every `id` (a cursor) carries: looked up once.
    key: u64,
    query: Arc<EventQuery>,
    merged: watch::Receiver<Seq>,
    closing: watch::Receiver<bool>,
    /// Where the next read continues (`None`: from the oldest retained event).
    position: Option<Cursor>,
    buffer: VecDeque<StoredEvent>,
    /// The last read reached the end of the log: wait for a merge before reading again.
    caught_up: bool,
    done: bool,
}

impl Follower {
    async fn read(&mut self) -> Result<(), ApiError> {
        let (tenant, query, after) = (self.tenant.clone(), Arc::clone(&self.query), self.position);
        let page = read_page(&self.state, tenant, after, BATCH, query).await?;
        self.caught_up = page.remaining == 0;
        self.position = Some(page.cursor);
        self.buffer.extend(page.events);
        Ok(())
    }

    /// The next SSE event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                let sse = self.event(&event);
                if sse.is_none() {
                    self.done = true;
                    self.buffer.clear();
                }
                return Some(sse.unwrap_or_else(|| stream_error(&ApiError::Internal)));
            }
            if self.done {
                return None;
            }
            if self.caught_up {
                let recheck = self.state.config().stream_recheck;
                tokio::select! {
                    biased;
                    _ = self.closing.wait_for(|closing| *closing) => return None,
                    changed = self.merged.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    () = tokio::time::sleep(recheck) => {}
                }
            }
            // Mark the notification seen before reading, so a merge during the read wakes the
            // next wait instead of being lost.
            self.merged.borrow_and_update();
            if let Err(e) = self.read().await {
                self.done = true;
                return Some(stream_error(&e));
            }
        }
    }

    /// The SSE event for a stored event; `None` if its JSON is not text (a corrupt store).
    fn event(&self, event: &StoredEvent) -> Option<SseEvent> {
        let id = Cursor::new(self.key, event.seq).encode();
        match std::str::from_utf8(event.json()) {
            Ok(json) => Some(SseEvent::default().id(id).data(json)),
            Err(_) => {
                tracing::error!(seq = %event.seq, "a stored event is not UTF-8");
                None
            }
        }
    }
}

/// The last event of a stream that cannot go on.
fn stream_error(e: &ApiError) -> SseEvent {
    SseEvent::default()
        .event("stream_error")
        .data(e.body().to_string())
}
