//! What every simulator's control API (`/_sim/…`) shares: the error answer and the JSON body
//! that answers `400 invalid_body` when it is not the JSON expected.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use serde_json::json;

/// A control request's JSON body. A body that is not the JSON expected is answered
/// `400 invalid_body` before the handler runs.
pub(crate) struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(e) => Err(bad_json(&e)),
        }
    }
}

/// `{"error": {"code", "message"}}`: the control API's error answer (not the upstream's).
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `400 invalid_body` for a body that is not the JSON expected.
fn bad_json(e: &JsonRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_body", &e.body_text())
}

/// For `#[serde(deserialize_with = "…")]` on an `Option<Option<T>>` setting: tells a field given
/// as `null` (`Some(None)`) from an absent one (`None`, with `#[serde(default)]`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
