//! A small JSON API the tests serve themselves (axum on 127.0.0.1:0): a list of items with
//! `updated_at` / `created_at`, filtered by `since` / `until` (`(since, until]`), sorted by
//! `updated_at`, paged by `page` / `per_page`; a list of deleted items filtered the same way; a
//! list whose next page is on another origin; an optional bearer token; and a one-shot `429`
//! with `Retry-After`.
//!
//! Shared by `api.rs` and `conformance.rs`.
#![allow(clippy::unwrap_used)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Item {
    pub id: u64,
    pub name: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

#[derive(Default)]
pub struct Api {
    pub items: Vec<Item>,
    pub deleted: Vec<(u64, DateTime<Utc>)>,
    /// Ties on `updated_at` come back in a new random order on every request.
    pub shuffle_ties: bool,
    /// The next request to a list is answered `429` with this `Retry-After` (seconds), once.
    pub throttle: Option<u64>,
    /// When set, a list answers `401` to a request without `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub requests: u32,
}

pub type Shared = Arc<Mutex<Api>>;

pub fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn write(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `(since, until]` from the query, both optional.
fn window(q: &HashMap<String, String>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (
        q.get("since").map(|s| time(s)),
        q.get("until").map(|s| time(s)),
    )
}

fn inside(t: DateTime<Utc>, w: (Option<DateTime<Utc>>, Option<DateTime<Utc>>)) -> bool {
    w.0.is_none_or(|s| t > s) && w.1.is_none_or(|u| t <= u)
}

/// Counts the request; a `401` without the token, the throttle's `429` when one is pending.
fn arrive(api: &mut Api, headers: &HeaderMap) -> Option<Response> {
    api.requests += 1;
    if let Some(token) = &api.token {
        let bearer = format!("Bearer {token}");
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(&bearer)
        {
            return Some(StatusCode::UNAUTHORIZED.into_response());
        }
    }
    let seconds = api.throttle.take()?;
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            Json(json!({"error": {"code": "rate_limited", "message": "slow down"}})),
        )
            .into_response(),
    )
}

async fn items(
    State(api): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut api = api.lock().unwrap();
    if let Some(throttled) = arrive(&mut api, &headers) {
        return throttled;
    }
    let w = window(&q);
    let mut list: Vec<Item> = api
        .items
        .iter()
        .filter(|i| inside(i.updated, w))
        .cloned()
        .collect();
    if api.shuffle_ties {
        fastrand::shuffle(&mut list);
        list.sort_by_key(|i| i.updated); // stable: ties keep the shuffled order
    } else {
        list.sort_by_key(|i| (i.updated, i.id));
    }
    let page: usize = q.get("page").map_or(1, |p| p.parse().unwrap());
    let per_page: usize = q
        .get("per_page")
        .map_or(25, |p| p.parse().unwrap())
        .min(500);
    let data: Vec<Value> = list
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| {
            json!({"id": i.id, "name": i.name, "created_at": write(i.created),
                "updated_at": write(i.updated)})
        })
        .collect();
    Json(json!({"data": data, "page": page})).into_response()
}

async fn deleted(
    State(api): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut api = api.lock().unwrap();
    if let Some(throttled) = arrive(&mut api, &headers) {
        return throttled;
    }
    let w = window(&q);
    let data: Vec<Value> = api
        .deleted
        .iter()
        .filter(|(_, at)| inside(*at, w))
        .map(|(id, at)| json!({"id": id, "deleted_at": write(*at)}))
        .collect();
    Json(json!({"data": data})).into_response()
}

async fn foreign() -> Json<Value> {
    Json(
        json!({"data": [{"id": 1, "updated_at": "2026-03-02T10:00:01.000Z"}],
        "next": "http://elsewhere.example.com/items?page=2"}),
    )
}

/// The API on 127.0.0.1:0; it stops when this is dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>/v1`.
    pub base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn serve(api: Shared) -> Served {
    let app = Router::new()
        .route("/v1/items", get(items))
        .route("/v1/deleted", get(deleted))
        .route("/v1/foreign", get(foreign))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Served { base, _stop: stop }
}

/// The items resource over this API, paged by `page` / `per_page` (`size` a page), with its
/// deleted list; `kind` `record`, named by `name`.
pub fn items_resource(size: u32) -> Value {
    json!({
        "url": "/items?since=${after:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}&until=${before:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}",
        "list": "/data",
        "id_field": "id",
        "dates": {"updated_field": "updated_at", "created_field": "created_at"},
        "name_field": "name",
        "kind": "record",
        "paging": {"mode": "page", "param": "page", "size_param": "per_page", "size": size},
        "deleted": {
            "url": "/deleted?since=${after:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}&until=${before:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}",
            "list": "/data",
            "date_field": "deleted_at"
        }
    })
}
