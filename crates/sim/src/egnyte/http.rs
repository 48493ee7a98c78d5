//! The Egnyte-facing HTTP surface: `/pubapi/v{1,2}/events[/cursor]` and `/puboauth/token`.
//!
//! Every `/pubapi/` call goes through the same gate, in this order: bearer token (401, or 403 +
//! `ERR_403_DEVELOPER_INACTIVE`), rate limits (403 Mashery or 429 Apigee), injected delay and
//! server errors, the handler, then body faults (malformed JSON, `text/plain`).

use super::event::{EventKind, WireEvent, encode_path};
use super::faults::BodyFaults;
use super::limits::{ThrottleMode, Usage, Verdict};
use super::log::{ApiVersion, EventQuery, Suppress};
use super::oauth::{Caller, TokenRequest, describe};
use super::simulator::{EgnyteSim, State};
use crate::oauth::GrantError;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Serialize;
use serde_json::{Value, json};

/// Default `count` of `/events` when the parameter is absent.
pub const DEFAULT_COUNT: usize = 50;
/// Largest accepted `count`.
pub const MAX_COUNT: usize = 100;

/// The Egnyte routes (the control API is added by [`EgnyteSim::router`]).
pub(crate) fn routes() -> Router<EgnyteSim> {
    Router::new()
        .route("/pubapi/v1/events/cursor", get(cursor_v1))
        .route("/pubapi/v2/events/cursor", get(cursor_v2))
        .route("/pubapi/v1/events", get(events_v1))
        .route("/pubapi/v2/events", get(events_v2))
        .route("/puboauth/token", get(authorize).post(token))
}

/// What a handler produced, before headers and body faults.
enum Reply {
    /// A serialized JSON body.
    Json(String),
    NoContent,
    Error(StatusCode, String),
}

impl Reply {
    fn json(value: &impl Serialize) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Self::Json(body),
            Err(e) => Self::Error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// The list envelope; `latest_id` / `oldest_id` are the ids of the page's last / first event.
#[derive(Serialize)]
struct Page<'a> {
    count: usize,
    latest_id: Option<i64>,
    oldest_id: Option<i64>,
    events: Vec<&'a WireEvent>,
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

async fn cursor_v1(Shared(sim): Shared<EgnyteSim>, headers: HeaderMap) -> Response {
    gate(&sim, &headers, |state, _, now| {
        state.log.apply_retention(now);
        Reply::json(&state.log.cursor())
    })
    .await
}

async fn cursor_v2(sim: Shared<EgnyteSim>, headers: HeaderMap) -> Response {
    cursor_v1(sim, headers).await
}

async fn events_v1(Shared(sim): Shared<EgnyteSim>, headers: HeaderMap, params: Params) -> Response {
    events(&sim, &headers, params, ApiVersion::V1).await
}

async fn events_v2(Shared(sim): Shared<EgnyteSim>, headers: HeaderMap, params: Params) -> Response {
    events(&sim, &headers, params, ApiVersion::V2).await
}

async fn events(
    sim: &EgnyteSim,
    headers: &HeaderMap,
    params: Params,
    version: ApiVersion,
) -> Response {
    let params = params.map(|Query(p)| p).map_err(|e| e.body_text());
    gate(sim, headers, |state, caller, now| {
        let params = match params {
            Ok(p) => p,
            Err(e) => return Reply::Error(StatusCode::BAD_REQUEST, e),
        };
        let query = match parse_query(&params, caller, version) {
            Ok(q) => q,
            Err(e) => return Reply::Error(StatusCode::BAD_REQUEST, e),
        };
        state.log.apply_retention(now);
        match state.log.read(&query) {
            Err(gone) => Reply::Error(StatusCode::NOT_FOUND, gone.to_string()),
            Ok(events) if events.is_empty() => Reply::NoContent,
            Ok(events) => {
                let page = Page {
                    count: events.len(),
                    latest_id: events.last().map(|e| e.id()),
                    oldest_id: events.first().map(|e| e.id()),
                    events: events.iter().map(|e| &e.wire).collect(),
                };
                Reply::json(&page)
            }
        }
    })
    .await
}

/// Validates the list parameters. Unknown parameters (`reverse` among them) are ignored.
fn parse_query(
    params: &[(String, String)],
    caller: &Caller,
    version: ApiVersion,
) -> Result<EventQuery, String> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let after = match get("id") {
        None | Some("") => return Err("Parameter 'id' is required".to_owned()),
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| format!("Parameter 'id' must be an integer, got {v:?}"))?,
    };
    let count = match get("count") {
        None | Some("") => DEFAULT_COUNT,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "Parameter 'count' must be an integer from 1 to {MAX_COUNT}, got {v:?}"
                ));
            }
        },
    };
    let folder = match get("folder") {
        None | Some("") => None,
        Some(f) if f.starts_with('/') => Some(if f == "/" {
            f.to_owned()
        } else {
            f.trim_end_matches('/').to_owned()
        }),
        Some(f) => {
            return Err(format!(
                "Parameter 'folder' must be an absolute path, got {f:?}"
            ));
        }
    };
    let types = match get("type") {
        None | Some("") => None,
        Some(v) => Some(
            v.split('|')
                .map(|t| {
                    EventKind::parse(t.trim())
                        .ok_or_else(|| format!("Unknown event type {t:?} in 'type'"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let suppress = match get("suppress") {
        None | Some("" | "none") => Suppress::None,
        Some("app") => Suppress::App,
        Some("user") => Suppress::User,
        Some(v) => {
            return Err(format!(
                "Parameter 'suppress' must be app, user or none, got {v:?}"
            ));
        }
    };
    Ok(EventQuery {
        after,
        count,
        folder,
        types,
        suppress,
        caller_client: caller.client_id.clone(),
        caller_user: caller.user,
        version,
    })
}

/// Authentication, limits, faults, then `handle`, then headers and body faults.
async fn gate(
    sim: &EgnyteSim,
    headers: &HeaderMap,
    handle: impl FnOnce(&mut State, &Caller, chrono::DateTime<chrono::Utc>) -> Reply,
) -> Response {
    let now = sim.now();
    let (caller, usage, call_faults) = {
        let mut state = sim.state();
        let caller = bearer(headers).and_then(|t| state.auth.caller(t, now));
        let Some(caller) = caller else {
            return unauthorized(state.inactive_on_bad_token);
        };
        let usage = match state.limits.check(&caller.token, now) {
            Verdict::Allowed(usage) => usage,
            Verdict::OverQps { retry_after, usage } => {
                return throttled(state.limits.mode, false, retry_after, usage);
            }
            Verdict::OverRate { retry_after, usage } => {
                return throttled(state.limits.mode, true, retry_after, usage);
            }
        };
        (caller, usage, state.faults.on_call())
    };
    if call_faults.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(call_faults.delay_ms)).await;
    }
    if let Some(status) = call_faults.server_error {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let body = format!("<h1>{status}</h1>");
        return with_usage(
            (
                status,
                [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
                body,
            )
                .into_response(),
            usage,
        );
    }
    let (reply, body_faults) = {
        let mut state = sim.state();
        let reply = handle(&mut state, &caller, sim.now());
        let faults = if matches!(reply, Reply::Json(_)) {
            state.faults.on_json_body()
        } else {
            BodyFaults::default()
        };
        (reply, faults)
    };
    let response = match reply {
        Reply::Json(body) => json_body(StatusCode::OK, body, body_faults),
        Reply::NoContent => StatusCode::NO_CONTENT.into_response(),
        Reply::Error(status, message) => error_response(status, &message),
    };
    with_usage(response, usage)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(inactive: bool) -> Response {
    if inactive {
        let headers = [
            (header::CONTENT_TYPE, "text/html;charset=UTF-8"),
            (MASHERY_ERROR_CODE, "ERR_403_DEVELOPER_INACTIVE"),
        ];
        return (
            StatusCode::FORBIDDEN,
            headers,
            "<h1>Developer Inactive</h1>",
        )
            .into_response();
    }
    let mut response = error_response(StatusCode::UNAUTHORIZED, "Invalid or missing access token");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"egnyte\""),
    );
    response
}

const MASHERY_ERROR_CODE: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-mashery-error-code");

fn throttled(mode: ThrottleMode, daily: bool, retry_after: u64, usage: Usage) -> Response {
    let mut response = match (mode, daily) {
        (ThrottleMode::Http429, false) => json_fault(
            "Spike arrest violation. Allowed rate : MessageRate{capacity=2, period=Seconds}",
            "policies.ratelimit.SpikeArrestViolation",
        ),
        (ThrottleMode::Http429, true) => json_fault(
            "Rate limit quota violation. Quota limit exceeded. Identifier : _default",
            "policies.ratelimit.QuotaViolation",
        ),
        (_, daily) => {
            let (code, body) = if daily {
                (
                    "ERR_403_DEVELOPER_OVER_RATE",
                    "<h1>Developer Over Rate</h1>",
                )
            } else {
                ("ERR_403_DEVELOPER_OVER_QPS", "<h1>Developer Over Qps</h1>")
            };
            let headers = [
                (header::CONTENT_TYPE, "text/html;charset=UTF-8"),
                (MASHERY_ERROR_CODE, code),
            ];
            (StatusCode::FORBIDDEN, headers, body).into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    with_usage(response, usage)
}

fn json_fault(faultstring: &str, errorcode: &str) -> Response {
    let body = json!({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}});
    json_response(StatusCode::TOO_MANY_REQUESTS, &body, BodyFaults::default())
}

fn with_usage(mut response: Response, usage: Usage) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        "x-accesstoken-qps-allotted",
        HeaderValue::from(usage.qps_allotted),
    );
    headers.insert(
        "x-accesstoken-qps-current",
        HeaderValue::from(usage.qps_current),
    );
    if let Some(allotted) = usage.quota_allotted {
        headers.insert("x-accesstoken-quota-allotted", HeaderValue::from(allotted));
        headers.insert(
            "x-accesstoken-quota-current",
            HeaderValue::from(usage.quota_current),
        );
    }
    response
}

fn json_response(status: StatusCode, value: &Value, faults: BodyFaults) -> Response {
    json_body(status, value.to_string(), faults)
}

fn json_body(status: StatusCode, mut body: String, faults: BodyFaults) -> Response {
    if faults.malformed {
        let mut cut = body.len() / 2;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
    }
    let content_type = if faults.text_plain {
        "text/plain;charset=UTF-8"
    } else {
        "application/json;charset=UTF-8"
    };
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Egnyte-side errors: `{"errorMessage": "..."}`.
fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"errorMessage": message}),
        BodyFaults::default(),
    )
}

/// `POST /puboauth/token`: the password, authorization-code and refresh-token grants.
async fn token(
    Shared(sim): Shared<EgnyteSim>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let Ok(Form(req)) = form else {
        return grant_error(GrantError::InvalidRequest(
            "expected an application/x-www-form-urlencoded body",
        ));
    };
    let now = sim.now();
    let mut state = sim.state();
    if let Some(client_id) = req.client_id.as_deref()
        && let Err(retry_after) = state.limits.check_token_endpoint(client_id, now)
    {
        let mut response = error_response(StatusCode::CONFLICT, "Too many token requests");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return response;
    }
    match state.auth.grant(&req, now) {
        Ok(token) => json_response(StatusCode::OK, &json!(token), BodyFaults::default()),
        Err(e) => grant_error(e),
    }
}

fn grant_error(e: GrantError) -> Response {
    json_response(e.status(), &e.body(&describe(e)), BodyFaults::default())
}

/// `GET /puboauth/token?client_id&redirect_uri&response_type=code|token[&state][&username]`: the
/// browser step, consented at once as `username` (default: the first configured token's user);
/// answers `302` to `redirect_uri` with `?code=…` or `#access_token=…`.
async fn authorize(Shared(sim): Shared<EgnyteSim>, params: Params) -> Response {
    let Ok(Query(params)) = params else {
        return error_response(StatusCode::BAD_REQUEST, "Malformed query string");
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(client_id), Some(redirect_uri), Some(response_type)) =
        (get("client_id"), get("redirect_uri"), get("response_type"))
    else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "client_id, redirect_uri and response_type are required",
        );
    };
    let user = match get("username") {
        Some(name) => sim
            .config()
            .users
            .iter()
            .find(|u| u.username == name)
            .map(|u| u.id),
        None => Some(sim.default_actor().user),
    };
    let Some(user) = user else {
        return error_response(StatusCode::BAD_REQUEST, "Unknown username");
    };
    let state_suffix = get("state")
        .map(|s| format!("&state={}", encode_component(s)))
        .unwrap_or_default();
    let location = match response_type {
        "code" => match sim.mint_code(client_id, redirect_uri, user) {
            Ok(code) => {
                let sep = if redirect_uri.contains('?') { '&' } else { '?' };
                format!("{redirect_uri}{sep}code={code}{state_suffix}")
            }
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        "token" => {
            if !sim.state().auth.client_exists(client_id) {
                return error_response(StatusCode::BAD_REQUEST, "Unknown client_id");
            }
            let token = sim.issue_implicit(user, client_id);
            format!(
                "{redirect_uri}#access_token={token}&token_type=bearer&expires_in=-1{state_suffix}"
            )
        }
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "response_type must be code or token",
            );
        }
    };
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => error_response(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not a valid header value",
        ),
    }
}

fn encode_component(s: &str) -> String {
    encode_path(s).replace('/', "%2F")
}
