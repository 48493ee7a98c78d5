//! `tributary serve`'s configuration: the commented defaults embedded in the binary
//! (`config/config.default.toml`), then the user's file, then `TRIBUTARY_*` environment
//! variables, then validation with messages that name the field.

use crate::api::{AdminKeyEntry, KeyEntry};
pub use crate::metrics::MetricsAuth;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The defaults, with a comment on every key.
pub const DEFAULT_TOML: &str = include_str!("../config/config.default.toml");

/// The `TRIBUTARY_*` variables (without the prefix) that the binary reads itself, not the
/// configuration: the log filter and format, `events tail`'s API and key, and the secret keys
/// ([`crate::secrets`]). Every other `TRIBUTARY_*` variable must name a key of the
/// configuration, so a misspelt one stops the start.
pub const BINARY_VARIABLES: &[&str] = &[
    "LOG",
    "LOG_FORMAT",
    "API",
    "API_KEY",
    "SECRET_KEY",
    "SECRET_KEY_PREVIOUS",
];

/// Whether a `TRIBUTARY_*` variable (named without the prefix) is for the configuration. Figment
/// hands the name as it is spelt (`LOG_FORMAT`, not `log_format`), so the comparison ignores case.
fn is_configuration_variable(name: &figment::value::UncasedStr) -> bool {
    !BINARY_VARIABLES.iter().any(|own| name == *own)
}

/// Everything `serve` runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: EngineSection,
    /// `[providers.<name>]`: settings shared by every source of a provider (Egnyte's
    /// `calls_per_second`, say), handed to its factory as they are; a table that names no
    /// provider of the build stops the start.
    #[serde(default)]
    pub providers: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    /// Keys that create, list and delete tenants' keys (`/v1/keys`) and read nothing else.
    #[serde(default)]
    pub admin_keys: Vec<AdminKeyEntry>,
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
    /// How long each tenant's log keeps events, applied periodically while `serve` runs.
    #[serde(default)]
    pub retention: RetentionSection,
    /// Who may read `/metrics`.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Which otherwise forbidden addresses outbound requests may reach.
    #[serde(default)]
    pub network: NetworkSection,
    /// Per-tenant limits and request bounds of the API.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Where the key that seals credentials at rest comes from ([`crate::secrets`]).
    #[serde(default)]
    pub secrets: crate::secrets::SecretsSection,
    /// The free-space guard and how long store calls may take.
    #[serde(default)]
    pub storage: StorageSection,
    /// How the webhook dispatcher retries, times out and disables ([`crate::webhooks`]).
    #[serde(default)]
    pub webhooks: WebhooksSection,
}

/// `[network]`: outbound requests to addresses a tenant chose (providers' base URLs and domains,
/// OAuth token URLs) never reach loopback, private, link-local, shared, multicast, unspecified,
/// broadcast or documentation addresses, except those in `allow_private`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// CIDRs (`"10.20.0.0/16"`, `"127.0.0.1/32"`, `"fd00::/8"`); a bare address is one host.
    #[serde(default)]
    pub allow_private: Vec<String>,
}

impl NetworkSection {
    /// The policy the outbound client enforces; the field at fault when a CIDR does not parse.
    pub fn policy(&self) -> Result<tributary_http::AddressPolicy, ConfigError> {
        let nets = self
            .allow_private
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let text = text.trim();
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError::Invalid {
                        field: format!("network.allow_private[{i}]"),
                        message: format!(
                            "{:?} is not a CIDR such as \"10.0.0.0/8\" or \"127.0.0.1/32\"",
                            excerpt(text)
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tributary_http::AddressPolicy::allowing(nets))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub max_concurrent_polls: usize,
    pub merge_max_delay_ms: u64,
    pub merge_interval_ms: u64,
    pub shutdown_grace_ms: u64,
}

/// `[retention]`: each tenant's log keeps events younger than `max_age` and at most
/// `max_events` of them; a pass runs at start-up and then every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSection {
    /// `None` ("off"): events of any age stay.
    #[serde(deserialize_with = "duration::deserialize_or_off")]
    pub max_age: Option<Duration>,
    /// `None` (the key left out): no limit on the count.
    #[serde(default)]
    pub max_events: Option<u64>,
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for RetentionSection {
    /// The values of `config.default.toml`.
    fn default() -> Self {
        Self {
            max_age: Some(Duration::from_secs(30 * 24 * 60 * 60)),
            max_events: None,
            interval: Duration::from_secs(10 * 60),
        }
    }
}

impl RetentionSection {
    /// What a pass removes; `None` when neither limit is set (no pass runs).
    pub fn policy(&self) -> Option<crate::retention::RetentionPolicy> {
        if self.max_age.is_none() && self.max_events.is_none() {
            return None;
        }
        Some(crate::retention::RetentionPolicy {
            retention: tributary_store::Retention {
                max_age: self.max_age,
                max_events: self.max_events,
            },
            interval: self.interval,
        })
    }
}

/// `[metrics]`: who may read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `"admin"` (the default): an admin key; `"none"`: anyone who reaches the port.
    pub auth: MetricsAuth,
}

impl Default for MetricsSection {
    /// The value of `config.default.toml`: tenants' source ids are not for anonymous callers.
    fn default() -> Self {
        Self {
            auth: MetricsAuth::Admin,
        }
    }
}

/// `[limits]`: what one tenant (or key) may hold at once, and the HTTP server's request bounds
/// ([`crate::api::Limits`], whose defaults these are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub oauth_pending_per_tenant: usize,
    pub streams_per_tenant: usize,
    pub streams_per_key: usize,
    pub sources_per_tenant: usize,
    pub max_config_bytes: usize,
    pub max_credentials_bytes: usize,
    pub max_body_bytes: usize,
    #[serde(deserialize_with = "duration::deserialize")]
    pub header_read_timeout: Duration,
}

impl Default for LimitsSection {
    /// The values of `config.default.toml`.
    fn default() -> Self {
        Self::from(crate::api::Limits::default())
    }
}

impl From<crate::api::Limits> for LimitsSection {
    fn from(l: crate::api::Limits) -> Self {
        Self {
            oauth_pending_per_tenant: l.oauth_pending_per_tenant,
            streams_per_tenant: l.streams_per_tenant,
            streams_per_key: l.streams_per_key,
            sources_per_tenant: l.sources_per_tenant,
            max_config_bytes: l.max_config_bytes,
            max_credentials_bytes: l.max_credentials_bytes,
            max_body_bytes: l.max_body_bytes,
            header_read_timeout: l.header_read_timeout,
        }
    }
}

impl LimitsSection {
    /// The limits the API enforces.
    pub fn limits(&self) -> crate::api::Limits {
        crate::api::Limits {
            oauth_pending_per_tenant: self.oauth_pending_per_tenant,
            streams_per_tenant: self.streams_per_tenant,
            streams_per_key: self.streams_per_key,
            sources_per_tenant: self.sources_per_tenant,
            max_config_bytes: self.max_config_bytes,
            max_credentials_bytes: self.max_credentials_bytes,
            max_body_bytes: self.max_body_bytes,
            header_read_timeout: self.header_read_timeout,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: String| {
            Err(ConfigError::Invalid {
                field: format!("limits.{field}"),
                message,
            })
        };
        let max_pending = crate::api::oauth::MAX_PENDING;
        if !(1..=max_pending).contains(&self.oauth_pending_per_tenant) {
            return invalid(
                "oauth_pending_per_tenant",
                format!("must be from 1 to {max_pending} (the server-wide cap)"),
            );
        }
        for (field, value) in [
            ("streams_per_tenant", self.streams_per_tenant),
            ("streams_per_key", self.streams_per_key),
            ("sources_per_tenant", self.sources_per_tenant),
        ] {
            if value == 0 {
                return invalid(field, "must be at least 1".into());
            }
        }
        for (field, value) in [
            ("max_config_bytes", self.max_config_bytes),
            ("max_credentials_bytes", self.max_credentials_bytes),
            ("max_body_bytes", self.max_body_bytes),
        ] {
            if value < 256 {
                return invalid(field, "must be at least 256".into());
            }
        }
        if self.header_read_timeout < Duration::from_millis(100) {
            return invalid("header_read_timeout", "must be at least 100ms".into());
        }
        Ok(())
    }
}

/// `[storage]`: ingest pauses while the data directory has less than `min_free_bytes` free
/// (measured every `check_interval`); store reads wait at most `read_timeout` and writes
/// `write_timeout`; when writes keep failing (or one stays stuck) for `exit_after`, the process
/// exits with status 74 ([`crate::storage::EXIT_STORE_FAILED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Bytes; 0: never pause.
    pub min_free_bytes: u64,
    #[serde(deserialize_with = "duration::deserialize")]
    pub check_interval: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub read_timeout: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub write_timeout: Duration,
    /// `None` ("off"): never exit on the store's account.
    #[serde(deserialize_with = "duration::deserialize_or_off")]
    pub exit_after: Option<Duration>,
}

impl Default for StorageSection {
    /// The values of `config.default.toml`.
    fn default() -> Self {
        Self {
            min_free_bytes: 512 * 1024 * 1024,
            check_interval: Duration::from_secs(10),
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            exit_after: Some(Duration::from_secs(60)),
        }
    }
}

impl StorageSection {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| ConfigError::Invalid {
            field: format!("storage.{field}"),
            message: message.to_owned(),
        };
        let at_least_100ms = Duration::from_millis(100);
        if self.check_interval < at_least_100ms {
            return Err(invalid("check_interval", "must be at least 100ms"));
        }
        if self.read_timeout < at_least_100ms {
            return Err(invalid("read_timeout", "must be at least 100ms"));
        }
        if self.write_timeout < self.read_timeout {
            return Err(invalid("write_timeout", "must be at least read_timeout"));
        }
        if self
            .exit_after
            .is_some_and(|after| after < self.write_timeout)
        {
            return Err(invalid(
                "exit_after",
                "must be at least write_timeout (or \"off\")",
            ));
        }
        Ok(())
    }
}

/// `[webhooks]`: the dispatcher's retry schedule (Svix's by default), the jitter applied to each
/// step, how long one request may take, how long a subscription may fail before it is disabled,
/// and how many requests are in flight at once.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    #[serde(deserialize_with = "duration::deserialize_list")]
    pub retry_schedule: Vec<Duration>,
    /// A fraction: each delay is moved by up to ± this much of itself (0 to 1).
    pub jitter: f64,
    #[serde(deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
    #[serde(deserialize_with = "duration::deserialize")]
    pub disable_after: Duration,
    pub max_concurrent: usize,
    /// Subscriptions one tenant may have (`429 tenant_limit` beyond).
    pub subscriptions_per_tenant: usize,
    /// How long a rotated-out secret still signs (`PATCH … rotate_secret`).
    #[serde(deserialize_with = "duration::deserialize")]
    pub secret_rotation_grace: Duration,
}

impl Default for WebhooksSection {
    /// The values of `config.default.toml`.
    fn default() -> Self {
        let c = crate::webhooks::DispatcherConfig::default();
        Self {
            retry_schedule: c.retry_schedule,
            jitter: c.jitter,
            request_timeout: c.request_timeout,
            disable_after: c.disable_after,
            max_concurrent: c.max_concurrent,
            subscriptions_per_tenant: crate::api::ApiConfig::default().subscriptions_per_tenant,
            secret_rotation_grace: crate::api::ApiConfig::default().secret_rotation_grace,
        }
    }
}

impl WebhooksSection {
    /// What the dispatcher runs with.
    pub fn dispatcher_config(&self) -> crate::webhooks::DispatcherConfig {
        crate::webhooks::DispatcherConfig {
            retry_schedule: self.retry_schedule.clone(),
            jitter: self.jitter,
            request_timeout: self.request_timeout,
            disable_after: self.disable_after,
            max_concurrent: self.max_concurrent,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| ConfigError::Invalid {
            field: format!("webhooks.{field}"),
            message: message.to_owned(),
        };
        if self.retry_schedule.is_empty() {
            return Err(invalid("retry_schedule", "must hold at least one delay"));
        }
        if self.retry_schedule.iter().any(|d| d.is_zero()) {
            return Err(invalid(
                "retry_schedule",
                "every delay must be greater than 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(invalid("jitter", "must be from 0 to 1"));
        }
        if self.request_timeout < Duration::from_millis(100) {
            return Err(invalid("request_timeout", "must be at least 100ms"));
        }
        if self.disable_after.is_zero() {
            return Err(invalid("disable_after", "must be greater than 0"));
        }
        if self.max_concurrent == 0 {
            return Err(invalid("max_concurrent", "must be at least 1"));
        }
        if self.subscriptions_per_tenant == 0 {
            return Err(invalid("subscriptions_per_tenant", "must be at least 1"));
        }
        Ok(())
    }
}

/// Durations written as a whole number and a unit: `500ms`, `90s`, `10m`, `36h`, `30d`.
mod duration {
    use serde::Deserializer;
    use serde::de::{Error, Visitor};
    use std::fmt;
    use std::time::Duration;

    const UNITS: [(&str, u64); 5] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
    ];

    /// `"30d"` → 30 days; the reason in words otherwise.
    pub(super) fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit.trim())
            .map(|(_, ms)| *ms);
        match (number.parse::<u64>(), per_unit) {
            (Ok(n), Some(ms)) => n
                .checked_mul(ms)
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{text:?} is too long")),
            _ => Err(format!(
                "expected a whole number and a unit (ms, s, m, h, d) such as \"30d\" or \"10m\", \
                 found {:?}",
                super::excerpt(text)
            )),
        }
    }

    struct Text {
        off: bool,
    }

    impl Visitor<'_> for Text {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"30d\" or \"10m\"")?;
            if self.off {
                f.write_str(", or \"off\"")?;
            }
            Ok(())
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            if self.off && v.trim() == "off" {
                return Ok(None);
            }
            parse(v).map(Some).map_err(E::custom)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "{v} has no unit: write \"{v}s\", \"{v}m\", \"{v}h\" or \"{v}d\""
            )))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::custom(format!(
                    "{v} is not a duration such as \"30d\" or \"10m\""
                ))),
            }
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(Text { off: false })?
            .ok_or_else(|| D::Error::custom("a duration is required here"))
    }

    /// A list of durations: `["5s", "5m"]`.
    pub(super) fn deserialize_list<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Duration>, D::Error> {
        let texts: Vec<String> = serde::Deserialize::deserialize(d)?;
        texts
            .iter()
            .map(|t| parse(t).map_err(D::Error::custom))
            .collect()
    }

    pub(super) fn deserialize_or_off<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(Text { off: true })
    }
}

/// At most the first 100 characters of what the user wrote, for a message.
fn excerpt(text: &str) -> String {
    text.chars().take(100).collect()
}

/// One configured source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    pub id: String,
    pub tenant: String,
    pub provider: String,
    #[serde(default = "empty_table")]
    pub config: serde_json::Value,
    #[serde(default)]
    pub credentials: serde_json::Value,
    #[serde(default)]
    pub paused: bool,
}

fn empty_table() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A configuration that cannot run, said before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Read(String),
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("configuration: {field} {message}")]
    Invalid { field: String, message: String },
}

impl ServerConfig {
    /// Defaults, then `file` (when given), then the environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, Env::prefixed("TRIBUTARY_"))
    }

    fn load_with(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        /// The error, with where settings of a provider go when a top-level table is unknown
        /// (`[egnyte]` of earlier versions is `[providers.egnyte]`).
        fn with_hint(e: figment::Error) -> String {
            match &e.kind {
                figment::error::Kind::UnknownField(name, _) if e.path.len() <= 1 => format!(
                    "{e}; a provider's settings go under [providers.<name>], so [{name}] may be \
                     meant as [providers.{name}]"
                ),
                _ => e.to_string(),
            }
        }

        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Missing(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let env = env.filter(is_configuration_variable).split("__");
        let config: ServerConfig = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Read(with_hint(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The checks serde cannot make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        let e = &self.engine;
        if e.max_concurrent_polls == 0 {
            return invalid("engine.max_concurrent_polls", "must be at least 1");
        }
        if e.merge_interval_ms == 0 {
            return invalid("engine.merge_interval_ms", "must be greater than 0");
        }
        let r = &self.retention;
        if r.max_age == Some(Duration::ZERO) {
            return invalid(
                "retention.max_age",
                "must be greater than 0 (\"off\" keeps events of any age)",
            );
        }
        if r.max_events == Some(0) {
            return invalid(
                "retention.max_events",
                "must be at least 1 (leave it out for no limit)",
            );
        }
        if r.interval < Duration::from_secs(1) {
            return invalid("retention.interval", "must be at least 1s");
        }
        self.network.policy()?;
        self.limits.validate()?;
        self.storage.validate()?;
        self.webhooks.validate()?;
        self.api_keys()?;
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let field = format!("sources[{i}]");
            if let Err(e) = tributary_core::SourceId::new(s.id.clone()) {
                return invalid(&format!("{field}.id"), &e.to_string());
            }
            if !seen.insert(s.id.as_str()) {
                return invalid(
                    &format!("{field}.id"),
                    &format!("{:?} is configured twice", s.id),
                );
            }
            if s.tenant.is_empty() {
                return invalid(&format!("{field}.tenant"), "must not be empty");
            }
            if !s.config.is_object() {
                return invalid(&format!("{field}.config"), "must be a table");
            }
        }
        for (i, k) in self.keys.iter().enumerate() {
            if let Some(source) = &k.source
                && let Some(s) = self.sources.iter().find(|s| &s.id == source)
                && s.tenant != k.tenant
            {
                return invalid(
                    &format!("keys[{i}].source"),
                    &format!(
                        "{source:?} belongs to tenant {:?}, not {:?}",
                        s.tenant, k.tenant
                    ),
                );
            }
        }
        Ok(())
    }

    /// The configured tenant and admin keys, checked: each entry gives exactly one of `key` and
    /// `key_sha256`, no key is given twice, and no admin key is also a tenant's key.
    pub fn api_keys(&self) -> Result<crate::api::ApiKeys, ConfigError> {
        let invalid = |field: &str| {
            let field = field.to_owned();
            move |e: crate::api::KeyConfigError| ConfigError::Invalid {
                field,
                message: e.to_string(),
            }
        };
        crate::api::ApiKeys::new(self.keys.clone())
            .map_err(invalid("keys"))?
            .with_admins(self.admin_keys.clone())
            .map_err(invalid("admin_keys"))
    }

    pub fn engine_config(&self) -> crate::engine::EngineConfig {
        crate::engine::EngineConfig {
            max_concurrent_polls: self.engine.max_concurrent_polls,
            merge_max_delay: Duration::from_millis(self.engine.merge_max_delay_ms),
            merge_interval: Duration::from_millis(self.engine.merge_interval_ms),
            shutdown_grace: Some(Duration::from_millis(self.engine.shutdown_grace_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("tributary.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn no_env() -> Env {
        Env::prefixed("TRIBUTARY_TEST_NOTHING_")
    }

    #[test]
    fn the_defaults_alone_are_valid() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.engine.merge_max_delay_ms, 60_000);
        assert!(c.sources.is_empty());
    }

    #[test]
    fn the_embedded_defaults_are_the_sections_defaults() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.retention, RetentionSection::default());
        assert_eq!(c.retention.max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(c.retention.max_events, None);
        assert_eq!(c.retention.interval, Duration::from_secs(600));
        assert_eq!(c.metrics, MetricsSection::default());
        assert_eq!(c.metrics.auth, MetricsAuth::Admin);
    }

    #[test]
    fn network_allows_no_private_address_by_default_and_names_a_bad_cidr() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.network, NetworkSection::default());
        assert_eq!(
            c.network.policy().unwrap(),
            tributary_http::AddressPolicy::strict()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "[network]\nallow_private = [\"127.0.0.1/32\", \"10.20.0.0/16\", \"fd00::1\"]\n",
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        let policy = c.network.policy().unwrap();
        let allowed: Vec<String> = policy.allowed().iter().map(|n| n.to_string()).collect();
        assert_eq!(allowed, ["127.0.0.1/32", "10.20.0.0/16", "fd00::1/128"]);
        assert_eq!(policy.check("10.20.3.4".parse().unwrap()), Ok(()));
        assert!(policy.check("10.21.0.1".parse().unwrap()).is_err());

        let path = write(
            &dir,
            "[network]\nallow_private = [\"127.0.0.1/32\", \"10.0.0.0/33\"]\n",
        );
        let e = ServerConfig::load_with(Some(&path), no_env()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration: network.allow_private[1] \"10.0.0.0/33\" is not a CIDR such as \
             \"10.0.0.0/8\" or \"127.0.0.1/32\""
        );
    }

    #[test]
    fn retention_and_metrics_are_read_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "[retention]\nmax_events = 500\ninterval = \"90s\"\n[metrics]\nauth = \"none\"\n",
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(
            (
                c.retention.max_age,
                c.retention.max_events,
                c.retention.interval
            ),
            (
                Some(Duration::from_secs(30 * 86_400)),
                Some(500),
                Duration::from_secs(90)
            ),
            "max_age keeps its default"
        );
        assert_eq!(c.metrics.auth, MetricsAuth::Open);
        let policy = c.retention.policy().unwrap();
        assert_eq!(policy.retention.max_events, Some(500));

        let path = write(&dir, "[retention]\nmax_age = \"off\"\n");
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(c.retention.max_age, None);
        assert!(c.retention.policy().is_none(), "no limit: no pass");
    }

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        for (text, ms) in [
            ("250ms", 250),
            ("90s", 90_000),
            ("10m", 600_000),
            (" 36h ", 129_600_000),
            ("30d", 2_592_000_000),
            ("0s", 0),
        ] {
            assert_eq!(
                duration::parse(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for text in [
            "",
            "10",
            "d",
            "1.5h",
            "-1s",
            "10 weeks",
            "18446744073709551615d",
        ] {
            assert!(duration::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn the_binarys_variables_are_not_configuration_keys() {
        // What figment hands the filter: the name without the prefix, as it is spelt.
        let key = |name: &str| is_configuration_variable(figment::value::UncasedStr::new(name));
        for name in [
            "LOG",
            "LOG_FORMAT",
            "API",
            "API_KEY",
            "log_format",
            "SECRET_KEY",
            "SECRET_KEY_PREVIOUS",
        ] {
            assert!(!key(name), "{name}");
        }
        for name in ["LISTEN", "DATA_DIR", "ENGINE__MAX_CONCURRENT_POLLS", "LOGS"] {
            assert!(key(name), "{name}");
        }
    }

    #[test]
    fn a_file_overrides_the_defaults_and_describes_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            r#"
listen = "127.0.0.1:0"
[engine]
merge_max_delay_ms = 5000
[[keys]]
tenant = "acme"
key = "k1"
[[sources]]
id = "jive-acme"
tenant = "acme"
provider = "jive"
[sources.config]
base_url = "http://127.0.0.1:9"
[sources.credentials]
kind = "basic"
username = "u"
password = "p"
"#,
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(c.engine.merge_max_delay_ms, 5_000);
        assert_eq!(c.engine.merge_interval_ms, 500, "untouched defaults stay");
        assert_eq!(c.sources[0].credentials["username"], "u");
    }

    #[test]
    fn limits_default_to_the_apis_and_are_read_and_checked() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.limits, LimitsSection::default());
        assert_eq!(c.limits.limits(), crate::api::Limits::default());
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "[limits]\nstreams_per_key = 3\nheader_read_timeout = \"2s\"\n",
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        let limits = c.limits.limits();
        assert_eq!(
            (limits.streams_per_key, limits.header_read_timeout),
            (3, Duration::from_secs(2))
        );
        assert_eq!(limits.streams_per_tenant, 50, "untouched defaults stay");
        for (text, says) in [
            (
                "oauth_pending_per_tenant = 10001",
                "limits.oauth_pending_per_tenant must be from 1 to 10000",
            ),
            (
                "sources_per_tenant = 0",
                "limits.sources_per_tenant must be at least 1",
            ),
            (
                "max_body_bytes = 10",
                "limits.max_body_bytes must be at least 256",
            ),
            (
                "header_read_timeout = \"10ms\"",
                "limits.header_read_timeout must be at least 100ms",
            ),
            ("streams = 3", "unknown field"),
        ] {
            let path = write(&dir, &format!("[limits]\n{text}\n"));
            let e = ServerConfig::load_with(Some(&path), no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn admin_keys_are_read_and_told_apart_from_tenant_keys() {
        let dir = tempfile::tempdir().unwrap();
        let hash = crate::api::key_sha256_hex("root");
        let path = write(
            &dir,
            &format!(
                "[[keys]]\ntenant = \"acme\"\nkey = \"k1\"\n\
                 [[admin_keys]]\nkey_sha256 = \"{hash}\"\n[[admin_keys]]\nkey = \"root-2\"\n"
            ),
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(
            c.admin_keys,
            [AdminKeyEntry::hashed(hash), AdminKeyEntry::new("root-2")]
        );
        let keys = c.api_keys().unwrap();
        assert!(keys.tenant("root").is_none(), "an admin key has no tenant");
        assert_eq!(keys.tenant("k1").unwrap().as_str(), "acme");
        assert!(
            ServerConfig::load_with(None, no_env())
                .unwrap()
                .admin_keys
                .is_empty(),
            "no admin key by default"
        );
    }

    #[test]
    fn admin_key_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, says) in [
            (
                "[[admin_keys]]\ntenant = \"t\"\nkey = \"k\"",
                "unknown field: found `tenant`",
            ),
            (
                "[[admin_keys]]\nkey = \"k\"\nkey_sha256 = \"00\"",
                "admin_keys admin key entry 0: give exactly one of `key` and `key_sha256`",
            ),
            (
                "[[admin_keys]]\n",
                "admin_keys admin key entry 0: give exactly one of `key` and `key_sha256`",
            ),
            (
                "[[admin_keys]]\nkey = \"\"",
                "admin_keys admin key entry 0: the key must not be empty",
            ),
            (
                "[[admin_keys]]\nkey_sha256 = \"xyz\"",
                "admin_keys admin key entry 0: `key_sha256` must be 64 hexadecimal characters",
            ),
            (
                "[[admin_keys]]\nkey = \"k\"\n[[admin_keys]]\nkey = \"k\"",
                "admin_keys admin key entry 1 repeats the key of admin key entry 0",
            ),
            (
                "[[keys]]\ntenant = \"t\"\nkey = \"k\"\n[[admin_keys]]\nkey = \"k\"",
                "admin_keys admin key entry 0 is also a key of tenant \"t\"",
            ),
        ] {
            let path = write(&dir, text);
            let e = ServerConfig::load_with(Some(&path), no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text:?}: {e:?} should say {says:?}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, says) in [
            ("lisen = \"x\"", "unknown field: found `lisen`"),
            (
                "[egnyte]\ncalls_per_second = 4",
                "[egnyte] may be meant as [providers.egnyte]",
            ),
            (
                "[retention]\nmax_age = 30",
                "30 has no unit: write \"30s\", \"30m\", \"30h\" or \"30d\"",
            ),
            (
                "[retention]\ninterval = \"soon\"",
                "expected a whole number and a unit (ms, s, m, h, d)",
            ),
            (
                "[retention]\ninterval = \"off\"",
                "expected a whole number and a unit",
            ),
            (
                "[retention]\nmax_age = \"0d\"",
                "retention.max_age must be greater than 0",
            ),
            (
                "[retention]\nmax_events = 0",
                "retention.max_events must be at least 1",
            ),
            (
                "[retention]\ninterval = \"500ms\"",
                "retention.interval must be at least 1s",
            ),
            (
                "[retention]\nmax_size = 1",
                "unknown field: found `max_size`",
            ),
            (
                "[metrics]\nauth = \"tenant\"",
                "unknown variant: found `tenant`",
            ),
            (
                "[engine]\nmax_concurrent_polls = 0",
                "engine.max_concurrent_polls must be at least 1",
            ),
            ("listen = \"nowhere\"", "invalid socket address"),
            (
                "[[sources]]\nid = \"a b\"\ntenant = \"t\"\nprovider = \"jive\"",
                "sources[0].id",
            ),
            (
                "[[keys]]\ntenant = \"t\"\nkey = \"k\"\n[[keys]]\ntenant = \"u\"\nkey = \"k\"",
                "keys",
            ),
        ] {
            let path = write(&dir, text);
            let e = ServerConfig::load_with(Some(&path), no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text:?}: {e:?} should say {says:?}");
        }
        let e = ServerConfig::load_with(Some(Path::new("/nonexistent/t.toml")), no_env())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "configuration file /nonexistent/t.toml does not exist");
    }

    #[test]
    fn storage_defaults_and_a_file_and_refusals() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.storage, StorageSection::default());
        assert_eq!(c.storage.min_free_bytes, 536_870_912);
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "[storage]\nmin_free_bytes = 0\ncheck_interval = \"250ms\"\nexit_after = \"off\"\n",
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(c.storage.min_free_bytes, 0);
        assert_eq!(c.storage.check_interval, Duration::from_millis(250));
        assert_eq!(c.storage.exit_after, None);
        let path = write(&dir, "[storage]\nwrite_timeout = \"1s\"\n");
        let refused = ServerConfig::load_with(Some(&path), no_env()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            ConfigError::Invalid {
                field: "storage.write_timeout".into(),
                message: "must be at least read_timeout".into()
            }
            .to_string()
        );
    }
}
