//! What can go wrong in a REST poll, and what the scheduler should do about each.

use std::time::Duration;
use tributary_core::{CheckpointError, CredentialWriteError, ObjectStateError, ProviderError};

/// A failed request or poll. `endpoint` is `GET /path` (never the query: it may hold a key).
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{endpoint}: {message}")]
    Request { endpoint: String, message: String },
    #[error("{endpoint}: no answer within {} ms", timeout.as_millis())]
    Timeout { endpoint: String, timeout: Duration },
    /// The upstream answered with a status that is not a success.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Status {
        endpoint: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The answer is not what the configuration says it is (not JSON, no list at the pointer).
    #[error("{endpoint}: {detail}")]
    Malformed { endpoint: String, detail: String },
    #[error("{endpoint}: {source}, set by max_response_bytes; the rest was not read")]
    TooLarge {
        endpoint: String,
        source: tributary_http::BodyError,
    },
    #[error("{0}; the next poll starts again")]
    PollBound(#[from] tributary_http::PollBoundExceeded),
    /// A next-page URL on another origin than the base URL: never fetched (the credentials go
    /// only to the configured host).
    #[error(
        "{endpoint}: the next page is on {origin}, not on the base URL's origin {base}; not followed"
    )]
    ForeignLink {
        endpoint: String,
        origin: String,
        base: String,
    },
    #[error("{endpoint}: {source}")]
    AddressNotAllowed {
        endpoint: String,
        source: tributary_http::AddressNotAllowed,
    },
    /// One pass over a list went past `max_pages`.
    #[error(
        "resource {resource}: more than {limit} pages in one window (max_pages); the next poll retries"
    )]
    TooManyPages { resource: String, limit: u32 },
    /// The token endpoint refused the refresh token.
    #[error("{endpoint}: the OAuth token refresh was refused: {message}")]
    Token { endpoint: String, message: String },
    #[error(transparent)]
    ObjectState(#[from] ObjectStateError),
    #[error("rest: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("rest: {0}; the next poll refreshes again")]
    CredentialWrite(#[from] CredentialWriteError),
}

impl RestError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RestError::Status { status: 401, .. })
    }
}

impl From<RestError> for ProviderError {
    fn from(e: RestError) -> Self {
        let message = e.to_string();
        match e {
            RestError::Status {
                status: 429 | 503,
                retry_after,
                ..
            } => ProviderError::RateLimited {
                retry_after,
                message,
            },
            RestError::Status {
                status: 401 | 403, ..
            }
            | RestError::Token { .. } => ProviderError::Auth { message },
            RestError::Status { status, .. } if status >= 500 => {
                ProviderError::Transient { message }
            }
            RestError::Status { .. }
            | RestError::AddressNotAllowed { .. }
            | RestError::Checkpoint(_) => ProviderError::Fatal { message },
            RestError::Request { .. }
            | RestError::Timeout { .. }
            | RestError::Malformed { .. }
            | RestError::TooLarge { .. }
            | RestError::PollBound(_)
            | RestError::ForeignLink { .. }
            | RestError::TooManyPages { .. }
            | RestError::ObjectState(_)
            | RestError::CredentialWrite(_) => ProviderError::Transient { message },
        }
    }
}
