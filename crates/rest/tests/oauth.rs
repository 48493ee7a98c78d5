//! OAuth credentials: the access token is refreshed at `oauth.token_url` when there is none and
//! after a `401`, and a rotated refresh token is stored through the `CredentialWriter` before
//! it is used. Also cursor and `Link` paging against the same server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tributary_core::{
    CredentialWriteError, CredentialWriter, ManualClock, MemoryObjectState, RotatedRefreshToken,
    SourceId,
};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::{BuildContext, ProviderFactory, SourceSpec};
use tributary_rest::RestFactory;

#[derive(Default)]
struct Server {
    access: String,
    refresh: String,
    refreshes: u32,
}
type Shared = Arc<Mutex<Server>>;

async fn token(State(s): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = s.lock().unwrap();
    if f.get("grant_type").map(String::as_str) != Some("refresh_token")
        || f.get("client_id").map(String::as_str) != Some("cid")
        || f.get("client_secret").map(String::as_str) != Some("csecret")
        || f.get("refresh_token") != Some(&s.refresh)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    s.refreshes += 1;
    s.access = format!("access-{}", s.refreshes);
    s.refresh = format!("refresh-{}", s.refreshes);
    Json(json!({"access_token": s.access, "refresh_token": s.refresh, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

const ITEMS: [(&str, &str); 5] = [
    ("a", "2026-03-02T10:00:01.000Z"),
    ("b", "2026-03-02T10:00:02.000Z"),
    ("c", "2026-03-02T10:00:03.000Z"),
    ("d", "2026-03-02T10:00:04.000Z"),
    ("e", "2026-03-02T10:00:05.000Z"),
];

fn authorized(s: &Shared, headers: &HeaderMap) -> bool {
    let want = format!("Bearer {}", s.lock().unwrap().access);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(want.as_str())
}

/// Two items per page; the cursor is the index of the next one.
async fn by_cursor(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let from: usize = q.get("cursor").map_or(0, |c| c.parse().unwrap());
    let data: Vec<Value> = ITEMS
        .iter()
        .skip(from)
        .take(2)
        .map(|(id, u)| json!({"id": id, "updated": u}))
        .collect();
    let next = (from + 2 < ITEMS.len()).then(|| (from + 2).to_string());
    Json(json!({"items": data, "meta": {"next": next}})).into_response()
}

/// Two items per page; `Link: <…?p=N>; rel="next"`, relative.
async fn by_link(
    State(s): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&s, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let p: usize = q.get("p").map_or(0, |c| c.parse().unwrap());
    let data: Vec<Value> = ITEMS
        .iter()
        .skip(p * 2)
        .take(2)
        .map(|(id, u)| json!({"id": id, "updated": u}))
        .collect();
    let mut resp = Json(Value::Array(data)).into_response();
    if (p + 1) * 2 < ITEMS.len() {
        let link = format!("</api/linked?p={}>; rel=\"next\"", p + 1);
        resp.headers_mut()
            .insert(header::LINK, link.parse().unwrap());
    }
    resp
}

#[derive(Default)]
struct Recorder(Mutex<Vec<RotatedRefreshToken>>);

#[async_trait::async_trait]
impl CredentialWriter for Recorder {
    async fn save_rotated(
        &self,
        rotated: &RotatedRefreshToken,
    ) -> Result<(), CredentialWriteError> {
        self.0.lock().unwrap().push(rotated.clone());
        Ok(())
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn oauth_refreshes_store_rotated_tokens_and_cursor_and_link_paging_read_every_page() {
    let server: Shared = Arc::new(Mutex::new(Server {
        access: "stale".into(),
        refresh: "refresh-0".into(),
        refreshes: 0,
    }));
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/cursor", get(by_cursor))
        .route("/api/linked", get(by_link))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = json!({
        "base_url": format!("{base}/api"),
        "credentials": {"kind": "oauth", "client_id": "cid", "client_secret": "csecret",
            "refresh_token": "refresh-0", "access_token": "expired-elsewhere"},
        "oauth": {"token_url": format!("{base}/oauth/token")},
        "start": "2026-03-02T10:00:00Z",
        "resources": {
            "cursor": {"url": "/cursor", "list": "/items", "id_field": "id",
                "dates": {"updated_field": "updated"},
                "paging": {"mode": "cursor", "param": "cursor", "field": "/meta/next"}},
            "linked": {"url": "/linked", "id_field": "id",
                "dates": {"updated_field": "updated"}, "paging": {"mode": "link"}}
        }
    });
    let clock = Arc::new(ManualClock::new(t("2026-03-02T10:01:00Z")));
    let writer = Arc::new(Recorder::default());
    let id = SourceId::new("oauth").unwrap();
    let built = RestFactory
        .build(
            SourceSpec { id: &id, config },
            BuildContext {
                outbound: Outbound::new(AddressPolicy::loopback()).unwrap(),
                clock,
                objects: Arc::new(MemoryObjectState::new()),
                credentials: writer.clone(),
            },
        )
        .unwrap();
    let page = built.provider.poll(None).await.unwrap();
    // Each item of each resource once, in time order (then id, then resource).
    let got: Vec<_> = page
        .events
        .iter()
        .map(|e| e.id.as_str().to_owned())
        .collect();
    let mut want = Vec::new();
    for (item, updated) in ITEMS {
        let ms = t(updated).timestamp_millis();
        want.push(format!("cursor:{item}@{ms}"));
        want.push(format!("linked:{item}@{ms}"));
    }
    want.sort_by_key(|w| {
        (
            w.split('@').nth(1).unwrap().to_owned(),
            w.split(':').nth(1).unwrap().to_owned(),
        )
    });
    assert_eq!(got, want);
    // The configured access token was refused once, then refreshed; the rotated refresh token
    // was stored before the new access token was used.
    assert_eq!(server.lock().unwrap().refreshes, 1);
    let saved = writer.0.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].provider, "rest");
    assert_eq!(saved[0].previous.expose(), "refresh-0");
    assert_eq!(saved[0].current.expose(), "refresh-1");
    // The refused request, the refresh, then two agreeing passes of three pages per resource
    // (a window of several pages is read until two passes agree).
    assert_eq!(built.provider.upstream_calls(), Some(1 + 1 + 2 * 3 + 2 * 3));
}
