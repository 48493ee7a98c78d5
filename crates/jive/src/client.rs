//! The Jive REST v3 calls (`/api/version`, `/contents`, `/deletedObjects/contents`,
//! `/oauth2/token`) and the wire types they answer with. Nothing here knows about windows,
//! checkpoints or unified events.
//!
//! Every body may start with Jive's JSON security prefix (notes §4), errors included: it is
//! stripped when present at the start, never searched for elsewhere. Every request goes through
//! the kit's [`Exchange`] (the poll's budget, the address guard, a timeout cut to the time the
//! poll has left, the body read up to `max_response_bytes` only); a failure status is read by
//! [`classify`]: Jive's own signals, then the kit's [`failure::classify`].

use crate::config::Secret;
use crate::error::JiveError;
use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tributary_http::{
    AddressNotAllowed, Exchange, ExchangeError, Outbound, PollBudget, Reply, excerpt as snippet,
};
use tributary_provider_kit::failure::{self, Failure};

/// The bytes Jive puts before its JSON (notes §4).
pub const SECURITY_PREFIX: &str = "throw 'allowIllegalResourceCall is false.';";

const CONTENTS: &str = "/api/core/v3/contents";
const DELETED: &str = "/api/core/v3/deletedObjects/contents";

/// `GET /api/version` (notes §1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireVersion {
    #[serde(default)]
    pub jive_version: Option<String>,
    #[serde(default)]
    pub jive_core_versions: Vec<WireCoreVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireCoreVersion {
    #[serde(deserialize_with = "lenient::u32")]
    pub version: u32,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub revision: Option<u32>,
}

impl WireVersion {
    /// The core v3 revision, `None` when the instance lists no v3.
    pub fn core_v3_revision(&self) -> Option<u32> {
        self.jive_core_versions
            .iter()
            .filter(|v| v.version == 3)
            .map(|v| v.revision.unwrap_or(0))
            .max()
    }
}

/// A paged list (notes §2.6). Items stay JSON values so `upstream.raw` is what Jive sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireList {
    #[serde(default)]
    pub list: Vec<Value>,
    #[serde(default)]
    pub links: Option<WireLinks>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub items_per_page: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub start_index: Option<u32>,
}

impl WireList {
    /// The absolute URL of the next page, when Jive says there is one.
    pub fn next(&self) -> Option<&str> {
        self.links.as_ref()?.next.as_deref()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WireLinks {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
}

/// A content object (notes §2.7), the fields the poller reads. Keyed on `contentID`, never `id`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireContent {
    #[serde(rename = "contentID", deserialize_with = "lenient::string")]
    pub content_id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub content_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub subject: Option<String>,
    #[serde(with = "wire_time")]
    pub published: DateTime<Utc>,
    #[serde(with = "wire_time")]
    pub updated: DateTime<Utc>,
    #[serde(default)]
    pub parent_place: Option<WirePlace>,
    /// `parent`: the container's URI, for content outside a place (a person's updates).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub parent: Option<String>,
    #[serde(default)]
    pub author: Option<WirePerson>,
    #[serde(default)]
    pub resources: Option<WireResources>,
}

impl WireContent {
    pub fn from_json(value: &Value) -> Result<Self, serde_json::Error> {
        WireContent::deserialize(value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WirePlace {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub place_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePerson {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub emails: Vec<WireEmail>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireEmail {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WireResources {
    #[serde(default)]
    pub html: Option<WireRef>,
    #[serde(rename = "self", default)]
    pub self_: Option<WireRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WireRef {
    #[serde(rename = "ref", default, deserialize_with = "lenient::opt_string")]
    pub href: Option<String>,
}

/// A deleted-object marker (notes §3). `id` is the marker's UUID; `objectId` the old `contentID`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireDeleted {
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(deserialize_with = "lenient::string")]
    pub object_id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub object_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
    #[serde(with = "wire_time")]
    pub event_date: DateTime<Utc>,
}

impl WireDeleted {
    pub fn from_json(value: &Value) -> Result<Self, serde_json::Error> {
        WireDeleted::deserialize(value)
    }
}

/// How one request authenticates.
#[derive(Debug, Clone)]
pub enum Authorization {
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

/// `GET /contents` over the inclusive time range `[after, before]` of `updated`
/// (`filter=modificationDate(before,after)`, upper bound first), oldest created first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentsQuery<'a> {
    pub before: DateTime<Utc>,
    /// `None`: open (`null`).
    pub after: Option<DateTime<Utc>>,
    pub types: &'a [String],
    /// One place URI (Jive takes one per request).
    pub place: Option<&'a str>,
    /// `filter=creationDate(before,after)` on `published` (inclusive; `None`: open), the second
    /// key a one-millisecond window is read by (`window.rs`). Neither: no such filter.
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub start_index: u32,
    pub count: u32,
}

/// The fields the poller reads, so that Jive does not expand whole people (notes §2.7).
pub const CONTENT_FIELDS: &str =
    "id,contentID,type,subject,published,updated,status,parent,parentPlace,author,resources";

impl ContentsQuery<'_> {
    fn params(&self) -> Vec<(&'static str, String)> {
        let after = self
            .after
            .map_or_else(|| "null".to_owned(), wire_time::format);
        let mut p = vec![(
            "filter",
            format!(
                "modificationDate({},{after})",
                wire_time::format(self.before)
            ),
        )];
        if !self.types.is_empty() {
            p.push(("filter", format!("type({})", self.types.join(","))));
        }
        if let Some(place) = self.place {
            p.push(("filter", format!("place({})", escape(place))));
        }
        if self.created_after.is_some() || self.created_before.is_some() {
            let bound =
                |t: Option<DateTime<Utc>>| t.map_or_else(|| "null".to_owned(), wire_time::format);
            p.push((
                "filter",
                format!(
                    "creationDate({},{})",
                    bound(self.created_before),
                    bound(self.created_after)
                ),
            ));
        }
        p.push(("sort", "dateCreatedAsc".into()));
        p.push(("fields", CONTENT_FIELDS.into()));
        p.push(("startIndex", self.start_index.to_string()));
        p.push(("count", self.count.to_string()));
        p
    }
}

/// `GET /deletedObjects/contents?filter=since(after)&sort=eventDateAsc` (notes §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedQuery<'a> {
    /// Inclusive.
    pub since: DateTime<Utc>,
    pub types: &'a [String],
    pub start_index: u32,
    pub count: u32,
}

impl DeletedQuery<'_> {
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![(
            "filter",
            format!("since({})", wire_time::format(self.since)),
        )];
        if !self.types.is_empty() {
            p.push(("filter", format!("type({})", self.types.join(","))));
        }
        p.push(("sort", "eventDateAsc".into()));
        p.push(("startIndex", self.start_index.to_string()));
        p.push(("count", self.count.to_string()));
        p
    }
}

/// Escapes `,`, `\`, `(` and `)` inside a filter value (notes §2.2).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '\\' | '(' | ')') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An HTTP client for one Jive source. Built once; cheap to share.
#[derive(Debug)]
pub struct JiveClient {
    http: Exchange,
    base: String,
}

impl JiveClient {
    /// `base` without a trailing slash and without `/api/core/v3`. Every request spends from
    /// `budget` (see [`PollBudget::start`]), reads at most `max_response_bytes` of its answer,
    /// and goes out through `outbound` (refused when `base` is an IP literal it forbids).
    pub fn new(
        base: String,
        timeout: Duration,
        max_response_bytes: u64,
        budget: PollBudget,
        outbound: Outbound,
    ) -> Result<Self, AddressNotAllowed> {
        if let Ok(url) = reqwest::Url::parse(&base) {
            outbound.check_url(&url)?;
        }
        Ok(Self {
            http: Exchange::new(outbound, timeout, max_response_bytes, budget),
            base,
        })
    }

    /// How requests go out (the token refresh sends through it too).
    pub fn exchange(&self) -> &Exchange {
        &self.http
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The current poll's budget.
    pub fn budget(&self) -> &PollBudget {
        self.http.budget()
    }

    /// Requests sent by this client so far (token refreshes included).
    pub fn calls(&self) -> u64 {
        self.http.calls()
    }

    /// `GET /api/version` (no authentication).
    pub async fn version(&self) -> Result<WireVersion, JiveError> {
        let endpoint = "GET /api/version";
        let req = self.http.client().get(format!("{}/api/version", self.base));
        let body = self.send(endpoint, req).await?;
        parse_json(endpoint, &body)
    }

    /// One page of `GET /api/core/v3/contents`.
    pub async fn contents(
        &self,
        auth: &Authorization,
        query: &ContentsQuery<'_>,
    ) -> Result<WireList, JiveError> {
        let endpoint = format!("GET {CONTENTS}");
        let req = self
            .http
            .client()
            .get(format!("{}{CONTENTS}", self.base))
            .query(&query.params());
        self.list(&endpoint, authorize(req, auth)).await
    }

    /// One page of `GET /api/core/v3/deletedObjects/contents`.
    pub async fn deleted(
        &self,
        auth: &Authorization,
        query: &DeletedQuery<'_>,
    ) -> Result<WireList, JiveError> {
        let endpoint = format!("GET {DELETED}");
        let req = self
            .http
            .client()
            .get(format!("{}{DELETED}", self.base))
            .query(&query.params());
        self.list(&endpoint, authorize(req, auth)).await
    }

    /// The page at a `links.next` URL, followed verbatim (notes §2.6), when it is on the origin
    /// (scheme, host and port) of the configured base URL; a link elsewhere is refused unfetched:
    /// the credentials go only to the host the source was configured with, and what a tenant
    /// sees of an answer comes only from that host.
    pub async fn follow(&self, auth: &Authorization, url: &str) -> Result<WireList, JiveError> {
        let endpoint = "GET links.next";
        let parsed = reqwest::Url::parse(url).map_err(|e| JiveError::Malformed {
            endpoint: endpoint.into(),
            detail: format!("links.next {} is not a URL: {e}", snippet(url.as_bytes())),
        })?;
        let base = reqwest::Url::parse(&self.base).map_err(|e| JiveError::Malformed {
            endpoint: endpoint.into(),
            detail: format!("the base URL is not a URL: {e}"),
        })?;
        if parsed.origin() != base.origin() {
            return Err(JiveError::ForeignLink {
                endpoint: endpoint.into(),
                origin: snippet(parsed.origin().ascii_serialization().as_bytes()),
                base: base.origin().ascii_serialization(),
            });
        }
        let endpoint = format!("GET {}", parsed.path());
        let req = self.http.client().get(parsed);
        self.list(&endpoint, authorize(req, auth)).await
    }

    async fn list(&self, endpoint: &str, req: RequestBuilder) -> Result<WireList, JiveError> {
        let body = self.send(endpoint, req).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(WireList {
                list: Vec::new(),
                links: None,
                items_per_page: None,
                start_index: None,
            });
        }
        parse_json(endpoint, &body)
    }

    /// Sends through the exchange, strips the prefix, and turns a failure status into an error.
    async fn send(&self, endpoint: &str, req: RequestBuilder) -> Result<Vec<u8>, JiveError> {
        let mut reply = self
            .http
            .send(req)
            .await
            .map_err(|e| exchange_error(endpoint, e))?;
        reply.body = strip_prefix(&reply.body).to_vec();
        if reply.status.is_success() {
            Ok(reply.body)
        } else {
            Err(classify(endpoint, &reply, self.http.now()))
        }
    }
}

/// A request that got no answer, as a [`JiveError`] naming the endpoint.
fn exchange_error(endpoint: &str, e: ExchangeError) -> JiveError {
    let endpoint = endpoint.to_owned();
    match e {
        ExchangeError::NotAllowed(source) => JiveError::AddressNotAllowed { endpoint, source },
        ExchangeError::Timeout { timeout } => JiveError::Timeout { endpoint, timeout },
        ExchangeError::PollBound(bound) => JiveError::PollBound(bound),
        ExchangeError::Request { message } => JiveError::Request { endpoint, message },
        ExchangeError::TooLarge(source) => JiveError::TooLarge { endpoint, source },
    }
}

fn authorize(req: RequestBuilder, auth: &Authorization) -> RequestBuilder {
    match auth {
        Authorization::Basic { username, password } => {
            req.basic_auth(username, Some(password.expose()))
        }
        Authorization::Bearer(token) => req.bearer_auth(token.expose()),
    }
}

/// The body without Jive's security prefix and the whitespace after it, if it starts with it.
pub fn strip_prefix(body: &[u8]) -> &[u8] {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    match body[start..].strip_prefix(SECURITY_PREFIX.as_bytes()) {
        Some(rest) => rest.trim_ascii_start(),
        None => body,
    }
}

/// Maps a failure status to its error (notes §6): Jive's own readings first, then the kit's.
///
/// - `403` is [`JiveError::Forbidden`], an auth failure: the API user may not read what the
///   source asks for (jive-sdk treats 403 like 401).
/// - `503` is Jive's app throttling, with or without a `Retry-After` (DOC-68846).
fn classify(endpoint: &str, reply: &Reply, now: chrono::DateTime<Utc>) -> JiveError {
    let endpoint = endpoint.to_owned();
    let (message, code) = error_message(&reply.body);
    let status = reply.status.as_u16();
    let retry_after = || tributary_http::retry_after_header(&reply.headers, now);
    match status {
        300..=399 => return JiveError::Redirect { endpoint, status },
        403 => return JiveError::Forbidden { endpoint, message },
        503 => {
            return JiveError::Throttled {
                endpoint,
                status,
                retry_after: retry_after(),
            };
        }
        _ => {}
    }
    match failure::classify(reply, now) {
        Failure::Throttled { retry_after } => JiveError::Throttled {
            endpoint,
            status,
            retry_after,
        },
        Failure::Auth => JiveError::Unauthorized {
            endpoint,
            status,
            message,
        },
        Failure::Transient => JiveError::Server {
            endpoint,
            status,
            message,
        },
        Failure::Fatal => match status {
            400 => JiveError::BadRequest {
                endpoint,
                code,
                message,
            },
            404 => JiveError::NotFound { endpoint, message },
            _ => JiveError::Refused {
                endpoint,
                status,
                message,
            },
        },
    }
}

/// `error.message` and `error.code` of a v3 error body (`{"error":{"message","status","code"}}`),
/// an RFC 6749 `{"error","error_description"}`, or else the body itself, cut short.
fn error_message(body: &[u8]) -> (String, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (snippet(body), None);
    };
    // Every part cut short: they reach tenants in `status.last_error`.
    let text = |v: &Value| v.as_str().map(|s| snippet(s.as_bytes()));
    match v.get("error") {
        Some(Value::Object(e)) => (
            e.get("message")
                .and_then(text)
                .unwrap_or_else(|| snippet(body)),
            e.get("code").and_then(text),
        ),
        Some(Value::String(code)) => {
            let code = snippet(code.as_bytes());
            (
                v.get("error_description")
                    .and_then(text)
                    .map_or_else(|| code.clone(), |d| format!("{code}: {d}")),
                Some(code),
            )
        }
        _ => (snippet(body), None),
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(endpoint: &str, body: &[u8]) -> Result<T, JiveError> {
    serde_json::from_slice(body).map_err(|e| JiveError::Malformed {
        endpoint: endpoint.to_owned(),
        detail: format!("{e}; body: {}", snippet(body)),
    })
}

/// Jive's date format: `2015-01-02T17:24:17.946+0000`, always with milliseconds and an offset
/// without a colon, which strict RFC 3339 parsers refuse (notes §2.4). Reading also takes RFC 3339
/// (`…Z`, `…+00:00`).
pub mod wire_time {
    use super::*;
    use serde::Deserializer;
    use serde::de::Error;

    /// `2015-01-02T17:24:17.946+0000`.
    pub fn format(t: DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
    }

    pub fn parse(s: &str) -> Option<DateTime<Utc>> {
        let s = s.trim();
        DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
            .or_else(|_| DateTime::parse_from_rfc3339(s))
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|n| n.and_utc())
            })
            .map(tributary_core::time::truncate)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| D::Error::custom(format!("{s:?} is not a Jive date")))
    }
}

/// Deserializers that take what Jive may send: numbers as text, text as numbers, `null` for absent.
mod lenient {
    use serde::Deserialize;
    use serde::de::{Deserializer, Error};
    use serde_json::Value;

    fn text(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = Value::deserialize(d)?;
        text(&v)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| D::Error::custom(format!("expected an id, got {v}")))
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(text(&Value::deserialize(d)?))
    }

    fn number(v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Ok(number(&Value::deserialize(d)?).and_then(|n| u32::try_from(n).ok()))
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let v = Value::deserialize(d)?;
        number(&v)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| D::Error::custom(format!("expected a version number, got {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_prefix_only_at_the_start() {
        let body = b"throw 'allowIllegalResourceCall is false.';\n{\"list\":[]}";
        assert_eq!(strip_prefix(body), b"{\"list\":[]}");
        assert_eq!(strip_prefix(b"{\"list\":[]}"), b"{\"list\":[]}");
        let inside = b"{\"s\":\"throw 'allowIllegalResourceCall is false.';\"}";
        assert_eq!(strip_prefix(inside), inside);
    }

    #[test]
    fn reads_and_writes_jive_dates() {
        let t = wire_time::parse("2015-01-02T17:24:17.946+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2015-01-02T17:24:17.946+00:00");
        assert_eq!(wire_time::format(t), "2015-01-02T17:24:17.946+0000");
        assert_eq!(
            wire_time::parse("2015-05-04T15:16:55Z")
                .unwrap()
                .to_rfc3339(),
            "2015-05-04T15:16:55+00:00"
        );
        assert_eq!(wire_time::parse("2015-01-02T18:24:17.946+0100").unwrap(), t);
        assert!(wire_time::parse("yesterday").is_none());
    }

    #[test]
    fn filters_put_the_upper_bound_first_and_escape_values() {
        let t = |s| wire_time::parse(s).unwrap();
        let types = vec!["document".to_owned(), "file".to_owned()];
        let q = ContentsQuery {
            before: t("2024-05-01T10:00:00.000+0000"),
            after: Some(t("2024-05-01T09:00:00.000+0000")),
            types: &types,
            place: Some("/places/a,b"),
            created_after: None,
            created_before: None,
            start_index: 0,
            count: 100,
        };
        let p = q.params();
        assert_eq!(
            p[0].1,
            "modificationDate(2024-05-01T10:00:00.000+0000,2024-05-01T09:00:00.000+0000)"
        );
        assert_eq!(p[1].1, "type(document,file)");
        assert_eq!(p[2].1, r"place(/places/a\,b)");
        assert!(!p.iter().any(|(_, v)| v.starts_with("creationDate")));
        let created = ContentsQuery {
            created_after: Some(t("2024-05-01T09:30:00.000+0000")),
            ..q.clone()
        };
        assert_eq!(
            created.params()[3].1,
            "creationDate(null,2024-05-01T09:30:00.000+0000)"
        );
        let open = ContentsQuery { after: None, ..q };
        assert!(open.params()[0].1.ends_with(",null)"));
    }

    #[test]
    fn reads_the_notes_example_items() {
        let content = serde_json::json!({
            "id" : "2001", "contentID" : "5003", "type" : "document", "subject" : "Q2 plan",
            "status" : "published", "published" : "2024-04-30T08:00:00.120+0000",
            "updated" : "2024-05-01T09:15:02.511+0000",
            "parentPlace" : { "id" : "1010", "html" : "https://sim.example/groups/ops", "name" : "Ops",
                "type" : "group", "uri" : "https://sim.example/api/core/v3/places/1042" },
            "resources" : { "html" : { "allowed" : [ "GET" ], "ref" : "https://sim.example/docs/DOC-2001" } }
        });
        let c = WireContent::from_json(&content).unwrap();
        assert_eq!(c.content_id, "5003");
        assert_eq!(c.id.as_deref(), Some("2001"));
        assert_eq!(
            c.parent_place.unwrap().uri.as_deref(),
            Some("https://sim.example/api/core/v3/places/1042")
        );
        let marker = serde_json::json!({ "id" : "0b6f3c2e-7d1a-4c55-9a0e-3f1d2b7c9e10",
            "type" : "deletedObject", "objectType" : "file", "objectId" : 5007,
            "url" : "https://sim.example/api/core/v3/contents/5007",
            "eventDate" : "2024-05-01T09:31:44.007+0000" });
        let d = WireDeleted::from_json(&marker).unwrap();
        assert_eq!(d.object_id, "5007");
        assert_eq!(d.object_type.as_deref(), Some("file"));
    }

    #[test]
    fn error_bodies_give_their_message() {
        let v3 = br#"{"error":{"message":"Invalid filter expression place(x)","status":400,"code":"filterInvalid"}}"#;
        assert_eq!(
            error_message(v3),
            (
                "Invalid filter expression place(x)".to_owned(),
                Some("filterInvalid".to_owned())
            )
        );
        let oauth = br#"{"error":"invalid_grant","error_description":"Bad refresh token"}"#;
        assert_eq!(error_message(oauth).0, "invalid_grant: Bad refresh token");
        assert_eq!(error_message(b"<html>404</html>").0, "<html>404</html>");
    }

    #[test]
    fn error_messages_quote_the_upstream_only_briefly() {
        let long = "x".repeat(5_000);
        let v3 = serde_json::json!({"error": {"message": long, "code": long}}).to_string();
        let (message, code) = error_message(v3.as_bytes());
        assert_eq!(message.chars().count(), 101);
        assert_eq!(code.map(|c| c.chars().count()), Some(101));
        let html = format!("<html>{long}</html>");
        assert_eq!(error_message(html.as_bytes()).0.chars().count(), 101);
    }
}
