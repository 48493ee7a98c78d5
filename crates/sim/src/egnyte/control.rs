//! The control API under `/_sim/egnyte/` (no authentication): what tests and demos use to drive the
//! domain, inject faults and read the ground truth. Every endpoint is listed in the module docs of
//! [`egnyte`](super). Errors are `{"error": {"code", "message"}}`.

use super::domain::OpError;
use super::event::{ActionSource, ActorSpec};
use super::faults::Fault;
use super::limits::ThrottleMode;
use super::log::Gc;
use super::oauth::TokenMode;
use super::simulator::{EgnyteSim, Operation, SimError};
use crate::control::{Body, error, present};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<EgnyteSim> {
    Router::new()
        .route("/_sim/egnyte/state", get(state))
        .route("/_sim/egnyte/log", get(log))
        .route("/_sim/egnyte/actions", post(action))
        .route("/_sim/egnyte/generate", post(generate))
        .route(
            "/_sim/egnyte/faults",
            get(faults).post(inject).delete(clear_faults),
        )
        .route("/_sim/egnyte/gc", post(gc))
        .route("/_sim/egnyte/reset", post(reset))
        .route("/_sim/egnyte/settings", put(settings))
        .route("/_sim/egnyte/oauth/codes", post(mint_code))
        .route("/_sim/egnyte/tokens", post(add_token))
        .route("/_sim/egnyte/tokens/{token}", delete(revoke_token))
}

fn sim_error(e: &SimError) -> Response {
    let (status, code) = match e {
        SimError::Op(OpError::NotFound(_) | OpError::NotInTrash(_) | OpError::NoteNotFound(_)) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        SimError::Op(OpError::AlreadyExists(_)) => (StatusCode::CONFLICT, "already_exists"),
        SimError::Op(_) => (StatusCode::BAD_REQUEST, "invalid_operation"),
        SimError::UnknownClient(_) | SimError::UnknownUser(_) => {
            (StatusCode::BAD_REQUEST, "unknown_party")
        }
        SimError::Bind(_) | SimError::Io(_) | SimError::Tls(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    error(status, code, &e.to_string())
}

async fn state(State(sim): State<EgnyteSim>) -> Json<Value> {
    let cursor = sim.cursor();
    let s = sim.state();
    Json(json!({
        "cursor": cursor,
        "epoch": s.log.epoch(),
        "retained": s.log.retained_len(),
        "generated": s.log.all().len(),
        "throttle": s.limits.mode,
        "qps": s.limits.qps,
        "daily_quota": s.limits.daily_quota,
        "inactive_on_bad_token": s.inactive_on_bad_token,
        "token_mode": s.auth.mode,
        "rotate_refresh_tokens": s.auth.rotate_refresh,
        "emit_restore": s.emit_restore,
        "faults": s.faults.active(),
        "files": s.tree.files().len(),
        "folders": s.tree.folders().len(),
    }))
}

#[derive(Deserialize)]
struct LogParams {
    #[serde(default)]
    origin: bool,
}

/// `GET /_sim/egnyte/log[?origin=true]`: every event ever generated, as wire JSON. With
/// `origin=true` each event also carries `"_sim": {"client_id", "epoch"}`.
async fn log(
    State(sim): State<EgnyteSim>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Json<Value> {
    let origin = params.is_ok_and(|Query(p)| p.origin);
    let s = sim.state();
    let events: Vec<Value> = s
        .log
        .all()
        .iter()
        .map(|e| {
            let mut v = json!(e.wire);
            if origin && let Some(obj) = v.as_object_mut() {
                obj.insert(
                    "_sim".to_owned(),
                    json!({"client_id": e.client_id, "epoch": e.epoch}),
                );
            }
            v
        })
        .collect();
    Json(json!({"count": events.len(), "events": events}))
}

/// An operation and who performs it. `user` defaults to the first token's user; `source` to
/// `PublicAPI`; `client_id`, for `PublicAPI`, to the first token's client (other sources have none
/// unless given).
#[derive(Deserialize)]
struct ActionRequest {
    #[serde(flatten)]
    op: Operation,
    user: Option<i64>,
    source: Option<ActionSource>,
    client_id: Option<String>,
}

async fn action(State(sim): State<EgnyteSim>, Body(req): Body<ActionRequest>) -> Response {
    let default = sim.default_actor();
    let source = req.source.unwrap_or(ActionSource::PublicAPI);
    let client_id = match (req.client_id, source) {
        (Some(c), _) => Some(c),
        (None, ActionSource::PublicAPI) => default.client_id,
        (None, _) => None,
    };
    let by = ActorSpec {
        user: req.user.unwrap_or(default.user),
        source,
        client_id,
    };
    match sim.apply(req.op, &by) {
        Ok(outcome) => (StatusCode::CREATED, Json(outcome)).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize)]
struct GenerateRequest {
    count: usize,
}

async fn generate(State(sim): State<EgnyteSim>, Body(req): Body<GenerateRequest>) -> Response {
    let ids = sim.generate(req.count);
    Json(json!({"count": ids.len(), "first_id": ids.first(), "last_id": ids.last()}))
        .into_response()
}

async fn faults(State(sim): State<EgnyteSim>) -> Json<Value> {
    Json(json!({"faults": sim.faults()}))
}

async fn inject(State(sim): State<EgnyteSim>, Body(fault): Body<Fault>) -> Response {
    sim.inject(fault);
    (StatusCode::CREATED, Json(json!({"faults": sim.faults()}))).into_response()
}

async fn clear_faults(State(sim): State<EgnyteSim>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

async fn gc(State(sim): State<EgnyteSim>, Body(g): Body<Gc>) -> Response {
    Json(sim.gc(g)).into_response()
}

#[derive(Deserialize)]
struct ResetRequest {
    to: i64,
}

async fn reset(State(sim): State<EgnyteSim>, Body(r): Body<ResetRequest>) -> Response {
    Json(sim.reset_ids(r.to)).into_response()
}

/// Runtime knobs; each is optional. `daily_quota: null` disables the quota.
#[derive(Deserialize)]
struct Settings {
    throttle: Option<ThrottleMode>,
    qps: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    daily_quota: Option<Option<u32>>,
    inactive_on_bad_token: Option<bool>,
    token_mode: Option<TokenMode>,
    emit_restore: Option<bool>,
    rotate_refresh_tokens: Option<bool>,
}

async fn settings(State(sim): State<EgnyteSim>, Body(s): Body<Settings>) -> Response {
    if let Some(mode) = s.throttle {
        sim.set_throttle(mode);
    }
    if let Some(qps) = s.qps {
        sim.set_qps(qps);
    }
    if let Some(quota) = s.daily_quota {
        sim.set_daily_quota(quota);
    }
    if let Some(on) = s.inactive_on_bad_token {
        sim.set_inactive_on_bad_token(on);
    }
    if let Some(mode) = s.token_mode {
        sim.set_token_mode(mode);
    }
    if let Some(on) = s.emit_restore {
        sim.set_emit_restore(on);
    }
    if let Some(on) = s.rotate_refresh_tokens {
        sim.set_rotate_refresh_tokens(on);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct CodeRequest {
    client_id: String,
    redirect_uri: String,
    user: Option<i64>,
}

async fn mint_code(State(sim): State<EgnyteSim>, Body(req): Body<CodeRequest>) -> Response {
    let user = req.user.unwrap_or_else(|| sim.default_actor().user);
    match sim.mint_code(&req.client_id, &req.redirect_uri, user) {
        Ok(code) => (StatusCode::CREATED, Json(json!({"code": code}))).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
    user: i64,
    client_id: String,
    /// Seconds until the token expires; absent: never.
    expires_in: Option<u64>,
}

async fn add_token(State(sim): State<EgnyteSim>, Body(req): Body<TokenRequest>) -> Response {
    let lifetime = req.expires_in.map(std::time::Duration::from_secs);
    sim.add_token(&req.token, req.user, &req.client_id, lifetime);
    StatusCode::CREATED.into_response()
}

async fn revoke_token(State(sim): State<EgnyteSim>, Path(token): Path<String>) -> Response {
    if sim.revoke_token(&token) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "not_found", "no such token")
    }
}
