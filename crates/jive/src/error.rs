//! What can go wrong talking to Jive, told apart the way the scheduler must react to it.

use std::time::Duration;
use tributary_core::{CheckpointError, ObjectStateError, ProviderError};

/// A failed Jive call. `endpoint` is the method and path (`GET /api/core/v3/contents`), never a
/// URL with credentials; bodies are cut to a few hundred characters.
#[derive(Debug, thiserror::Error)]
pub enum JiveError {
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
    #[error("{endpoint}: credentials refused ({status}): {message}")]
    Unauthorized {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: the user may not read this (403): {message}")]
    Forbidden { endpoint: String, message: String },
    /// `429`, or the `503` of Jive's app throttling (notes §6).
    #[error("{endpoint}: throttled by Jive ({status}){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    Throttled {
        endpoint: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{endpoint}: Jive refused the request as malformed (400{}), a bug on our side or a bad place/type in the config: {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    BadRequest {
        endpoint: String,
        code: Option<String>,
        message: String,
    },
    #[error("{endpoint}: not found (404): {message}")]
    NotFound { endpoint: String, message: String },
    /// Another `4xx` (`409`, `410`, `422`, …): retrying the same request will not help.
    #[error("{endpoint}: refused ({status}): {message}")]
    Refused {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: server error {status}: {message}")]
    Server {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: unexpected answer: {detail}")]
    Malformed { endpoint: String, detail: String },
    /// The instance predates `/deletedObjects/contents` (core v3 revision 12, notes §1).
    #[error(
        "the Jive instance reports core v3 revision {found}; deletions can only be seen from revision 12 (GET /api/core/v3/deletedObjects/contents)"
    )]
    TooOld { found: u32 },
    /// A window's content kept changing under the scan for longer than the request budget.
    #[error(
        "the window ({window}) kept shifting while it was paged: gave up after {requests} requests; the next poll retries it"
    )]
    Unsettled { window: String, requests: u32 },
    /// The answer's body passed `max_response_bytes`; the rest was not read.
    #[error("{endpoint}: {source}, set by max_response_bytes; the rest was not read")]
    TooLarge {
        endpoint: String,
        source: tributary_http::BodyError,
    },
    /// A poll bound (`max_requests_per_poll`, `max_poll_time_ms`) was reached.
    #[error("{0}; the next poll starts again")]
    PollBound(#[from] tributary_http::PollBoundExceeded),
    /// A `links.next` pointing to another origin than the configured base URL: never fetched.
    #[error(
        "{endpoint}: links.next points to {origin}, not to the configured base URL's origin {base}; not followed"
    )]
    ForeignLink {
        endpoint: String,
        origin: String,
        base: String,
    },
    #[error(transparent)]
    ObjectState(#[from] ObjectStateError),
    #[error("jive: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// No OAuth access token: the refresh failed, or its rotated refresh token could not be
    /// stored (see `auth.rs`). It says itself how the scheduler reacts.
    #[error(transparent)]
    Refresh(#[from] tributary_provider_kit::oauth::RefreshError),
}

impl From<JiveError> for ProviderError {
    fn from(e: JiveError) -> Self {
        let message = e.to_string();
        match e {
            JiveError::Refresh(e) => e.failure().into_error(message),
            JiveError::Throttled { retry_after, .. } => ProviderError::RateLimited {
                retry_after,
                message,
            },
            JiveError::Unauthorized { .. } | JiveError::Forbidden { .. } => {
                ProviderError::Auth { message }
            }
            JiveError::BadRequest { .. }
            | JiveError::NotFound { .. }
            | JiveError::Refused { .. }
            | JiveError::TooOld { .. }
            | JiveError::AddressNotAllowed { .. }
            | JiveError::Redirect { .. }
            | JiveError::Checkpoint(_) => ProviderError::Fatal { message },
            JiveError::Request { .. }
            | JiveError::Timeout { .. }
            | JiveError::Server { .. }
            | JiveError::Malformed { .. }
            | JiveError::Unsettled { .. }
            | JiveError::TooLarge { .. }
            | JiveError::PollBound(_)
            | JiveError::ForeignLink { .. }
            | JiveError::ObjectState(_) => ProviderError::Transient { message },
        }
    }
}
