//! What one Egnyte source is configured with, and the checks that refuse a config that cannot work.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tributary_core::{PollPolicy, PollPolicyError};

/// The Events API's cap on `count` (notes §3.1).
pub const MAX_PAGE_SIZE: u32 = 100;

/// The most pages one poll may read (`max_pages_per_poll`): 100,000 events in one commit.
pub const MAX_PAGES_PER_POLL: u32 = 1_000;

/// One Egnyte source. Deserialized from the source's provider config; unknown keys are refused.
///
/// Exactly one of `domain` and `base_url` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgnyteConfig {
    /// The Egnyte domain: `acme` means `https://acme.egnyte.com`; a name with a dot
    /// (`acme.egnyte.com`) is used as the host as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The base URL instead of a domain, e.g. `http://127.0.0.1:8080` for a simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `v1` or `v2` (default): the path segment of `/pubapi/{v}/events`.
    #[serde(default)]
    pub api_version: ApiVersion,
    pub credentials: Credentials,
    /// Only events for this folder and everything under it (`/Shared/marketing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Only events of these types (`file_system`, `note`, `permission_change`); pipe-joined on
    /// the wire. Empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Whose events to hide: `app` (default: never echo our own writes), `user`, or `none`.
    #[serde(default)]
    pub suppress: Suppress,
    /// Events per request, 1..=100 (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// At most this many list requests (pages) in one poll while pages come back full, 1..=1000
    /// (default 10): a backlog is drained in commits of up to `page_size * max_pages_per_poll`
    /// events instead of one commit per page.
    #[serde(default = "default_max_pages_per_poll")]
    pub max_pages_per_poll: u32,
    /// At most this many requests of any kind in one poll: `/cursor` reads, token refreshes,
    /// list pages (default `max_pages_per_poll + 10`, which a poll never needs: its pages, two
    /// cursor reads, a page retried after a 404, token refreshes). A backstop: reached after some
    /// pages, the poll commits them (as when a later page fails); before any, it fails as
    /// transient. At least 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_poll: Option<u32>,
    /// At most this long for one poll, measured on the source's clock (rate-limiter waits
    /// included); each request's timeout is cut to the time left (default 120000 ms, at least
    /// 1000). Reached after some pages, the poll commits them; before any, it fails as transient.
    #[serde(default = "default_max_poll_time_ms")]
    pub max_poll_time_ms: u64,
    /// The largest answer body read, in bytes, 1024..=1073741824 (default 16 MiB); a larger one
    /// (by its `Content-Length`, or once read that far) is an error of that request.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Where a new source starts: `latest` (default, from now) or `oldest` (backfill what
    /// Egnyte still retains).
    #[serde(default)]
    pub start: StartPosition,
    /// Subtracted from the poll's start time to make the watermark (default 2000 ms).
    #[serde(default = "default_watermark_skew_ms")]
    pub watermark_skew_ms: u64,
    /// Timeout of every HTTP request (default 30000 ms).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How often a source (busy or idle) reads `/events/cursor` before its poll, to detect a reset
    /// event store and to move a filtered stream's id forward (default 900000 ms = 15 min): one
    /// extra call per interval.
    #[serde(default = "default_cursor_check_interval_ms")]
    pub cursor_check_interval_ms: u64,
    /// Put each wire event in `upstream.raw`. Unmapped events always carry it.
    #[serde(default)]
    pub keep_raw: bool,
    /// The scheduler's adaptive interval. Egnyte asks for 5 minutes or more between polls, and a
    /// token has 1,000 calls a day, so the default is 5 to 15 minutes.
    /// Fields left out are taken from [`default_poll_policy`].
    #[serde(
        default = "default_poll_policy",
        deserialize_with = "poll_over_defaults"
    )]
    pub poll: PollPolicy,
}

fn default_page_size() -> u32 {
    MAX_PAGE_SIZE
}
fn default_max_pages_per_poll() -> u32 {
    10
}
fn default_max_poll_time_ms() -> u64 {
    120_000
}
fn default_max_response_bytes() -> u64 {
    tributary_http::DEFAULT_MAX_RESPONSE_BYTES
}

/// Requests a poll may send besides its pages, when `max_requests_per_poll` is not set.
pub const REQUESTS_BESIDES_PAGES: u32 = 10;
/// The bounds of `max_response_bytes`: 1 KiB to 1 GiB.
pub const RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;
/// The shortest `max_poll_time_ms`: 1 s.
pub const MIN_POLL_TIME_MS: u64 = 1_000;

fn default_watermark_skew_ms() -> u64 {
    2_000
}
fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_cursor_check_interval_ms() -> u64 {
    900_000
}
/// Egnyte's guidance: poll every 5 minutes or more.
pub fn default_poll_policy() -> PollPolicy {
    PollPolicy {
        min_interval_ms: 300_000,
        max_interval_ms: 900_000,
        multiplier: 2.0,
        jitter: 0.1,
    }
}

/// A `poll` policy as given, its missing fields from [`default_poll_policy`].
fn poll_over_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PollPolicy, D::Error> {
    PollPolicy::deserialize_over(d, &default_poll_policy())
}

impl EgnyteConfig {
    /// A config with every default, for `base_url` and `credentials`.
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            domain: None,
            base_url: Some(base_url.into()),
            api_version: ApiVersion::default(),
            credentials,
            folder: None,
            types: Vec::new(),
            suppress: Suppress::default(),
            page_size: default_page_size(),
            max_pages_per_poll: default_max_pages_per_poll(),
            max_requests_per_poll: None,
            max_poll_time_ms: default_max_poll_time_ms(),
            max_response_bytes: default_max_response_bytes(),
            start: StartPosition::default(),
            watermark_skew_ms: default_watermark_skew_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            cursor_check_interval_ms: default_cursor_check_interval_ms(),
            keep_raw: false,
            poll: default_poll_policy(),
        }
    }

    /// Checks everything and returns the base URL requests go to (no trailing slash).
    pub fn validate(&self) -> Result<String, ConfigError> {
        let base = endpoint(self.domain.as_deref(), self.base_url.as_deref())?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::PageSize(self.page_size));
        }
        if !(1..=MAX_PAGES_PER_POLL).contains(&self.max_pages_per_poll) {
            return Err(ConfigError::MaxPagesPerPoll(self.max_pages_per_poll));
        }
        if let Some(n) = self.max_requests_per_poll
            && n < 2
        {
            return Err(ConfigError::MaxRequestsPerPoll(n));
        }
        if self.max_poll_time_ms < MIN_POLL_TIME_MS {
            return Err(ConfigError::MaxPollTime(self.max_poll_time_ms));
        }
        if !RESPONSE_BYTES_RANGE.contains(&self.max_response_bytes) {
            return Err(ConfigError::MaxResponseBytes(self.max_response_bytes));
        }
        if let Some(folder) = &self.folder
            && (!folder.starts_with('/') || folder.contains(['\n', '\r']))
        {
            return Err(ConfigError::Folder(folder.clone()));
        }
        for t in &self.types {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return Err(ConfigError::Type(t.clone()));
            }
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::Zero("request_timeout_ms"));
        }
        if self.cursor_check_interval_ms == 0 {
            return Err(ConfigError::Zero("cursor_check_interval_ms"));
        }
        self.credentials.validate()?;
        self.poll.validate()?;
        Ok(base)
    }

    /// Whether a filter (`folder`, `types`, `suppress`) can hide events, so that a quiet stream
    /// would not move its id forward by itself.
    pub fn is_filtered(&self) -> bool {
        self.folder.is_some() || !self.types.is_empty() || self.suppress != Suppress::None
    }

    /// The bounds of one poll: `max_requests_per_poll` (or its default) and `max_poll_time_ms`.
    pub fn poll_limits(&self) -> tributary_http::PollLimits {
        tributary_http::PollLimits {
            max_requests: self.max_requests_per_poll.unwrap_or(
                self.max_pages_per_poll
                    .saturating_add(REQUESTS_BESIDES_PAGES),
            ),
            max_time: Duration::from_millis(self.max_poll_time_ms),
        }
    }

    pub fn watermark_skew(&self) -> Duration {
        Duration::from_millis(self.watermark_skew_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn cursor_check_interval(&self) -> Duration {
        Duration::from_millis(self.cursor_check_interval_ms)
    }
}

/// The base URL requests go to, from exactly one of `domain` and `base_url` (the source config
/// and the OAuth endpoints both take it from here).
pub(crate) fn endpoint(
    domain: Option<&str>,
    base_url: Option<&str>,
) -> Result<String, ConfigError> {
    match (domain, base_url) {
        (Some(_), Some(_)) | (None, None) => Err(ConfigError::Endpoint),
        (Some(domain), None) => domain_url(domain),
        (None, Some(url)) => self::base_url(url),
    }
}

fn domain_url(domain: &str) -> Result<String, ConfigError> {
    let ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(ConfigError::Domain(domain.to_owned()));
    }
    if domain.contains('.') {
        Ok(format!("https://{domain}"))
    } else {
        Ok(format!("https://{domain}.egnyte.com"))
    }
}

fn base_url(url: &str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError::BaseUrl {
        url: url.to_owned(),
        reason,
    };
    let base = tributary_http::check_base_url(url).map_err(bad)?;
    // Every request adds `/pubapi/{v}/...`, so a base_url with a `pubapi` segment (`/pubapi`,
    // `/pubapi/`, `/pubapi/v2`) would ask for `/pubapi/pubapi/...` and fail at the first poll
    // with a 404. A prefix before it (a simulator behind a proxy) is kept.
    let has_pubapi = reqwest::Url::parse(url).is_ok_and(|u| {
        u.path_segments()
            .is_some_and(|mut s| s.any(|seg| seg.eq_ignore_ascii_case("pubapi")))
    });
    if has_pubapi {
        return Err(bad(
            "base_url is the domain's root, such as https://acme.egnyte.com; leave out /pubapi \
             (it is added to every request)"
                .into(),
        ));
    }
    Ok(base)
}

/// The Events API version: the path segment after `/pubapi/`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    V1,
    #[default]
    V2,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        }
    }
}

/// Egnyte's `suppress` parameter (notes §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Suppress {
    /// Hide every event made through our API key: we never echo our own writes.
    #[default]
    App,
    /// Hide events made through our API key by the token's user.
    User,
    /// Hide nothing.
    None,
}

impl Suppress {
    /// The query value, `None` when nothing is sent.
    pub fn as_param(self) -> Option<&'static str> {
        match self {
            Suppress::App => Some("app"),
            Suppress::User => Some("user"),
            Suppress::None => None,
        }
    }
}

/// Where a source without a checkpoint starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// After `/cursor`'s `latest_event_id`: only what happens from now on.
    #[default]
    Latest,
    /// From `/cursor`'s `oldest_event_id`: everything Egnyte still retains, except possibly the
    /// oldest event itself (the list is exclusive; see the provider docs).
    Oldest,
}

pub use tributary_core::Secret;

/// How requests are authenticated (notes §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// A bearer token that does not expire (Egnyte's classic tokens); a 401 means re-auth.
    Bearer { token: Secret },
    /// An OAuth2 client with a refresh token. The access token is refreshed through
    /// `POST /puboauth/token` (`grant_type=refresh_token`) before it expires when Egnyte gives it a
    /// lifetime (`expires_in > 0`); a token without one (`-1` or absent) is used until a 401.
    Oauth {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        /// A current access token, if one is at hand; otherwise the first request refreshes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token: Option<Secret>,
        /// When `access_token` expires; absent means it does not.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "tributary_core::time::millis_opt"
        )]
        access_token_expires_at: Option<DateTime<Utc>>,
    },
}

impl Credentials {
    pub fn bearer(token: impl Into<String>) -> Self {
        Credentials::Bearer {
            token: Secret::new(token),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let empty = |s: &str| s.trim().is_empty();
        match self {
            Credentials::Bearer { token } if empty(token.expose()) => {
                Err(ConfigError::Credentials("the bearer token is empty"))
            }
            Credentials::Oauth { client_id, .. } if empty(client_id) => {
                Err(ConfigError::Credentials("client_id is empty"))
            }
            Credentials::Oauth { refresh_token, .. } if empty(refresh_token.expose()) => {
                Err(ConfigError::Credentials("refresh_token is empty"))
            }
            _ => Ok(()),
        }
    }
}

/// A source config that cannot work; the message says which field and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("egnyte: set exactly one of `domain` (e.g. \"acme\") or `base_url`")]
    Endpoint,
    #[error(
        "egnyte: domain {0:?} is not a domain name: use the Egnyte domain (\"acme\" for acme.egnyte.com) or a host name"
    )]
    Domain(String),
    #[error("egnyte: base_url {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("egnyte: page_size must be between 1 and 100 (Egnyte's maximum), got {0}")]
    PageSize(u32),
    #[error("egnyte: max_pages_per_poll must be between 1 and 1000, got {0}")]
    MaxPagesPerPoll(u32),
    #[error("egnyte: max_requests_per_poll must be at least 2 (a cursor read and a page), got {0}")]
    MaxRequestsPerPoll(u32),
    #[error("egnyte: max_poll_time_ms must be at least 1000 (1 s), got {0}")]
    MaxPollTime(u64),
    #[error(
        "egnyte: max_response_bytes must be between 1024 (1 KiB) and 1073741824 (1 GiB), got {0}"
    )]
    MaxResponseBytes(u64),
    #[error("egnyte: folder {0:?} must be an absolute path such as \"/Shared/marketing\"")]
    Folder(String),
    #[error(
        "egnyte: event type {0:?} is not a type name (file_system, note, permission_change, ...)"
    )]
    Type(String),
    #[error("egnyte: {0} must be greater than 0")]
    Zero(&'static str),
    #[error("egnyte: credentials: {0}")]
    Credentials(&'static str),
    #[error("egnyte: {0}")]
    Poll(#[from] PollPolicyError),
    /// The base URL (or domain) is an IP literal the outbound policy forbids.
    #[error("egnyte: {0}")]
    AddressNotAllowed(#[from] tributary_http::AddressNotAllowed),
}

/// The JSON Schema of a source config ([`EgnyteConfig`]), for the API's document.
pub fn schema() -> serde_json::Value {
    use tributary_provider_kit::schema::{
        bearer_credentials, integer, oauth_credentials, one_of, poll_policy,
    };
    serde_json::json!({
        "type": "object",
        "title": "EgnyteConfig",
        "description": "An Egnyte source: set exactly one of `domain` or `base_url`.",
        "additionalProperties": false,
        "required": ["credentials"],
        "properties": {
            "domain": {"type": "string", "minLength": 1,
                "description": "`acme` for https://acme.egnyte.com, or a host name with a dot."},
            "base_url": {"type": "string", "minLength": 1,
                "description": "The base URL instead of a domain (no `/pubapi`)."},
            "api_version": one_of(&["v1", "v2"], "v2", "The path segment of /pubapi/{v}/events."),
            "credentials": {"oneOf": [bearer_credentials(), oauth_credentials()]},
            "folder": {"type": "string", "pattern": "^/",
                "description": "Only events for this folder and everything under it."},
            "types": {"type": "array", "items": {"type": "string", "minLength": 1},
                "description": "Only events of these types (`file_system`, `note`, ...)."},
            "suppress": one_of(&["app", "user", "none"], "app", "Whose events to hide."),
            "page_size": integer(1, MAX_PAGE_SIZE.into(), MAX_PAGE_SIZE.into(), "Events per request."),
            "max_pages_per_poll": integer(1, MAX_PAGES_PER_POLL.into(), 10, "List requests per poll while pages come back full."),
            "max_requests_per_poll": {"type": "integer", "minimum": 2,
                "description": "Requests of any kind per poll (default max_pages_per_poll + 10)."},
            "max_poll_time_ms": integer(MIN_POLL_TIME_MS, u64::MAX, 120_000, "Longest poll, on the source's clock."),
            "max_response_bytes": integer(*RESPONSE_BYTES_RANGE.start(), *RESPONSE_BYTES_RANGE.end(), tributary_http::DEFAULT_MAX_RESPONSE_BYTES, "Largest answer body read."),
            "start": one_of(&["latest", "oldest"], "latest", "Where a new source starts: `latest` is from its first poll on."),
            "watermark_skew_ms": {"type": "integer", "minimum": 0, "default": 2000},
            "request_timeout_ms": {"type": "integer", "minimum": 1, "default": 30000},
            "cursor_check_interval_ms": {"type": "integer", "minimum": 0, "default": 900000},
            "keep_raw": {"type": "boolean", "default": false},
            "poll": poll_policy()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<EgnyteConfig, String> {
        serde_json::from_value(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_a_minimal_config() {
        let c = parse(serde_json::json!({
            "domain": "acme",
            "credentials": {"kind": "bearer", "token": "t0k"}
        }))
        .unwrap();
        assert_eq!(c.validate().unwrap(), "https://acme.egnyte.com");
        assert_eq!(c.api_version, ApiVersion::V2);
        assert_eq!(c.suppress, Suppress::App);
        assert_eq!(c.page_size, 100);
        assert_eq!(c.max_pages_per_poll, 10);
        assert_eq!(c.max_requests_per_poll, None);
        assert_eq!(
            c.poll_limits(),
            tributary_http::PollLimits {
                max_requests: 20,
                max_time: Duration::from_secs(120)
            }
        );
        assert_eq!(c.max_response_bytes, 16 * 1024 * 1024);
        assert_eq!(c.start, StartPosition::Latest);
        assert_eq!(c.watermark_skew(), Duration::from_secs(2));
        assert_eq!(c.poll, default_poll_policy());
        assert!(!c.keep_raw);
        assert!(c.is_filtered(), "suppress=app filters");
    }

    #[test]
    fn a_partial_poll_policy_takes_egnytes_defaults_for_the_rest() {
        let c = parse(serde_json::json!({
            "domain": "acme",
            "credentials": {"kind": "bearer", "token": "t0k"},
            "poll": {"min_interval_ms": 2000}
        }))
        .unwrap();
        assert_eq!(
            c.poll,
            PollPolicy {
                min_interval_ms: 2_000,
                max_interval_ms: 900_000,
                multiplier: 2.0,
                jitter: 0.1,
            }
        );
        assert_eq!(c.validate().unwrap(), "https://acme.egnyte.com");
        let c = parse(serde_json::json!({
            "domain": "acme",
            "credentials": {"kind": "bearer", "token": "t0k"},
            "poll": {}
        }))
        .unwrap();
        assert_eq!(c.poll, default_poll_policy());
    }

    #[test]
    fn a_poll_policy_still_invalid_after_filling_names_the_field() {
        let with_poll = |poll: serde_json::Value| {
            parse(serde_json::json!({
                "domain": "acme",
                "credentials": {"kind": "bearer", "token": "t0k"},
                "poll": poll
            }))
        };
        // 1,000,000 ms above the default maximum of 900,000.
        let c = with_poll(serde_json::json!({"min_interval_ms": 1_000_000})).unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "egnyte: poll policy: max_interval_ms (900000) must be at least min_interval_ms (1000000)"
        );
        let c = with_poll(serde_json::json!({"multiplier": 0.5})).unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "egnyte: poll policy: multiplier must be a number >= 1.0, got 0.5"
        );
        let e = with_poll(serde_json::json!({"min_interval_ms": 2000, "max": 5})).unwrap_err();
        assert!(e.starts_with("unknown field `max`"), "{e}");
    }

    #[test]
    fn the_documented_example_is_valid() {
        // docs/providers/egnyte.md's TOML example, as JSON.
        let c = parse(serde_json::json!({"domain": "acme", "api_version": "v2",
            "folder": "/Shared/marketing", "types": ["file_system", "note"], "suppress": "app",
            "page_size": 100, "max_pages_per_poll": 10, "start": "latest", "watermark_skew_ms": 2000,
            "request_timeout_ms": 30000, "cursor_check_interval_ms": 900000, "keep_raw": false,
            "credentials": {"kind": "bearer", "token": "..."},
            "poll": {"min_interval_ms": 300000, "max_interval_ms": 900000, "multiplier": 2.0,
                     "jitter": 0.1}}))
        .unwrap();
        assert_eq!(c.validate().unwrap(), "https://acme.egnyte.com");
    }

    #[test]
    fn resolves_domains_and_base_urls() {
        let mut c = EgnyteConfig::new("http://127.0.0.1:8080/", Credentials::bearer("t"));
        assert_eq!(c.validate().unwrap(), "http://127.0.0.1:8080");
        c.base_url = None;
        c.domain = Some("acme.qa-egnyte.com".into());
        assert_eq!(c.validate().unwrap(), "https://acme.qa-egnyte.com");
        c.domain = Some("ac me".into());
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "egnyte: domain \"ac me\" is not a domain name: use the Egnyte domain (\"acme\" for acme.egnyte.com) or a host name"
        );
        c.base_url = Some("http://x".into());
        assert_eq!(c.validate().unwrap_err(), ConfigError::Endpoint);
        c.domain = None;
        c.base_url = Some("ftp://x".into());
        assert!(matches!(
            c.validate().unwrap_err(),
            ConfigError::BaseUrl { .. }
        ));
    }

    #[test]
    fn refuses_a_base_url_with_pubapi_and_says_what_to_write() {
        for url in [
            "https://acme.egnyte.com/pubapi",
            "https://acme.egnyte.com/pubapi/",
            "https://acme.egnyte.com/pubapi/v2",
            "https://acme.egnyte.com/PubAPI/v1/",
            "http://127.0.0.1:8080/sim/pubapi",
        ] {
            let c = EgnyteConfig::new(url, Credentials::bearer("t"));
            assert_eq!(
                c.validate().unwrap_err().to_string(),
                format!(
                    "egnyte: base_url {url:?} is not usable: base_url is the domain's root, such as \
                     https://acme.egnyte.com; leave out /pubapi (it is added to every request)"
                ),
            );
        }
        // A path prefix without a `pubapi` segment (a simulator behind a proxy) still works.
        for (url, base) in [
            ("http://127.0.0.1:8080/sim/", "http://127.0.0.1:8080/sim"),
            (
                "https://acme.egnyte.com/pubapix",
                "https://acme.egnyte.com/pubapix",
            ),
        ] {
            let c = EgnyteConfig::new(url, Credentials::bearer("t"));
            assert_eq!(c.validate().unwrap(), base);
        }
    }

    #[test]
    fn refuses_what_cannot_work_with_clear_messages() {
        let ok = EgnyteConfig::new("http://127.0.0.1:1", Credentials::bearer("t"));
        let bad = |f: fn(&mut EgnyteConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert_eq!(
            bad(|c| c.page_size = 101),
            "egnyte: page_size must be between 1 and 100 (Egnyte's maximum), got 101"
        );
        assert_eq!(
            bad(|c| c.page_size = 0),
            "egnyte: page_size must be between 1 and 100 (Egnyte's maximum), got 0"
        );
        assert_eq!(
            bad(|c| c.max_pages_per_poll = 0),
            "egnyte: max_pages_per_poll must be between 1 and 1000, got 0"
        );
        assert_eq!(
            bad(|c| c.max_pages_per_poll = 1001),
            "egnyte: max_pages_per_poll must be between 1 and 1000, got 1001"
        );
        assert_eq!(
            bad(|c| c.max_requests_per_poll = Some(1)),
            "egnyte: max_requests_per_poll must be at least 2 (a cursor read and a page), got 1"
        );
        assert_eq!(
            bad(|c| c.max_poll_time_ms = 999),
            "egnyte: max_poll_time_ms must be at least 1000 (1 s), got 999"
        );
        assert_eq!(
            bad(|c| c.max_response_bytes = 2 * 1024 * 1024 * 1024),
            "egnyte: max_response_bytes must be between 1024 (1 KiB) and 1073741824 (1 GiB), got 2147483648"
        );
        assert_eq!(
            bad(|c| c.folder = Some("Shared".into())),
            "egnyte: folder \"Shared\" must be an absolute path such as \"/Shared/marketing\""
        );
        assert_eq!(
            bad(|c| c.types = vec!["file_system|note".into()]),
            "egnyte: event type \"file_system|note\" is not a type name (file_system, note, permission_change, ...)"
        );
        assert_eq!(
            bad(|c| c.request_timeout_ms = 0),
            "egnyte: request_timeout_ms must be greater than 0"
        );
        assert_eq!(
            bad(|c| c.credentials = Credentials::bearer(" ")),
            "egnyte: credentials: the bearer token is empty"
        );
        assert_eq!(
            bad(|c| c.poll.min_interval_ms = 0),
            "egnyte: poll policy: min_interval_ms must be at least 1"
        );
    }

    #[test]
    fn refuses_unknown_keys_everywhere() {
        let err = parse(serde_json::json!({
            "domain": "acme", "pagesize": 5,
            "credentials": {"kind": "bearer", "token": "t"}
        }))
        .unwrap_err();
        assert!(err.contains("unknown field `pagesize`"), "{err}");
        let err = parse(serde_json::json!({
            "domain": "acme",
            "credentials": {"kind": "bearer", "token": "t", "secret": "x"}
        }))
        .unwrap_err();
        assert!(err.contains("unknown field `secret`"), "{err}");
    }

    #[test]
    fn reads_oauth_credentials_and_never_shows_secrets() {
        let c = parse(serde_json::json!({
            "base_url": "http://127.0.0.1:9",
            "suppress": "none", "types": ["file_system", "note"], "start": "oldest",
            "api_version": "v1",
            "credentials": {
                "kind": "oauth", "client_id": "cid", "client_secret": "cs3cret",
                "refresh_token": "r3fresh", "access_token": "acc3ss",
                "access_token_expires_at": "2026-01-05T10:00:00Z"
            }
        }))
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.api_version, ApiVersion::V1);
        assert_eq!(c.start, StartPosition::Oldest);
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("cs3cret") && !shown.contains("r3fresh") && !shown.contains("acc3ss"),
            "{shown}"
        );
        assert!(shown.contains("Secret(***)"));
    }
}
