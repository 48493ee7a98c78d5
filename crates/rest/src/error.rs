//! What can go wrong in a REST poll, and what the scheduler should do about each
//! ([`RestError::failure`]). A failure status is read by the kit's `failure::classify`: a
//! configured API has no signals of its own to read first.

use tributary_core::{CheckpointError, ObjectStateError, ProviderError};
use tributary_http::ExchangeError;
use tributary_provider_kit::failure::Failure;
use tributary_provider_kit::oauth::RefreshError;

/// A failed request or poll. `endpoint` is `GET /path` (never the query: it may hold a key).
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// No (readable) answer: a forbidden address, a timeout, a poll bound, a failed connection,
    /// a body past `max_response_bytes`.
    #[error("{endpoint}: {source}{}", hint(source))]
    Exchange {
        endpoint: String,
        source: ExchangeError,
    },
    /// The upstream answered with a status that is not a success; `failure` is the kit's reading.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Status {
        endpoint: String,
        status: u16,
        message: String,
        failure: Failure,
    },
    /// The answer is not what the configuration says it is (not JSON, no list at the pointer).
    #[error("{endpoint}: {detail}")]
    Malformed { endpoint: String, detail: String },
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
    /// One pass over a list went past `max_pages`.
    #[error(
        "resource {resource}: more than {limit} pages in one window (max_pages); the next poll retries"
    )]
    TooManyPages { resource: String, limit: u32 },
    /// No OAuth access token: the refresh failed, or its rotated refresh token could not be
    /// stored. It says itself how the scheduler reacts.
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    ObjectState(#[from] ObjectStateError),
    #[error("rest: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// The config field behind a limit an exchange ran into, for the operator.
fn hint(e: &ExchangeError) -> &'static str {
    match e {
        ExchangeError::TooLarge(_) => ", set by max_response_bytes; the rest was not read",
        ExchangeError::PollBound(_) => "; the next poll starts again",
        ExchangeError::NotAllowed(_)
        | ExchangeError::Timeout { .. }
        | ExchangeError::Request { .. } => "",
    }
}

impl RestError {
    /// The upstream refused the credentials (`401`): a refreshed OAuth token may help.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RestError::Status { status: 401, .. })
    }

    /// How the scheduler reacts: the kit's reading of statuses and exchanges; an answer that
    /// does not fit the configuration, or a poll past its page limit, may pass (transient); an
    /// unreadable checkpoint will not.
    pub fn failure(&self) -> Failure {
        match self {
            RestError::Exchange { source, .. } => Failure::from(source),
            RestError::Status { failure, .. } => *failure,
            RestError::Refresh(e) => e.failure(),
            RestError::Checkpoint(_) => Failure::Fatal,
            RestError::Malformed { .. }
            | RestError::ForeignLink { .. }
            | RestError::TooManyPages { .. }
            | RestError::ObjectState(_) => Failure::Transient,
        }
    }
}

impl From<RestError> for ProviderError {
    fn from(e: RestError) -> Self {
        e.failure().into_error(e.to_string())
    }
}
