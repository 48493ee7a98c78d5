//! [`Exchange`]: one request and its answer, the way every HTTP provider sends it: spent from the
//! poll's budget, sent through the [`Outbound`] guard with a timeout cut to the time the poll has
//! left, counted, and its body read up to a byte limit.
//!
//! What the answer's status means is not decided here (`tributary_provider_kit::failure` and the
//! provider do that); what can go wrong before there is an answer is [`ExchangeError`].

use crate::address::AddressNotAllowed;
use crate::body::{BodyError, read_body};
use crate::budget::{PollBoundExceeded, PollBudget};
use crate::outbound::{Outbound, SendError};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An upstream's answer, its body read whole (within the limit).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why a request got no (readable) answer. The provider names the endpoint in its own error.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The host is, or resolves only to, an address the outbound policy forbids: nothing sent.
    #[error(transparent)]
    NotAllowed(AddressNotAllowed),
    /// No answer within the request's own timeout.
    #[error("no answer within {timeout:?}")]
    Timeout { timeout: Duration },
    /// The poll's budget (requests or time) ran out before or while the request was made.
    #[error(transparent)]
    PollBound(#[from] PollBoundExceeded),
    /// The connection failed (refused, reset, TLS, …); the message has no URL.
    #[error("request failed: {message}")]
    Request { message: String },
    /// The body passed the byte limit; the rest was not read.
    #[error("{0}")]
    TooLarge(BodyError),
}

/// How one provider source sends its requests: the guarded client, the request timeout, the
/// body limit and the poll budget, and how many requests went out. Built once per source.
#[derive(Debug)]
pub struct Exchange {
    outbound: Outbound,
    timeout: Duration,
    max_response_bytes: u64,
    budget: PollBudget,
    calls: AtomicU64,
}

impl Exchange {
    pub fn new(
        outbound: Outbound,
        timeout: Duration,
        max_response_bytes: u64,
        budget: PollBudget,
    ) -> Self {
        Self {
            outbound,
            timeout,
            max_response_bytes,
            budget,
            calls: AtomicU64::new(0),
        }
    }

    /// The client to build requests with (send them with [`Exchange::send`]).
    pub fn client(&self) -> &reqwest::Client {
        self.outbound.client()
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The current poll's budget.
    pub fn budget(&self) -> &PollBudget {
        &self.budget
    }

    /// The time on the provider's clock (see [`PollBudget::now`]).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.budget.now()
    }

    /// Requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Spends a request from the poll's budget and sends `req` (see [`Exchange::send_when`]).
    pub async fn send(&self, req: RequestBuilder) -> Result<Reply, ExchangeError> {
        self.send_when(req, std::future::ready(())).await
    }

    /// Spends a request from the poll's budget, waits for `ready` (a rate limiter, say) no longer
    /// than the poll has left, sends `req` with a timeout cut to the time left, and reads the
    /// body within the limit. A timeout that the poll's time cut short is
    /// [`ExchangeError::PollBound`]; one of the request's own is [`ExchangeError::Timeout`].
    pub async fn send_when(
        &self,
        req: RequestBuilder,
        ready: impl Future<Output = ()>,
    ) -> Result<Reply, ExchangeError> {
        let out_of_time = || {
            ExchangeError::PollBound(PollBoundExceeded::Time {
                limit: self.budget.limits().max_time,
            })
        };
        let left = self.budget.spend()?;
        tokio::time::timeout(left, ready)
            .await
            .map_err(|_| out_of_time())?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = self.timeout.min(self.budget.time_left()?);
        let failed = |e: reqwest::Error| {
            if e.is_timeout() && timeout < self.timeout {
                out_of_time()
            } else if e.is_timeout() {
                ExchangeError::Timeout {
                    timeout: self.timeout,
                }
            } else {
                // `without_url`: keep messages short and stable (and free of query strings).
                ExchangeError::Request {
                    message: e.without_url().to_string(),
                }
            }
        };
        let resp = self
            .outbound
            .send(req.timeout(timeout))
            .await
            .map_err(|e| match e {
                SendError::NotAllowed(refused) => ExchangeError::NotAllowed(refused),
                SendError::Http(e) => failed(e),
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| match e {
                BodyError::Read(e) => failed(e),
                too_large @ BodyError::TooLarge { .. } => ExchangeError::TooLarge(too_large),
            })?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::AddressPolicy;
    use crate::budget::PollLimits;
    use std::sync::Arc;
    use tributary_core::SystemClock;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn exchange(max_requests: u32, max_bytes: u64) -> Exchange {
        let limits = PollLimits {
            max_requests,
            max_time: Duration::from_secs(30),
        };
        Exchange::new(
            Outbound::new(AddressPolicy::loopback()).unwrap(),
            Duration::from_secs(5),
            max_bytes,
            PollBudget::new(limits, Arc::new(SystemClock)),
        )
    }

    #[tokio::test]
    async fn answers_are_read_counted_and_bounded_by_the_budget() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("retry-after", "2")
                    .set_body_string("busy"),
            )
            .mount(&server)
            .await;
        let x = exchange(2, 1_000);
        let reply = x.send(x.client().get(server.uri())).await.unwrap();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.headers["retry-after"], "2");
        assert_eq!(reply.body, b"busy");
        x.send(x.client().get(server.uri())).await.unwrap();
        let third = x.send(x.client().get(server.uri())).await.unwrap_err();
        assert!(
            matches!(
                third,
                ExchangeError::PollBound(PollBoundExceeded::Requests { limit: 2 })
            ),
            "{third}"
        );
        assert_eq!(x.calls(), 2);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused() {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(100)))
            .mount(&server)
            .await;
        let x = exchange(5, 10);
        let e = x.send(x.client().get(server.uri())).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "the answer is larger than the limit of 10 bytes (Content-Length 100)"
        );
    }

    #[tokio::test]
    async fn a_forbidden_address_is_not_sent_to() {
        let x = Exchange::new(
            Outbound::new(AddressPolicy::strict()).unwrap(),
            Duration::from_secs(5),
            1_000,
            PollBudget::new(
                PollLimits {
                    max_requests: 5,
                    max_time: Duration::from_secs(30),
                },
                Arc::new(SystemClock),
            ),
        );
        let e = x
            .send(x.client().get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert!(matches!(e, ExchangeError::NotAllowed(_)), "{e}");
    }
}
