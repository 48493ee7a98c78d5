//! What one Jive source is configured with, and the checks that refuse a config that cannot work.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use tributary_core::{PollPolicy, PollPolicyError};

/// The most items one list request asks for (notes §2.1: about 100 in practice).
pub const MAX_PAGE_SIZE: u32 = 100;

/// One Jive source. Deserialized from the source's provider config; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiveConfig {
    /// The instance's base URL, without `/api/core/v3` (`https://community.acme.com`, or
    /// `http://127.0.0.1:8080` for a simulator).
    pub base_url: String,
    pub credentials: Credentials,
    /// Only content of these types (`document`, `discussion`, `file`, ...). Empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Only content in these places, each a place URI (`https://…/api/core/v3/places/1042`) or
    /// `/places/1042`. Jive takes one place per request, so each place costs its own requests.
    /// Empty means every place the user can see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<String>,
    /// Items per list request, 2..=100 (default 100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// The longest time window one poll covers (default 7 days). A window whose first page comes
    /// back full is halved until it fits, so this only bounds catching up over quiet history.
    #[serde(default = "default_max_window_ms")]
    pub max_window_ms: u64,
    /// How far behind the instance's clock a window ends (`beforeDate = now − skew`), so that
    /// changes still being committed upstream are not missed (default 5000 ms).
    #[serde(default = "default_skew_ms")]
    pub skew_ms: u64,
    /// Where a new source starts.
    #[serde(default)]
    pub start: StartPosition,
    /// Timeout of every HTTP request (default 30000 ms).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// At most this many list requests for one window before the poll gives up as transient (a
    /// window whose content keeps changing under the scan; default 500). A poll reads one window,
    /// so this is the list requests of one poll; `max_requests_per_poll` bounds every request.
    #[serde(default = "default_max_requests_per_window")]
    pub max_requests_per_window: u32,
    /// At most this many requests of any kind in one poll (the version check, token refreshes,
    /// list pages) before it ends as a transient error (default 1000). A backstop above
    /// `max_requests_per_window`: a normal poll sends a few, halving a busy window tens per place.
    #[serde(default = "default_max_requests_per_poll")]
    pub max_requests_per_poll: u32,
    /// At most this long for one poll, measured on the source's clock; each request's timeout is
    /// cut to the time left, and past it the poll ends as a transient error (default 120000 ms).
    #[serde(default = "default_max_poll_time_ms")]
    pub max_poll_time_ms: u64,
    /// The largest answer body read, in bytes, 1024..=1073741824 (default 16 MiB); a larger one
    /// (by its `Content-Length`, or once read that far) fails the poll as transient.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Put each wire item (content or deletion marker) in `upstream.raw`.
    #[serde(default)]
    pub keep_raw: bool,
    /// The scheduler's adaptive interval (default 30 s to 5 min).
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
fn default_max_window_ms() -> u64 {
    7 * 24 * 3_600_000
}
fn default_skew_ms() -> u64 {
    5_000
}
fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_max_requests_per_window() -> u32 {
    500
}
fn default_max_requests_per_poll() -> u32 {
    1_000
}
fn default_max_poll_time_ms() -> u64 {
    120_000
}
fn default_max_response_bytes() -> u64 {
    tributary_http::DEFAULT_MAX_RESPONSE_BYTES
}

/// The bounds of `max_response_bytes`: 1 KiB to 1 GiB.
pub const RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;
/// The shortest `max_poll_time_ms`: 1 s.
pub const MIN_POLL_TIME_MS: u64 = 1_000;
/// Polling Jive costs two requests per window; 30 s to 5 minutes keeps an idle source cheap.
pub fn default_poll_policy() -> PollPolicy {
    PollPolicy {
        min_interval_ms: 30_000,
        max_interval_ms: 300_000,
        multiplier: 2.0,
        jitter: 0.1,
    }
}

/// A `poll` policy as given, its missing fields from [`default_poll_policy`].
fn poll_over_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PollPolicy, D::Error> {
    PollPolicy::deserialize_over(d, &default_poll_policy())
}

impl JiveConfig {
    /// A config with every default, for `base_url` and `credentials`.
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            types: Vec::new(),
            places: Vec::new(),
            page_size: default_page_size(),
            max_window_ms: default_max_window_ms(),
            skew_ms: default_skew_ms(),
            start: StartPosition::default(),
            request_timeout_ms: default_request_timeout_ms(),
            max_requests_per_window: default_max_requests_per_window(),
            max_requests_per_poll: default_max_requests_per_poll(),
            max_poll_time_ms: default_max_poll_time_ms(),
            max_response_bytes: default_max_response_bytes(),
            keep_raw: false,
            poll: default_poll_policy(),
        }
    }

    /// Checks everything and returns the base URL requests go to (no trailing slash).
    pub fn validate(&self) -> Result<String, ConfigError> {
        let base = base_url(&self.base_url)?;
        if !(2..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConfigError::PageSize(self.page_size));
        }
        for t in &self.types {
            let ok = !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(ConfigError::Type(t.clone()));
            }
        }
        for p in &self.places {
            if place_path(p).is_none() {
                return Err(ConfigError::Place(p.clone()));
            }
        }
        for (name, v) in [
            ("max_window_ms", self.max_window_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "max_requests_per_window",
                u64::from(self.max_requests_per_window),
            ),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        // The fewest requests a poll needs: a first page per place, one of deletions, and the
        // version check (the first poll's).
        let least = u32::try_from(self.places.len().max(1))
            .unwrap_or(u32::MAX)
            .saturating_add(2);
        if self.max_requests_per_poll < least {
            return Err(ConfigError::MaxRequestsPerPoll {
                got: self.max_requests_per_poll,
                least,
            });
        }
        if self.max_poll_time_ms < MIN_POLL_TIME_MS {
            return Err(ConfigError::MaxPollTime(self.max_poll_time_ms));
        }
        if !RESPONSE_BYTES_RANGE.contains(&self.max_response_bytes) {
            return Err(ConfigError::MaxResponseBytes(self.max_response_bytes));
        }
        self.credentials.validate()?;
        self.poll.validate()?;
        Ok(base)
    }

    /// The bounds of one poll.
    pub fn poll_limits(&self) -> tributary_http::PollLimits {
        tributary_http::PollLimits {
            max_requests: self.max_requests_per_poll,
            max_time: Duration::from_millis(self.max_poll_time_ms),
        }
    }

    pub fn skew(&self) -> Duration {
        Duration::from_millis(self.skew_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `/places/1042` for a place URI (`https://…/api/core/v3/places/1042`) or that path itself:
/// the form events carry in `object.parent`. `None` when it names no place.
pub fn place_path(place: &str) -> Option<String> {
    let at = place.rfind("/places/")?;
    let id = &place[at + "/places/".len()..];
    let id = id.trim_end_matches('/');
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("/places/{id}"))
}

/// The base URL requests go to (the source config and the OAuth endpoints both take it from here).
pub(crate) fn base_url(url: &str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError::BaseUrl {
        url: url.to_owned(),
        reason,
    };
    let base = tributary_http::check_base_url(url).map_err(bad)?;
    // The path as given: `https://x/api/` is refused, `https://x/api` (a path named so) is not.
    if reqwest::Url::parse(url).is_ok_and(|u| u.path().contains("/api/")) {
        return Err(bad(
            "give the instance's base URL, without /api/core/v3 (it is added to every request)"
                .into(),
        ));
    }
    Ok(base)
}

/// Where a source without a checkpoint starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// From now: nothing is listed at the first poll. Content that existed before is unknown, so
    /// its first change shows as `update` (even when it was a rename or a move).
    #[default]
    Latest,
    /// List everything once to learn the existing content, emitting nothing for it; later changes
    /// are told apart exactly (rename, move, update). Costs one pass over the community.
    Snapshot,
    /// Emit everything retained: every existing item as `add` (at its modification time) and
    /// every retained deletion marker as `delete`.
    Backfill,
}

pub use tributary_core::Secret;

/// How requests are authenticated (notes §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// HTTP Basic with a user's name and password.
    Basic { username: String, password: Secret },
    /// OAuth 2.0 from a Jive add-on: the access token is refreshed at `{base}/oauth2/token`
    /// before it expires and whenever Jive answers 401.
    Oauth {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        /// A current access token, if one is at hand; otherwise the first request refreshes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access_token: Option<Secret>,
        /// When `access_token` expires (as the OAuth callback stores it); absent means unknown:
        /// the token is used until Jive answers 401.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "tributary_core::time::millis_opt"
        )]
        access_token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Credentials::Basic { username, .. }
                if username.is_empty() || username.contains(':') =>
            {
                Err(ConfigError::Credentials(
                    "a Basic username must be non-empty and have no ':'".into(),
                ))
            }
            Credentials::Oauth {
                client_id,
                refresh_token,
                ..
            } if client_id.is_empty() || refresh_token.expose().is_empty() => Err(
                ConfigError::Credentials("OAuth needs a client_id and a refresh_token".into()),
            ),
            _ => Ok(()),
        }
    }
}

/// A config that cannot work, said so before the first request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("jive base_url {url:?} is not usable: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("jive page_size must be 2..=100, got {0}")]
    PageSize(u32),
    #[error("jive content type {0:?} is not a type name (letters, digits, '_')")]
    Type(String),
    #[error("jive place {0:?} is not a place URI (…/api/core/v3/places/N) or /places/N")]
    Place(String),
    #[error("jive {0} must be greater than 0")]
    Zero(&'static str),
    #[error(
        "jive max_requests_per_poll must be at least {least} (a first page per place, one for deletions and the version check), got {got}"
    )]
    MaxRequestsPerPoll { got: u32, least: u32 },
    #[error("jive max_poll_time_ms must be at least 1000 (1 s), got {0}")]
    MaxPollTime(u64),
    #[error("jive max_response_bytes must be between 1024 (1 KiB) and 1073741824 (1 GiB), got {0}")]
    MaxResponseBytes(u64),
    #[error("jive credentials: {0}")]
    Credentials(String),
    #[error("jive {0}")]
    Poll(#[from] PollPolicyError),
    /// The base URL is an IP literal the outbound policy forbids.
    #[error("jive base_url: {0}")]
    AddressNotAllowed(#[from] tributary_http::AddressNotAllowed),
}

/// The JSON Schema of a source config ([`JiveConfig`]), for the API's document.
pub fn schema() -> serde_json::Value {
    use tributary_provider_kit::schema::{
        basic_credentials, integer, oauth_credentials, one_of, poll_policy,
    };
    serde_json::json!({
        "type": "object",
        "title": "JiveConfig",
        "description": "A Jive source: the community's base URL (no `/api/core/v3`).",
        "additionalProperties": false,
        "required": ["base_url", "credentials"],
        "properties": {
            "base_url": {"type": "string", "minLength": 1},
            "credentials": {"oneOf": [basic_credentials(), oauth_credentials()]},
            "types": {"type": "array", "items": {"type": "string", "minLength": 1},
                "description": "Only contents of these types (`document`, `file`, ...)."},
            "places": {"type": "array", "items": {"type": "string", "minLength": 1},
                "description": "Only contents in these places (their URIs)."},
            "page_size": integer(2, MAX_PAGE_SIZE.into(), MAX_PAGE_SIZE.into(), "Items per request."),
            "max_window_ms": {"type": "integer", "minimum": 1, "default": default_max_window_ms()},
            "skew_ms": {"type": "integer", "minimum": 0, "default": default_skew_ms()},
            "start": one_of(&["latest", "oldest"], "latest", "Where a new source starts: `latest` is from its first poll on."),
            "request_timeout_ms": {"type": "integer", "minimum": 1, "default": default_request_timeout_ms()},
            "max_requests_per_window": {"type": "integer", "minimum": 1, "default": default_max_requests_per_window()},
            "max_requests_per_poll": {"type": "integer", "minimum": 1, "default": default_max_requests_per_poll()},
            "max_poll_time_ms": integer(MIN_POLL_TIME_MS, u64::MAX, default_max_poll_time_ms(), "Longest poll, on the source's clock."),
            "max_response_bytes": integer(*RESPONSE_BYTES_RANGE.start(), *RESPONSE_BYTES_RANGE.end(), tributary_http::DEFAULT_MAX_RESPONSE_BYTES, "Largest answer body read."),
            "keep_raw": {"type": "boolean", "default": false},
            "poll": poll_policy()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_config_takes_every_default() {
        let c: JiveConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://community.acme.com/",
            "credentials": {"kind": "basic", "username": "u", "password": "p"}
        }))
        .unwrap();
        assert_eq!(c.validate().unwrap(), "https://community.acme.com");
        assert_eq!(c.page_size, 100);
        assert_eq!(c.max_requests_per_window, 500);
        assert_eq!(c.max_requests_per_poll, 1_000);
        assert_eq!(c.max_poll_time_ms, 120_000);
        assert_eq!(c.max_response_bytes, 16 * 1024 * 1024);
        assert_eq!(c.start, StartPosition::Latest);
        assert!(!format!("{:?}", c.credentials).contains("\"p\""));
    }

    #[test]
    fn a_partial_poll_policy_takes_jives_defaults_for_the_rest() {
        let parse = |poll: serde_json::Value| {
            serde_json::from_value::<JiveConfig>(serde_json::json!({
                "base_url": "https://community.acme.com/",
                "credentials": {"kind": "basic", "username": "u", "password": "p"},
                "poll": poll
            }))
            .map_err(|e| e.to_string())
        };
        let c = parse(serde_json::json!({"min_interval_ms": 2000})).unwrap();
        // Jive's defaults, not Egnyte's (whose maximum is 900,000 ms).
        assert_eq!(
            c.poll,
            PollPolicy {
                min_interval_ms: 2_000,
                max_interval_ms: 300_000,
                multiplier: 2.0,
                jitter: 0.1,
            }
        );
        assert_eq!(c.validate().unwrap(), "https://community.acme.com");
        let c = parse(serde_json::json!({"min_interval_ms": 400_000})).unwrap();
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "jive poll policy: max_interval_ms (300000) must be at least min_interval_ms (400000)"
        );
        let e = parse(serde_json::json!({"jitterr": 0.2})).unwrap_err();
        assert!(e.starts_with("unknown field `jitterr`"), "{e}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        let base = JiveConfig::new("http://127.0.0.1:1", Credentials::basic("u", "p"));
        let cases: Vec<(JiveConfig, &str)> = vec![
            (
                JiveConfig {
                    base_url: "https://x.example/api/core/v3".into(),
                    ..base.clone()
                },
                "without /api/core/v3",
            ),
            (
                JiveConfig {
                    page_size: 1,
                    ..base.clone()
                },
                "page_size must be 2..=100, got 1",
            ),
            (
                JiveConfig {
                    places: vec!["/groups/ops".into()],
                    ..base.clone()
                },
                "is not a place URI",
            ),
            (
                JiveConfig {
                    types: vec!["doc ument".into()],
                    ..base.clone()
                },
                "is not a type name",
            ),
            (
                JiveConfig {
                    max_window_ms: 0,
                    ..base.clone()
                },
                "max_window_ms must be greater than 0",
            ),
            (
                JiveConfig {
                    places: vec!["/places/1".into(), "/places/2".into()],
                    max_requests_per_poll: 3,
                    ..base.clone()
                },
                "max_requests_per_poll must be at least 4 (a first page per place, one for deletions and the version check), got 3",
            ),
            (
                JiveConfig {
                    max_poll_time_ms: 999,
                    ..base.clone()
                },
                "max_poll_time_ms must be at least 1000 (1 s), got 999",
            ),
            (
                JiveConfig {
                    max_response_bytes: 1023,
                    ..base.clone()
                },
                "max_response_bytes must be between 1024 (1 KiB) and 1073741824 (1 GiB), got 1023",
            ),
            (
                JiveConfig {
                    credentials: Credentials::basic("", "p"),
                    ..base.clone()
                },
                "Basic username",
            ),
        ];
        for (config, says) in cases {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.contains(says), "{e:?} should say {says:?}");
        }
        let unknown = serde_json::from_value::<JiveConfig>(serde_json::json!({
            "base_url": "https://x.example",
            "credentials": {"kind": "basic", "username": "u", "password": "p"},
            "window": 5
        }));
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `window`")
        );
    }

    #[test]
    fn place_paths_come_from_uris_or_paths() {
        assert_eq!(
            place_path("https://c.example/api/core/v3/places/1042").as_deref(),
            Some("/places/1042")
        );
        assert_eq!(place_path("/places/7").as_deref(), Some("/places/7"));
        assert_eq!(place_path("/places/").as_deref(), None);
        assert_eq!(place_path("/groups/7").as_deref(), None);
    }
}
