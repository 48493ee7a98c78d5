//! The Egnyte HTTP calls (`/events/cursor`, `/events`, `/puboauth/token`) and the wire types they
//! answer with. Nothing here knows about checkpoints or unified events.
//!
//! Every request goes through the kit's [`Exchange`]: it spends from the poll's budget (requests
//! and time), waits on its credential's rate limiter (no longer than the poll has left), has a
//! timeout (cut to the time the poll has left), is counted, and has its body read up to
//! `max_response_bytes` only; it reports the daily quota headers. Status codes become
//! [`EgnyteError`]s as the notes §3.2 and §8 say: Egnyte's own signals first, then the kit's
//! [`failure::classify`]. The token endpoint is the kit's too (`auth.rs`).

use crate::config::{ApiVersion, Secret, Suppress};
use crate::credential::CredentialState;
use crate::error::{EgnyteError, Throttle};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tributary_http::{
    AddressNotAllowed, Exchange, ExchangeError, Outbound, PollBudget, Reply, excerpt as snippet,
};
use tributary_provider_kit::failure::{self, Failure};

/// `GET /pubapi/{v}/events/cursor` (notes §2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireCursor {
    #[serde(deserialize_with = "lenient::u64")]
    pub latest_event_id: u64,
    #[serde(deserialize_with = "lenient::u64")]
    pub oldest_event_id: u64,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timestamp: Option<String>,
}

/// A `200` from `GET /pubapi/{v}/events` (notes §4.1). The events stay JSON values, so that
/// `upstream.raw` is exactly what Egnyte sent; [`WireEvent::from_json`] reads each one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WireEventsPage {
    #[serde(default, deserialize_with = "lenient::events")]
    pub events: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub latest_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub oldest_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub count: Option<u64>,
}

/// One event (notes §4.2). Every field but `id` is optional, numbers may come as text, and
/// unknown keys are ignored here (and kept in the raw JSON).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireEvent {
    #[serde(deserialize_with = "lenient::u64")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub actor: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub action: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub action_source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub object_detail: Option<String>,
    #[serde(default, deserialize_with = "lenient::data")]
    pub data: WireData,
}

impl WireEvent {
    pub fn from_json(value: &Value) -> Result<Self, serde_json::Error> {
        WireEvent::deserialize(value)
    }
}

/// An event's `data` (notes §4.3): which fields appear depends on the action, the object kind and
/// the age of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WireData {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub target_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub target_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub target_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_folder: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub folder_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub note_id: Option<String>,
}

/// The list endpoint's parameters (notes §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsQuery<'a> {
    /// Events strictly after this id.
    pub id: u64,
    pub count: u32,
    pub folder: Option<&'a str>,
    pub types: &'a [String],
    pub suppress: Suppress,
}

impl EventsQuery<'_> {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("id", self.id.to_string()),
            ("count", self.count.to_string()),
        ];
        if let Some(folder) = self.folder {
            p.push(("folder", folder.to_owned()));
        }
        if !self.types.is_empty() {
            p.push(("type", self.types.join("|")));
        }
        if let Some(s) = self.suppress.as_param() {
            p.push(("suppress", s.to_owned()));
        }
        p
    }
}

/// An HTTP client for one Egnyte source. Built once; cheap to share.
#[derive(Debug)]
pub struct EgnyteClient {
    http: Exchange,
    base: String,
    version: ApiVersion,
    credential: Arc<CredentialState>,
}

/// Which list-call failure a 404 means.
#[derive(Debug, Clone, Copy)]
enum NotFound {
    CursorGone(u64),
    Bug,
}

impl EgnyteClient {
    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base` without a trailing slash (`https://acme.egnyte.com`). Every request spends from
    /// `budget` (see [`PollBudget::start`]), reads at most `max_response_bytes` of its answer,
    /// and goes out through `outbound` (refused when `base` is an IP literal it forbids).
    pub fn new(
        base: String,
        version: ApiVersion,
        timeout: Duration,
        max_response_bytes: u64,
        budget: PollBudget,
        credential: Arc<CredentialState>,
        outbound: Outbound,
    ) -> Result<Self, AddressNotAllowed> {
        if let Ok(url) = reqwest::Url::parse(&base) {
            outbound.check_url(&url)?;
        }
        Ok(Self {
            http: Exchange::new(outbound, timeout, max_response_bytes, budget),
            base,
            version,
            credential,
        })
    }

    /// How requests go out (the token refresh sends through it too).
    pub fn exchange(&self) -> &Exchange {
        &self.http
    }

    /// The current poll's budget.
    pub fn budget(&self) -> &PollBudget {
        self.http.budget()
    }

    pub fn credential(&self) -> &Arc<CredentialState> {
        &self.credential
    }

    /// Requests sent by this client so far (each one but a token refresh waited on the limiter).
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// `GET /pubapi/{v}/events/cursor`.
    pub async fn cursor(&self, token: &Secret) -> Result<WireCursor, EgnyteError> {
        let path = format!("/pubapi/{}/events/cursor", self.version.as_str());
        let endpoint = format!("GET {path}");
        let req = self
            .http
            .client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token.expose());
        let (status, body) = self.send(&endpoint, req, NotFound::Bug).await?;
        if status == StatusCode::NO_CONTENT || is_blank(&body) {
            return Err(EgnyteError::Malformed {
                endpoint,
                detail: format!(
                    "{} with an empty body instead of the cursor",
                    status.as_u16()
                ),
            });
        }
        parse_json(&endpoint, &body)
    }

    /// `GET /pubapi/{v}/events?id=&count=&folder=&type=&suppress=`. `None` when there is nothing
    /// after `query.id` (`204`, or a `200` without a body).
    pub async fn events(
        &self,
        token: &Secret,
        query: &EventsQuery<'_>,
    ) -> Result<Option<WireEventsPage>, EgnyteError> {
        let path = format!("/pubapi/{}/events", self.version.as_str());
        let endpoint = format!("GET {path}");
        let req = self
            .http
            .client()
            .get(format!("{}{path}", self.base))
            .query(&query.params())
            .bearer_auth(token.expose());
        let (status, body) = self
            .send(&endpoint, req, NotFound::CursorGone(query.id))
            .await?;
        if status == StatusCode::NO_CONTENT || is_blank(&body) {
            return Ok(None);
        }
        let page: WireEventsPage = parse_json(&endpoint, &body)?;
        Ok(Some(page))
    }

    /// Waits on the limiter, sends, records the quota, and turns a failure status into an error.
    async fn send(
        &self,
        endpoint: &str,
        req: RequestBuilder,
        not_found: NotFound,
    ) -> Result<(StatusCode, Vec<u8>), EgnyteError> {
        let reply = self
            .http
            .send_when(req, self.credential.limiter().until_ready())
            .await
            .map_err(|e| exchange_error(endpoint, e))?;
        self.credential.record_quota(
            header_u64(&reply.headers, "x-accesstoken-quota-current"),
            header_u64(&reply.headers, "x-accesstoken-quota-allotted"),
        );
        if reply.status.is_success() {
            Ok((reply.status, reply.body))
        } else {
            Err(classify(endpoint, &reply, self.http.now(), not_found))
        }
    }
}

/// A request that got no answer, as an [`EgnyteError`] naming the endpoint.
fn exchange_error(endpoint: &str, e: ExchangeError) -> EgnyteError {
    let endpoint = endpoint.to_owned();
    match e {
        ExchangeError::NotAllowed(source) => EgnyteError::AddressNotAllowed { endpoint, source },
        ExchangeError::Timeout { timeout } => EgnyteError::Timeout { endpoint, timeout },
        ExchangeError::PollBound(bound) => EgnyteError::PollBound(bound),
        ExchangeError::Request { message } => EgnyteError::Request { endpoint, message },
        ExchangeError::TooLarge(source) => EgnyteError::TooLarge { endpoint, source },
    }
}

/// Maps a failure status to its error (notes §3.2, §8, §12.7): Egnyte's own readings (a `403`
/// with a Mashery code, the list's `404` of an expired id, redirects), then the kit's.
fn classify(
    endpoint: &str,
    reply: &Reply,
    now: chrono::DateTime<chrono::Utc>,
    not_found: NotFound,
) -> EgnyteError {
    let endpoint = endpoint.to_owned();
    let (status, headers, body) = (reply.status.as_u16(), &reply.headers, &reply.body[..]);
    let retry_after = || tributary_http::retry_after_header(headers, now);
    match status {
        300..=399 => return EgnyteError::Redirect { endpoint, status },
        403 => {
            return match mashery_code(headers).as_deref() {
                Some("ERR_403_DEVELOPER_OVER_QPS") => EgnyteError::Throttled {
                    endpoint,
                    kind: Throttle::OverQps,
                    retry_after: Some(retry_after().unwrap_or(Duration::from_secs(1))),
                },
                // Never a tight loop: without a Retry-After, wait an hour.
                Some("ERR_403_DEVELOPER_OVER_RATE") => EgnyteError::Throttled {
                    endpoint,
                    kind: Throttle::OverRate,
                    retry_after: Some(retry_after().unwrap_or(Duration::from_secs(3_600))),
                },
                Some(c @ "ERR_403_DEVELOPER_INACTIVE") => EgnyteError::Unauthorized {
                    endpoint,
                    status,
                    code: Some(c.to_owned()),
                    body: snippet(body),
                },
                Some(other) => EgnyteError::Forbidden {
                    endpoint,
                    body: format!("X-Mashery-Error-Code {other}: {}", snippet(body)),
                },
                None => EgnyteError::Forbidden {
                    endpoint,
                    body: snippet(body),
                },
            };
        }
        404 => {
            if let NotFound::CursorGone(id) = not_found {
                return EgnyteError::CursorGone { endpoint, id };
            }
        }
        _ => {}
    }
    match failure::classify(reply, now) {
        Failure::Throttled { retry_after } => EgnyteError::Throttled {
            endpoint,
            kind: if status == 429 {
                Throttle::TooManyRequests
            } else {
                Throttle::Unavailable
            },
            retry_after,
        },
        Failure::Auth => EgnyteError::Unauthorized {
            endpoint,
            status,
            code: mashery_code(headers),
            body: snippet(body),
        },
        Failure::Transient => EgnyteError::Server {
            endpoint,
            status,
            body: snippet(body),
        },
        Failure::Fatal => EgnyteError::BadRequest {
            endpoint,
            status,
            body: snippet(body),
        },
    }
}

fn mashery_code(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-mashery-error-code")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// JSON whatever the `Content-Type` says (Egnyte sometimes sends `text/plain`).
fn parse_json<T: for<'de> Deserialize<'de>>(endpoint: &str, body: &[u8]) -> Result<T, EgnyteError> {
    serde_json::from_slice(body).map_err(|e| EgnyteError::Malformed {
        endpoint: endpoint.to_owned(),
        detail: format!("{e}; body: {}", snippet(body)),
    })
}

/// Deserializers that take what Egnyte may send: numbers as text, text as numbers, `null` for
/// absent.
mod lenient {
    use super::WireData;
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};
    use serde_json::Value;

    fn to_u64(v: &Value) -> Option<u64> {
        match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = Value::deserialize(d)?;
        to_u64(&v).ok_or_else(|| D::Error::custom(format!("expected an event id, got {v}")))
    }

    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.as_ref().and_then(to_u64))
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
    }

    pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::Bool(b)) => Some(b),
            Some(Value::Number(n)) => n.as_u64().map(|n| n != 0),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            _ => None,
        })
    }

    /// `data` may be absent, `null`, or not an object at all: then it is empty.
    pub fn data<'de, D: Deserializer<'de>>(d: D) -> Result<WireData, D::Error> {
        match Option::<Value>::deserialize(d)? {
            Some(v @ Value::Object(_)) => WireData::deserialize(v).map_err(D::Error::custom),
            _ => Ok(WireData::default()),
        }
    }

    /// `events` must be an array when present; `null` is empty.
    pub fn events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            Some(Value::Array(a)) => Ok(a),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(other) => Err(D::Error::custom(format!(
                "`events` must be an array, got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_events_leniently() {
        let e = WireEvent::from_json(&json!({
            "id": "70413", "actor": 1204, "timestamp": "2026-01-05T09:15:10.000Z",
            "type": "file_system", "action": "create", "extra": {"x": 1},
            "data": {"target_path": "/a", "is_folder": "false", "target_group_id": 77, "more": true}
        }))
        .unwrap();
        assert_eq!(e.id, 70413);
        assert_eq!(e.actor.as_deref(), Some("1204"));
        assert_eq!(e.data.is_folder, Some(false));
        assert_eq!(e.data.target_group_id.as_deref(), Some("77"));
        let bare = WireEvent::from_json(&json!({"id": 5, "data": null})).unwrap();
        assert_eq!(bare.data, WireData::default());
        assert!(WireEvent::from_json(&json!({"action": "create"})).is_err());
    }

    #[test]
    fn query_sends_filters_pipe_joined() {
        let types = vec!["file_system".to_owned(), "note".to_owned()];
        let q = EventsQuery {
            id: 7,
            count: 50,
            folder: Some("/Shared/x y"),
            types: &types,
            suppress: Suppress::User,
        };
        assert_eq!(
            q.params(),
            vec![
                ("id", "7".to_owned()),
                ("count", "50".to_owned()),
                ("folder", "/Shared/x y".to_owned()),
                ("type", "file_system|note".to_owned()),
                ("suppress", "user".to_owned()),
            ]
        );
    }
}
