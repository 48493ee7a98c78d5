//! The HTTP call (a list page) and what it answers. Nothing here knows about windows,
//! checkpoints or events; the OAuth token refresh is the kit's (`auth.rs`).
//!
//! Every request goes through the kit's [`Exchange`] (the poll's budget, the address-guarded
//! [`Outbound`], a timeout cut to the time the poll has left, the body read up to
//! `max_response_bytes` only); a failure status is read by the kit's [`failure::classify`].

use crate::error::RestError;
use reqwest::Url;
use serde_json::Value;
use std::time::Duration;
use tributary_core::Secret;
use tributary_http::{AddressNotAllowed, Exchange, Outbound, PollBudget, excerpt};
use tributary_provider_kit::failure;

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

/// The HTTP client of one REST source. Built once.
#[derive(Debug)]
pub struct RestClient {
    http: Exchange,
    prefix: Option<String>,
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
    ) -> Result<Self, AddressNotAllowed> {
        outbound.check_url(base)?;
        Ok(Self {
            http: Exchange::new(outbound, timeout, max_response_bytes, budget),
            prefix: prefix.filter(|p| !p.is_empty()),
        })
    }

    /// How requests go out (the token refresh sends through it too).
    pub fn exchange(&self) -> &Exchange {
        &self.http
    }

    pub fn budget(&self) -> &PollBudget {
        self.http.budget()
    }

    /// Requests sent so far (token refreshes included).
    pub fn calls(&self) -> u64 {
        self.http.calls()
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
        let req = self.http.client().get(url);
        let req = match auth {
            Authorization::None | Authorization::Query { .. } => req,
            Authorization::Bearer(t) => req.bearer_auth(t.expose()),
            Authorization::Basic { username, password } => {
                req.basic_auth(username, Some(password.expose()))
            }
            Authorization::Header { name, value } => req.header(name.as_str(), value.expose()),
        };
        let req = req.header(reqwest::header::ACCEPT, "application/json");
        let reply = self
            .http
            .send(req)
            .await
            .map_err(|source| RestError::Exchange {
                endpoint: endpoint.clone(),
                source,
            })?;
        let body = match &self.prefix {
            Some(p) => strip_prefix(&reply.body, p),
            None => &reply.body,
        };
        if !reply.status.is_success() {
            return Err(RestError::Status {
                endpoint,
                status: reply.status.as_u16(),
                message: excerpt(body),
                failure: failure::classify(&reply, self.http.now()),
            });
        }
        let link_next = reply
            .headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(link_next);
        let body = serde_json::from_slice(body).map_err(|e| RestError::Malformed {
            endpoint: endpoint.clone(),
            detail: format!("the answer is not JSON ({e}): {}", excerpt(body)),
        })?;
        Ok(Answer { body, link_next })
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
