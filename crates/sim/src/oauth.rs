//! What both simulated token endpoints share: the RFC 6749 §5.2 error vocabulary and its answer
//! (`401` for `invalid_client`, else `400`, with `{"error", "error_description"}`). How each
//! service words the description stays with its simulator.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// A refused grant. The `&'static str` is what went wrong, for the description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantError {
    InvalidRequest(&'static str),
    InvalidClient,
    InvalidGrant(&'static str),
    UnsupportedGrantType,
}

impl GrantError {
    /// The `error` code.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    pub fn status(self) -> StatusCode {
        if self == Self::InvalidClient {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    /// `{"error": code, "error_description": description}`.
    pub fn body(self, description: &str) -> Value {
        json!({"error": self.code(), "error_description": description})
    }
}

/// A form field a grant needs, or `invalid_request` saying `missing`.
pub(crate) fn required<'a>(
    field: &'a Option<String>,
    missing: &'static str,
) -> Result<&'a str, GrantError> {
    field.as_deref().ok_or(GrantError::InvalidRequest(missing))
}
