//! The control API under `/_sim/jive/` (no authentication): what tests and demos use to drive the
//! community, inject faults and read the ground truth. Every endpoint is listed in the module docs
//! of [`jive`](super). Errors are `{"error": {"code", "message"}}`.

use super::community::OpError;
use super::config::AppThrottle;
use super::faults::JiveFault;
use super::simulator::{JiveSim, Operation, SimError};
use crate::control::{Body, error, present};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<JiveSim> {
    Router::new()
        .route("/_sim/jive/state", get(state))
        .route("/_sim/jive/log", get(log))
        .route("/_sim/jive/actions", post(action))
        .route("/_sim/jive/generate", post(generate))
        .route(
            "/_sim/jive/faults",
            get(faults).post(inject).delete(clear_faults),
        )
        .route("/_sim/jive/mutate", post(mutate))
        .route("/_sim/jive/settings", put(settings))
        .route("/_sim/jive/tokens", post(add_token))
        .route("/_sim/jive/oauth/codes", post(mint_code))
}

fn sim_error(e: &SimError) -> Response {
    let (status, code) = match e {
        SimError::Op(OpError::NotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
        SimError::Op(OpError::Deleted(_) | OpError::NotDeleted(_)) => {
            (StatusCode::CONFLICT, "wrong_state")
        }
        SimError::Op(_) => (StatusCode::BAD_REQUEST, "invalid_operation"),
        SimError::UnknownUser(_) => (StatusCode::BAD_REQUEST, "unknown_user"),
        SimError::Bind(_) | SimError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, &e.to_string())
}

async fn state(State(sim): State<JiveSim>) -> Json<Value> {
    let places = sim.places();
    let s = sim.state();
    Json(json!({
        "contents": s.community.live_count(),
        "created": s.community.contents.len(),
        "deleted_markers": s.community.markers.len(),
        "changes": s.log.len(),
        "prefix": s.prefix,
        "core_revision": s.core_revision,
        "throttle": s.throttle.mode,
        "token_lifetime_secs": s.auth.lifetime.as_secs(),
        "rotate_refresh_tokens": s.auth.rotate_refresh,
        "faults": s.faults.active(),
        "pending_mutations": s.hooks.len(),
        "places": places,
    }))
}

/// `GET /_sim/jive/log`: every change ever made, in order.
async fn log(State(sim): State<JiveSim>) -> Json<Value> {
    let changes = sim.changes();
    Json(json!({"count": changes.len(), "changes": changes}))
}

/// An operation, and optionally who makes it (default `alice`).
#[derive(Deserialize)]
struct ActionRequest {
    #[serde(flatten)]
    op: Operation,
    user: Option<String>,
}

async fn action(State(sim): State<JiveSim>, Body(req): Body<ActionRequest>) -> Response {
    let result = match req.user {
        Some(user) => sim.apply_as(req.op, &user),
        None => sim.apply(req.op),
    };
    match result {
        Ok(outcome) => (StatusCode::CREATED, Json(outcome)).into_response(),
        Err(e) => sim_error(&e),
    }
}

#[derive(Deserialize)]
struct GenerateRequest {
    count: usize,
}

async fn generate(State(sim): State<JiveSim>, Body(req): Body<GenerateRequest>) -> Response {
    Json(json!({"count": sim.generate(req.count)})).into_response()
}

async fn faults(State(sim): State<JiveSim>) -> Json<Value> {
    Json(json!({"faults": sim.faults()}))
}

async fn inject(State(sim): State<JiveSim>, Body(fault): Body<JiveFault>) -> Response {
    sim.inject(fault);
    (StatusCode::CREATED, Json(json!({"faults": sim.faults()}))).into_response()
}

async fn clear_faults(State(sim): State<JiveSim>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct MutateRequest {
    on_request: u32,
    ops: Vec<Operation>,
}

async fn mutate(State(sim): State<JiveSim>, Body(req): Body<MutateRequest>) -> Response {
    sim.on_contents_request(req.on_request, req.ops);
    StatusCode::CREATED.into_response()
}

/// Runtime knobs; each is optional. `throttle: null` turns app throttling off.
#[derive(Deserialize)]
struct Settings {
    prefix: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    throttle: Option<Option<AppThrottle>>,
    token_lifetime_secs: Option<u64>,
    core_revision: Option<u32>,
    rotate_refresh_tokens: Option<bool>,
}

async fn settings(State(sim): State<JiveSim>, Body(s): Body<Settings>) -> Response {
    if let Some(on) = s.prefix {
        sim.set_prefix(on);
    }
    if let Some(throttle) = s.throttle {
        sim.set_throttle(throttle);
    }
    if let Some(secs) = s.token_lifetime_secs {
        sim.set_token_lifetime(std::time::Duration::from_secs(secs));
    }
    if let Some(revision) = s.core_revision {
        sim.set_core_revision(revision);
    }
    if let Some(on) = s.rotate_refresh_tokens {
        sim.set_rotate_refresh_tokens(on);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
    /// Default: the configured user.
    user: Option<String>,
    /// Seconds until the token expires; absent: never.
    expires_in: Option<u64>,
}

async fn add_token(State(sim): State<JiveSim>, Body(req): Body<TokenRequest>) -> Response {
    let user = req.user.unwrap_or_else(|| sim.config().user.clone());
    let lifetime = req.expires_in.map(std::time::Duration::from_secs);
    sim.add_token(&req.token, &user, lifetime);
    StatusCode::CREATED.into_response()
}

#[derive(Deserialize)]
struct CodeRequest {
    user: Option<String>,
}

async fn mint_code(State(sim): State<JiveSim>, Body(req): Body<CodeRequest>) -> Response {
    let user = req.user.unwrap_or_else(|| sim.config().user.clone());
    match sim.mint_code(&user) {
        Ok(code) => (StatusCode::CREATED, Json(json!({"code": code}))).into_response(),
        Err(e) => sim_error(&e),
    }
}
