//! The Jive-facing HTTP surface: `/api/version`, `/api/core/v3/contents[/{contentID}]`,
//! `/api/core/v3/deletedObjects/contents` and `/oauth2/token`.
//!
//! Every `/api/core/v3/` call goes through the same gate, in this order: credentials (401), app
//! throttling (503), injected delay, status and HTML-404 faults, the handler (mid-scan hooks run
//! first on `/contents`), then the malformed-JSON fault and the security prefix.

use super::community::ContentId;
use super::oauth::{AuthError, TokenRequest, describe};
use super::query::{ContentQuery, DeletedQuery, QueryError, envelope};
use super::simulator::{JiveSim, State};
use super::wire::{self, PREFIX};
use crate::oauth::GrantError;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// `jiveVersion` of `GET /api/version`.
pub const JIVE_VERSION: &str = "9.0.0.0 cloud (tributary-sim)";

pub(crate) fn routes() -> Router<JiveSim> {
    Router::new()
        .route("/api/version", get(version))
        .route("/api/core/v3/contents", get(contents))
        .route("/api/core/v3/contents/{content_id}", get(one_content))
        .route("/api/core/v3/deletedObjects/contents", get(deleted))
        .route("/oauth2/token", post(token))
}

/// A Jive error: `{"error": {"message", "status", "code"?}}`.
pub(crate) struct JiveError {
    status: StatusCode,
    message: String,
    code: Option<&'static str>,
}

impl JiveError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: None,
        }
    }

    fn body(&self) -> Value {
        let mut error = json!({"message": self.message, "status": self.status.as_u16()});
        if let (Some(code), Some(obj)) = (self.code, error.as_object_mut()) {
            obj.insert("code".to_owned(), json!(code));
        }
        json!({ "error": error })
    }
}

impl From<QueryError> for JiveError {
    fn from(e: QueryError) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// A JSON body, with the security prefix when `prefix` is on.
pub(crate) fn jive_json(status: StatusCode, prefix: bool, body: &str) -> Response {
    let text = if prefix {
        format!("{PREFIX}{body}")
    } else {
        body.to_owned()
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        text,
    )
        .into_response()
}

pub(crate) fn error_response(e: &JiveError, prefix: bool) -> Response {
    jive_json(e.status, prefix, &e.body().to_string())
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The base of absolute URLs for this request.
fn base(sim: &JiveSim, headers: &HeaderMap) -> String {
    sim.base_url().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    })
}

/// `GET /api/version`: no authentication.
async fn version(Shared(sim): Shared<JiveSim>) -> Response {
    let (prefix, revision) = {
        let s = sim.state();
        (s.prefix, s.core_revision)
    };
    let body = json!({
        "jiveVersion": JIVE_VERSION,
        "jiveCoreVersions": [{
            "version": 3,
            "revision": revision,
            "uri": "/api/core/v3",
            "documentation": "https://developers.jivesoftware.com/api/v3/cloud/rest",
        }],
    });
    jive_json(StatusCode::OK, prefix, &body.to_string())
}

async fn contents(Shared(sim): Shared<JiveSim>, headers: HeaderMap, params: Params) -> Response {
    let params = params.map(|Query(p)| p);
    let url = format!("{}/api/core/v3/contents", base(&sim, &headers));
    gate(&sim, &headers, move |state, base, now| {
        let params = params.map_err(|e| JiveError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let query = ContentQuery::parse(&params)?;
        state.contents_request(now);
        let ties = state.tie_seed();
        let community = &state.community;
        let (page, more) = query.run(community, ties);
        let list = page
            .into_iter()
            .map(|c| query.paging.fields.apply(wire::content(base, community, c)))
            .collect();
        Ok(envelope(&url, &params, &query.paging, list, more))
    })
    .await
}

async fn one_content(
    Shared(sim): Shared<JiveSim>,
    headers: HeaderMap,
    Path(content_id): Path<String>,
) -> Response {
    gate(&sim, &headers, move |state, base, _| {
        let missing = || {
            JiveError::new(
                StatusCode::NOT_FOUND,
                format!("Missing content ID {content_id}"),
            )
        };
        let id: ContentId = content_id.parse().map_err(|_| missing())?;
        match state.community.get(id) {
            Ok(c) if !c.deleted => Ok(wire::content(base, &state.community, c)),
            _ => Err(missing()),
        }
    })
    .await
}

async fn deleted(Shared(sim): Shared<JiveSim>, headers: HeaderMap, params: Params) -> Response {
    let params = params.map(|Query(p)| p);
    let url = format!(
        "{}/api/core/v3/deletedObjects/contents",
        base(&sim, &headers)
    );
    gate(&sim, &headers, move |state, base, _| {
        if state.core_revision < 12 {
            return Err(JiveError::new(
                StatusCode::NOT_FOUND,
                "No service found for /deletedObjects/contents (requires core v3 revision 12)",
            ));
        }
        let params = params.map_err(|e| JiveError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let query = DeletedQuery::parse(&params)?;
        let ties = state.marker_tie_seed();
        let (page, more) = query.run(&state.community.markers, ties);
        let list = page
            .into_iter()
            .map(|m| query.paging.fields.apply(wire::marker(base, m)))
            .collect();
        Ok(envelope(&url, &params, &query.paging, list, more))
    })
    .await
}

/// Credentials, throttling, faults, then `handle`, then body faults and the prefix.
async fn gate(
    sim: &JiveSim,
    headers: &HeaderMap,
    handle: impl FnOnce(&mut State, &str, DateTime<Utc>) -> Result<Value, JiveError>,
) -> Response {
    let base = base(sim, headers);
    let now = sim.now();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let (prefix, faults) = {
        let mut state = sim.state();
        let prefix = state.prefix;
        let caller = match state.auth.authenticate(authorization, now) {
            Ok(c) => c,
            Err(e) => return unauthorized(e, prefix),
        };
        if state.throttle.refuse(&caller.credential, now) {
            let e = JiveError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many requests from this application; try again later",
            );
            return error_response(&e, prefix);
        }
        (prefix, state.faults.on_call())
    };
    if faults.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.delay_ms)).await;
    }
    if let Some((status, retry_after)) = faults.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let message = status.canonical_reason().unwrap_or("Injected error");
        let mut response = error_response(&JiveError::new(status, message), prefix);
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return response;
    }
    if faults.html_404 {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
            "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
        )
            .into_response();
    }
    let result = {
        let mut state = sim.state();
        handle(&mut state, &base, sim.now())
    };
    match result {
        Ok(value) => {
            let mut body = value.to_string();
            if faults.malformed {
                let mut cut = body.len() / 2;
                while !body.is_char_boundary(cut) {
                    cut -= 1;
                }
                body.truncate(cut);
            }
            jive_json(StatusCode::OK, prefix, &body)
        }
        Err(e) => error_response(&e, prefix),
    }
}

fn unauthorized(e: AuthError, prefix: bool) -> Response {
    let mut response = error_response(
        &JiveError::new(StatusCode::UNAUTHORIZED, e.to_string()),
        prefix,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Jive\""),
    );
    response
}

/// `POST /oauth2/token`. Answers carry no security prefix.
async fn token(
    Shared(sim): Shared<JiveSim>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let Ok(Form(req)) = form else {
        return grant_error(GrantError::InvalidRequest(
            "expected an application/x-www-form-urlencoded body",
        ));
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let now = sim.now();
    let result = sim.state().auth.grant(basic, &req, now);
    match result {
        Ok(token) => jive_json(StatusCode::OK, false, &json!(token).to_string()),
        Err(e) => grant_error(e),
    }
}

fn grant_error(e: GrantError) -> Response {
    jive_json(e.status(), false, &e.body(&describe(e)).to_string())
}

/// Anything else: `404` with Jive's error envelope (and the prefix).
pub(crate) async fn not_found(Shared(sim): Shared<JiveSim>, uri: axum::http::Uri) -> Response {
    let prefix = sim.state().prefix;
    let e = JiveError::new(
        StatusCode::NOT_FOUND,
        format!("No resource found at {}", uri.path()),
    );
    error_response(&e, prefix)
}
