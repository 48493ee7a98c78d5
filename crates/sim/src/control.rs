//! What every simulator's control API (`/_sim/…`) shares: the error answer and the JSON body
//! that answers `400 invalid_body` when it is not the JSON expected.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
