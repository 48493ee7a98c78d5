//! The HTTP calls (a list page, an OAuth token refresh) and what they answer. Nothing here knows
//! about windows, checkpoints or events.
//!
//! Every request is first spent from the poll's budget (requests and time; its timeout is cut to
//! the time the poll has left), is counted, goes out through the address-guarded [`Outbound`],
//! and has its body read up to `max_response_bytes` only.

use crate::config::OAuthClientAuth;
use crate::error::RestError;
use reqwest::{RequestBuilder, Url};
use serde::Deserialize;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::{Clock, Secret};
use tributary_http::{
    AddressNotAllowed, BodyError, Outbound, PollBoundExceeded, PollBudget, SendError, excerpt,
};

/// How one request authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
    Header { name: String, value: Secret },
    Query { name: String, value: Secret },
}

/// A list page's answer: its JSON and the `Link` header's `rel="next"` target, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Value,
    pub link_next: Option<String>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub struct WireToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The HTTP client of one REST source. Built once.
#[derive(Debug)]
pub struct RestClient {
    http: Outbound,
    timeout: Duration,
    max_response_bytes: u64,
    prefix: Option<String>,
    budget: PollBudget,
    clock: std::sync::Arc<dyn Clock>,
    calls: AtomicU64,
}

impl RestClient {
    /// Refused when `base` is an IP literal the address policy forbids.
    pub fn new(
        base: &Url,
        outbound: Outbound,
        timeout: Duration,
        max_response_bytes: u64,
        prefix: Option<String>,
        budget: PollBudget,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, AddressNotAllowed> {
        outbound.check_url(base)?;
        Ok(Self {
            http: outbound,
            timeout,
            max_response_bytes,
            prefix: prefix.filter(|p| !p.is_empty()),
            budget,
            clock,
            calls: AtomicU64::new(0),
        })
    }

    pub fn budget(&self) -> &PollBudget {
        &self.budget
    }

    /// Requests sent so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `GET url`, authenticated; the answer must be JSON.
    pub async fn get(&self, url: Url, auth: &Authorization) -> Result<Answer, RestError> {
        let endpoint = format!("GET {}", url.path());
        let mut url = url;
        if let Authorization::Query { name, value } = auth
            && !url.query_pairs().any(|(k, _)| k == name.as_str())
        {
            url.query_pairs_mut().append_pair(name, value.expose());
        }
        let req = match auth {
            Authorization::None | Authorization::Query { .. } => self.http.client().get(url),
            Authorization::Bearer(t) => self.http.client().get(url).bearer_auth(t.expose()),
            Authorization::Basic { username, password } => self
                .http
                .client()
                .get(url)
                .basic_auth(username, Some(password.expose())),
            Authorization::Header { name, value } => self
                .http
                .client()
                .get(url)
                .header(name.as_str(), value.expose()),
        };
        let req = req.header(reqwest::header::ACCEPT, "application/json");
        let (headers, body) = self.send(&endpoint, req).await?;
        let link_next = headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(link_next);
        let body = serde_json::from_slice(&body).map_err(|e| RestError::Malformed {
            endpoint: endpoint.clone(),
            detail: format!("the answer is not JSON ({e}): {}", excerpt(&body)),
        })?;
        Ok(Answer { body, link_next })
    }

    /// `POST token_url` with `grant_type=refresh_token`.
    pub async fn refresh_token(
        &self,
        token_url: &str,
        client_auth: OAuthClientAuth,
        client_id: &str,
        client_secret: &Secret,
        refresh_token: &Secret,
    ) -> Result<WireToken, RestError> {
        let endpoint = "POST oauth.token_url".to_owned();
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        let req = self.http.client().post(token_url);
        let req = match client_auth {
            OAuthClientAuth::Basic => req.basic_auth(client_id, Some(client_secret.expose())),
            OAuthClientAuth::Form => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret.expose()));
                req
            }
        };
        match self.send(&endpoint, req.form(&form)).await {
            Ok((_, body)) => serde_json::from_slice(&body).map_err(|e| RestError::Malformed {
                endpoint,
                detail: format!("the token answer is unreadable: {e}"),
            }),
            Err(RestError::Status {
                status: 400 | 401,
                message,
                ..
            }) => Err(RestError::Token { endpoint, message }),
            Err(e) => Err(e),
        }
    }

    /// Spends the request from the poll's budget, sends, reads the body within its limit, strips
    /// the configured prefix, and turns a failure status into an error.
    async fn send(
        &self,
        endpoint: &str,
        req: RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), RestError> {
        let left = self.budget.spend()?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = self.timeout.min(left);
        let failed = |e: reqwest::Error| {
            if e.is_timeout() && timeout < self.timeout {
                RestError::PollBound(PollBoundExceeded::Time {
                    limit: self.budget.limits().max_time,
                })
            } else if e.is_timeout() {
                RestError::Timeout {
                    endpoint: endpoint.to_owned(),
                    timeout: self.timeout,
                }
            } else {
                RestError::Request {
                    endpoint: endpoint.to_owned(),
                    message: e.without_url().to_string(),
                }
            }
        };
        let resp = self
            .http
            .send(req.timeout(timeout))
            .await
            .map_err(|e| match e {
                SendError::NotAllowed(source) => RestError::AddressNotAllowed {
                    endpoint: endpoint.to_owned(),
                    source,
                },
                SendError::Http(e) => failed(e),
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = tributary_http::read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| match e {
                BodyError::Read(e) => failed(e),
                too_large @ BodyError::TooLarge { .. } => RestError::TooLarge {
                    endpoint: endpoint.to_owned(),
                    source: too_large,
                },
            })?;
        let body = match &self.prefix {
            Some(p) => strip_prefix(&body, p).to_vec(),
            None => body,
        };
        if status.is_success() {
            return Ok((headers, body));
        }
        Err(RestError::Status {
            endpoint: endpoint.to_owned(),
            status: status.as_u16(),
            message: excerpt(&body),
            retry_after: tributary_http::retry_after_header(&headers, self.clock.now()),
        })
    }
}

/// The body without `prefix` (and the whitespace around it) when it starts with it.
fn strip_prefix<'a>(body: &'a [u8], prefix: &str) -> &'a [u8] {
    let trimmed = body.trim_ascii_start();
    match trimmed.strip_prefix(prefix.as_bytes()) {
        Some(rest) => rest.trim_ascii_start(),
        None => body,
    }
}

/// The target of `rel="next"` in one `Link` header value (RFC 8288), if it has one.
pub fn link_next(header: &str) -> Option<String> {
    for link in header.split(',') {
        let mut parts = link.split(';');
        let target = parts.next()?.trim();
        let target = target.strip_prefix('<')?.strip_suffix('>')?;
        let is_next = parts.any(|p| {
            let p = p.trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_their_next_target() {
        assert_eq!(
            link_next(r#"<https://a.example.com/x?page=2>; rel="next", <https://a.example.com/x?page=9>; rel="last""#)
                .as_deref(),
            Some("https://a.example.com/x?page=2")
        );
        assert_eq!(link_next(r#"</x?page=1>; rel="prev first""#), None);
        assert_eq!(link_next("</x?c=1>; REL=next").as_deref(), Some("/x?c=1"));
        assert_eq!(link_next("garbage"), None);
    }

    #[test]
    fn a_configured_prefix_is_removed_only_at_the_start() {
        let p = "throw 'x';";
        assert_eq!(strip_prefix(b"  throw 'x';\n[1]", p), b"[1]");
        assert_eq!(strip_prefix(b"[1] throw 'x';", p), b"[1] throw 'x';");
    }
}
