//! What can go wrong talking to Egnyte, told apart the way the scheduler must react to it.

use std::time::Duration;
use tributary_core::{CheckpointError, ObjectStateError, ProviderError};

/// Which throttle answered (notes §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// `403` + `X-Mashery-Error-Code: ERR_403_DEVELOPER_OVER_QPS`: calls per second.
    OverQps,
    /// `403` + `ERR_403_DEVELOPER_OVER_RATE`: the daily quota is spent.
    OverRate,
    /// `429` from the newer gateway.
    TooManyRequests,
    /// `503` with a `Retry-After`.
    Unavailable,
}

impl Throttle {
    pub fn as_str(self) -> &'static str {
        match self {
            Throttle::OverQps => "ERR_403_DEVELOPER_OVER_QPS",
            Throttle::OverRate => "ERR_403_DEVELOPER_OVER_RATE (daily quota exhausted)",
            Throttle::TooManyRequests => "429 Too Many Requests",
            Throttle::Unavailable => "503 Service Unavailable",
        }
    }
}

/// A failed Egnyte call. `endpoint` is the method and path (`GET /pubapi/v2/events`), never a
/// URL with credentials; bodies are cut to a few hundred characters.
#[derive(Debug, thiserror::Error)]
pub enum EgnyteError {
    #[error("{endpoint}: request failed: {message}")]
    Request { endpoint: String, message: String },
    /// The host is, or resolves only to, an address the outbound policy forbids: nothing sent.
    #[error("{endpoint}: {source}")]
    AddressNotAllowed {
        endpoint: String,
        source: tributary_http::AddressNotAllowed,
    },
    /// A `3xx`: redirects are not followed (they could lead anywhere).
    #[error(
        "{endpoint}: answered {status}, a redirect; redirects are not followed (check the base URL)"
    )]
    Redirect { endpoint: String, status: u16 },
    #[error("{endpoint}: no answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// `404` on the list endpoint: the event id we asked after is no longer retained.
    #[error("{endpoint}: event id {id} is no longer known upstream (404)")]
    CursorGone { endpoint: String, id: u64 },
    #[error("{endpoint}: credentials refused ({status}{}): {body}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Unauthorized {
        endpoint: String,
        status: u16,
        code: Option<String>,
        body: String,
    },
    #[error("{endpoint}: throttled by Egnyte ({}){}", kind.as_str(), retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    Throttled {
        endpoint: String,
        kind: Throttle,
        retry_after: Option<Duration>,
    },
    #[error("{endpoint}: permission denied (403 without a throttle code): {body}")]
    Forbidden { endpoint: String, body: String },
    #[error(
        "{endpoint}: Egnyte refused the request as malformed ({status}), a bug on our side: {body}"
    )]
    BadRequest {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint}: server error {status}: {body}")]
    Server {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("{endpoint}: unexpected answer: {detail}")]
    Malformed { endpoint: String, detail: String },
    /// The answer's body passed `max_response_bytes`; the rest was not read.
    #[error("{endpoint}: {source}, set by max_response_bytes; the rest was not read")]
    TooLarge {
        endpoint: String,
        source: tributary_http::BodyError,
    },
    /// A poll bound (`max_requests_per_poll`, `max_poll_time_ms`) was reached.
    #[error("{0}; the next poll starts again")]
    PollBound(#[from] tributary_http::PollBoundExceeded),
    #[error(transparent)]
    ObjectState(#[from] ObjectStateError),
    #[error("egnyte: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// No OAuth access token: the refresh failed, or its rotated refresh token could not be
    /// stored (see [`crate::auth`]). It says itself how the scheduler reacts.
    #[error(transparent)]
    Refresh(#[from] tributary_provider_kit::oauth::RefreshError),
}

impl EgnyteError {
    /// The `Retry-After` of a throttle (the token endpoint's included).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EgnyteError::Throttled { retry_after, .. } => *retry_after,
            EgnyteError::Refresh(e) => match e.failure() {
                tributary_provider_kit::failure::Failure::Throttled { retry_after } => retry_after,
                _ => None,
            },
            _ => None,
        }
    }
}

impl From<EgnyteError> for ProviderError {
    fn from(e: EgnyteError) -> Self {
        let message = e.to_string();
        match e {
            EgnyteError::Refresh(e) => e.failure().into_error(message),
            EgnyteError::Throttled { retry_after, .. } => ProviderError::RateLimited {
                retry_after,
                message,
            },
            EgnyteError::Unauthorized { .. } => ProviderError::Auth { message },
            EgnyteError::Forbidden { .. }
            | EgnyteError::BadRequest { .. }
            | EgnyteError::AddressNotAllowed { .. }
            | EgnyteError::Redirect { .. }
            | EgnyteError::Checkpoint(_) => ProviderError::Fatal { message },
            EgnyteError::Request { .. }
            | EgnyteError::Timeout { .. }
            | EgnyteError::CursorGone { .. }
            | EgnyteError::Server { .. }
            | EgnyteError::Malformed { .. }
            | EgnyteError::TooLarge { .. }
            | EgnyteError::PollBound(_)
            | EgnyteError::ObjectState(_) => ProviderError::Transient { message },
        }
    }
}
