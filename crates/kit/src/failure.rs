//! What an upstream's failure status means to the scheduler: wait (throttled), retry with
//! backoff (transient), re-authenticate (auth) or stop (fatal). One reading for every HTTP
//! provider; a provider reads its own signals first (Egnyte's `403` with a Mashery throttle code,
//! Jive's `503` app throttling) and leaves the rest to [`classify`].

use std::time::Duration;
use tributary_core::ProviderError;
use tributary_http::Reply;

/// How the scheduler should react to a failed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Wait, at least `retry_after` when the upstream said.
    Throttled { retry_after: Option<Duration> },
    /// May pass: retried with backoff.
    Transient,
    /// The credentials were refused (after a refresh, where the provider can refresh).
    Auth,
    /// Will not pass by retrying: the source stops until it is fixed.
    Fatal,
}

impl Failure {
    /// The [`ProviderError`] of this kind, with `message`.
    pub fn into_error(self, message: String) -> ProviderError {
        match self {
            Failure::Throttled { retry_after } => ProviderError::RateLimited {
                retry_after,
                message,
            },
            Failure::Transient => ProviderError::Transient { message },
            Failure::Auth => ProviderError::Auth { message },
            Failure::Fatal => ProviderError::Fatal { message },
        }
    }
}

/// The default reading of a non-success status (`now` dates an HTTP-date `Retry-After`):
///
/// | status | failure |
/// | --- | --- |
/// | `429`; `503` with a `Retry-After` | [`Failure::Throttled`] with its `Retry-After` |
/// | `408`; other `5xx` | [`Failure::Transient`] |
/// | `401` | [`Failure::Auth`] |
/// | `3xx` (redirects are not followed), `400`, `403`, `404`, other `4xx`, anything else | [`Failure::Fatal`] |
pub fn classify(reply: &Reply, now: chrono::DateTime<chrono::Utc>) -> Failure {
    let retry_after = tributary_http::retry_after_header(&reply.headers, now);
    match reply.status.as_u16() {
        429 => Failure::Throttled { retry_after },
        503 if retry_after.is_some() => Failure::Throttled { retry_after },
        408 | 500..=599 => Failure::Transient,
        401 => Failure::Auth,
        _ => Failure::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    fn reply(status: u16, retry_after: Option<&'static str>) -> Reply {
        let mut headers = HeaderMap::new();
        if let Some(v) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(v));
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Vec::new(),
        }
    }

    fn now() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
    }

    #[test]
    fn throttles_carry_their_retry_after_in_either_form() {
        assert_eq!(
            classify(&reply(429, Some("7")), now()),
            Failure::Throttled {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            classify(&reply(429, None), now()),
            Failure::Throttled { retry_after: None }
        );
        assert_eq!(
            classify(&reply(503, Some("Mon, 02 Mar 2026 10:01:00 GMT")), now()),
            Failure::Throttled {
                retry_after: Some(Duration::from_secs(60))
            }
        );
    }

    #[test]
    fn server_errors_and_request_timeouts_are_transient() {
        for status in [408, 500, 502, 503, 504, 599] {
            assert_eq!(
                classify(&reply(status, None), now()),
                Failure::Transient,
                "{status}"
            );
        }
    }

    #[test]
    fn refused_credentials_are_auth_and_other_refusals_fatal() {
        assert_eq!(classify(&reply(401, None), now()), Failure::Auth);
        for status in [301, 302, 400, 403, 404, 409, 410, 422] {
            assert_eq!(
                classify(&reply(status, None), now()),
                Failure::Fatal,
                "{status}"
            );
        }
    }

    #[test]
    fn each_failure_is_its_provider_error() {
        let m = || "m".to_owned();
        assert_eq!(
            Failure::Throttled { retry_after: None }.into_error(m()),
            ProviderError::RateLimited {
                retry_after: None,
                message: m()
            }
        );
        assert_eq!(
            Failure::Transient.into_error(m()),
            ProviderError::Transient { message: m() }
        );
        assert_eq!(
            Failure::Auth.into_error(m()),
            ProviderError::Auth { message: m() }
        );
        assert_eq!(
            Failure::Fatal.into_error(m()),
            ProviderError::Fatal { message: m() }
        );
    }
}
