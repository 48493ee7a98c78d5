//! What every simulator's control API (`/_sim/…`) and live server share: the error answer, the
//! JSON-body rejection, and the ticker that applies a workload at a steady rate.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// A control request's JSON body, or why it is not one.
pub(crate) type Body<T> = Result<Json<T>, JsonRejection>;

/// `{"error": {"code", "message"}}`: the control API's error answer (not the upstream's).
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `400 invalid_body` for a body that is not the JSON expected.
pub(crate) fn bad_json(e: &JsonRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_body", &e.body_text())
}

/// How often the live workload applies its share.
const RATE_TICK: Duration = Duration::from_millis(100);

/// Calls `generate(n)` so that `rate` operations per second are applied on average, in steps of
/// [`RATE_TICK`]; `None` (nothing spawned) for a rate of 0. Abort the task to stop it.
pub(crate) fn spawn_workload(
    rate: f64,
    generate: impl Fn(usize) + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    (rate > 0.0).then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RATE_TICK);
            let mut due = 0.0_f64;
            loop {
                tick.tick().await;
                due += rate * RATE_TICK.as_secs_f64();
                let n = due.floor();
                if n >= 1.0 {
                    due -= n;
                    // `n` is a small positive whole number here.
                    generate(n as usize);
                }
            }
        })
    })
}
