//! The Kloudless-compatible events API, so code written against the Kloudless SDKs switches by
//! changing its base URL:
//!
//! - `GET /v1/accounts/{account}/events?cursor&page_size` →
//!   `{objects, cursor, count, remaining, type: "object_list", api: "events"}`
//! - `GET /v1/accounts/{account}/events/latest` → `{cursor}`
//!
//! An account is one source ([`AccountId`](super::AccountId)); `me` is the source of a
//! source-scoped key. Cursors, errors and `page_size` follow `/v1/events` exactly. Each event is
//! mapped from its stored JSON through borrowed views into a small struct and serialized once;
//! `docs/api.md` has the mapping table.

use super::account::{self, AccountId, AccountRef};
use super::events::{decode_cursor, json_response};
use super::query::{self, Endpoint, RawQuery};
use super::{ApiError, ApiState, Tenant, openapi};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use tributary_core::EventType;
use tributary_store::{Filter, ReadPage};
use utoipa::ToSchema;

/// `GET /v1/accounts/{account}/events`.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/events",
    tag = "kloudless",
    operation_id = "list_account_events",
    summary = "A page of one account's events, in Kloudless's shapes",
    params(
        ("account" = String, Path, pattern = r"^(me|[1-9][0-9]{0,15})$",
            example = "3683662759948583",
            description = "The account's numeric id (1 to 2^53-1), or `me` for the source of a \
            source-scoped key"),
        openapi::PageParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = openapi::KloudlessEventPage,
            links(("next_page" = (operation_id = "list_account_events", parameters(("account" = "$request.path.account"), ("cursor" = "$response.body#/cursor")),
                description = "The next page")))),
        (status = 400, description = "A bad parameter or account (`invalid_parameter`), a malformed \
            or foreign cursor (`invalid_cursor`) or one past the end (`cursor_ahead`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "An account the caller does not have (`account_not_found`)", body = openapi::ErrorBody),
        (status = 410, description = "The cursor is older than retention (`cursor_expired`, with \
            `oldest_cursor`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let account = account_ref(path)?;
    let q = query::parse(raw, Endpoint::Account)?;
    let after = decode_cursor(&state, &tenant, q.cursor.as_deref())?;
    let limit = q.page_size;
    let (source, id) = {
        let tenant = tenant.clone();
        state
            .blocking(move |store| account::resolve(store, &tenant, account))
            .await?
    };
    let filter = Filter {
        sources: vec![source.clone()],
        ..Filter::default()
    };
    let page = state
        .store()
        .read(tenant.as_str(), after.as_ref(), limit, &filter)
        .await?;
    // The read went by source id: make sure it read the account's own incarnation.
    state
        .blocking(move |store| account::still_is(store, &tenant, &source, id))
        .await?;
    Ok(json_response(page_body(&page, id)?))
}

/// `GET /v1/accounts/{account}/events/latest`.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/events/latest",
    tag = "kloudless",
    operation_id = "latest_account_event_cursor",
    summary = "The cursor after the newest event, for one account",
    params(
        ("account" = String, Path, pattern = r"^(me|[1-9][0-9]{0,15})$",
            example = "3683662759948583",
            description = "The account's numeric id (1 to 2^53-1), or `me` for the source of a \
            source-scoped key"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cursor", body = openapi::LatestCursor,
            links(("events_after" = (operation_id = "list_account_events", parameters(("account" = "$request.path.account"), ("cursor" = "$response.body#/cursor")),
                description = "The events after it")))),
        (status = 400, description = "A bad account (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        (status = 404, description = "An account the caller does not have (`account_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn latest(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let account = account_ref(path)?;
    {
        let tenant = tenant.clone();
        state
            .blocking(move |store| account::resolve(store, &tenant, account))
            .await?;
    }
    let cursor = state.store().latest(tenant.as_str()).await?;
    Ok(json_response(
        format!("{{\"cursor\":\"{}\"}}", cursor.encode()).into_bytes(),
    ))
}

fn account_ref(path: Result<Path<String>, PathRejection>) -> Result<AccountRef, ApiError> {
    let Path(account) =
        path.map_err(|e| ApiError::invalid(format!("the account cannot be read: {e}")))?;
    AccountRef::parse(&account)
}

/// The page in Kloudless's envelope, each event mapped to a Kloudless event object.
fn page_body(page: &ReadPage, account: AccountId) -> Result<Vec<u8>, ApiError> {
    let events: usize = page.events.iter().map(|e| e.json().len()).sum();
    let mut body = Vec::with_capacity(events + 160);
    body.extend_from_slice(b"{\"objects\":[");
    for (i, stored) in page.events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let view: EventView<'_> = serde_json::from_slice(stored.json()).map_err(|e| {
            tracing::error!(seq = %stored.seq, error = %e, "a log entry is not an event");
            ApiError::Internal
        })?;
        serde_json::to_writer(&mut body, &KloudlessEvent::new(&view, account)).map_err(|e| {
            tracing::error!(seq = %stored.seq, error = %e, "a Kloudless event did not serialize");
            ApiError::Internal
        })?;
    }
    // A cursor is URL-safe base64: nothing in it needs escaping.
    body.extend_from_slice(
        format!(
            "],\"cursor\":\"{}\",\"count\":{},\"remaining\":{},\"type\":\"object_list\",\"api\":\"events\"}}",
            page.cursor.encode(),
            page.events.len(),
            page.remaining
        )
        .as_bytes(),
    );
    Ok(body)
}

/// The fields of a stored event the mapping reads, borrowed from its JSON.
#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "type")]
    event_type: EventType,
    /// Already RFC 3339 with milliseconds and `Z`, as Kloudless writes times.
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow)]
    object: ObjectView<'a>,
    #[serde(borrow, default)]
    previous: Option<ObjectView<'a>>,
    #[serde(borrow, default)]
    actor: Option<ActorView<'a>>,
}

#[derive(Deserialize)]
struct ObjectView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    parent: Option<Cow<'a, str>>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(borrow, default)]
    modified: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ActorView<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// A Kloudless event object (see `docs/api.md` for the mapping from the unified event).
#[derive(Serialize, ToSchema)]
pub(crate) struct KloudlessEvent<'a> {
    id: &'a str,
    /// The account (source) the event belongs to.
    #[schema(value_type = u64, minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    account: AccountId,
    action: Action,
    #[serde(rename = "type")]
    event_type: EventType,
    /// When the change happened (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime)]
    modified: &'a str,
    /// The actor's id; `null` when unknown.
    #[schema(required = true)]
    user_id: Option<&'a str>,
    /// Always `null`: no provider reports it.
    #[schema(required = true, value_type = Option<String>)]
    ip: Option<&'static str>,
    metadata: Metadata<'a>,
    /// Only when the event has a previous state (move, rename, copy, sometimes restore).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    previous_metadata: Option<Metadata<'a>>,
}

/// Kloudless's older one-character action: `-` for a delete, `+` otherwise.
#[derive(Serialize, ToSchema)]
enum Action {
    #[serde(rename = "+")]
    Plus,
    #[serde(rename = "-")]
    Minus,
}

/// Kloudless file or folder metadata.
#[derive(Serialize, ToSchema)]
#[schema(as = KloudlessMetadata)]
struct Metadata<'a> {
    id: &'a str,
    name: &'a str,
    #[schema(required = true)]
    path: Option<&'a str>,
    #[serde(rename = "type")]
    kind: FileOrFolder,
    #[schema(required = true, minimum = 0)]
    size: Option<u64>,
    #[schema(required = true, format = DateTime)]
    modified: Option<&'a str>,
    #[schema(required = true)]
    parent: Option<Parent<'a>>,
    #[schema(value_type = u64, minimum = 1, maximum = 9_007_199_254_740_991_u64)]
    account: AccountId,
    api: StorageApi,
}

/// `folder` for folders, `file` for every other kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum FileOrFolder {
    File,
    Folder,
}

/// Always `storage`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StorageApi {
    Storage,
}

#[derive(Serialize, ToSchema)]
#[schema(as = KloudlessParent)]
struct Parent<'a> {
    id: &'a str,
}

impl<'a> KloudlessEvent<'a> {
    fn new(e: &'a EventView<'a>, account: AccountId) -> Self {
        Self {
            id: &e.id,
            account,
            action: match e.event_type {
                EventType::Delete => Action::Minus,
                _ => Action::Plus,
            },
            event_type: e.event_type,
            modified: &e.occurred_at,
            user_id: e.actor.as_ref().map(|a| &*a.id),
            ip: None,
            metadata: Metadata::new(&e.object, account),
            previous_metadata: e.previous.as_ref().map(|p| Metadata::new(p, account)),
        }
    }
}

impl<'a> Metadata<'a> {
    fn new(o: &'a ObjectView<'a>, account: AccountId) -> Self {
        Self {
            id: &o.id,
            name: &o.name,
            path: o.path.as_deref(),
            kind: if o.kind == "folder" {
                FileOrFolder::Folder
            } else {
                FileOrFolder::File
            },
            size: o.size,
            modified: o.modified.as_deref(),
            parent: o.parent.as_deref().map(|id| Parent { id }),
            account,
            api: StorageApi::Storage,
        }
    }
}
