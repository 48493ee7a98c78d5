//! The provider registry: what turns a stored source (`provider`, `config`, `credentials`) into a
//! running [`Provider`] with its poll policy. Every provider of the build is listed here.
//!
//! Every provider it builds sends its requests through the registry's one [`Outbound`] (a client
//! and the operator's address policy, `[network]`): no provider picks its own client, so none
//! can reach an address the policy forbids.

use crate::rotation::{StoreCredentialWriter, without_marker};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Clock, CredentialWriter, InFlightObjects, PollPolicy, Provider};
use tributary_egnyte::{EgnyteConfig, EgnyteProvider, RateLimiters};
use tributary_http::Outbound;
use tributary_jive::{JiveConfig, JiveProvider};
use tributary_store::{EventStore, SourceRecord};

/// How long [`Registry::check`] waits for a source's host name to resolve. A name that does not
/// resolve in time passes (the resolver checks it again at every connection): the API never hangs
/// on a slow DNS server.
pub const ADDRESS_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The providers this build knows, by the name sources give in `provider`.
pub const PROVIDERS: [&str; 2] = ["egnyte", "jive"];

/// Why a source cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("source {source_id}: unknown provider {provider:?}; this build knows {}", PROVIDERS.join(", "))]
    UnknownProvider { source_id: String, provider: String },
    #[error("source {source_id}: invalid {provider} config: {message}")]
    Config {
        source_id: String,
        provider: &'static str,
        message: String,
    },
    /// The source's host is, or resolves only to, an address the outbound policy forbids.
    #[error("source {source_id}: {source}")]
    AddressNotAllowed {
        source_id: String,
        source: tributary_http::AddressNotAllowed,
    },
}

/// A provider ready for the engine.
pub struct Built {
    pub provider: Arc<dyn Provider>,
    pub policy: PollPolicy,
    /// The object memory the provider reads: the store's, with pages in flight over it (see
    /// [`Engine::add_source_pipelined`](crate::engine::Engine::add_source_pipelined)).
    pub objects: Arc<InFlightObjects>,
    /// The base URL the provider sends its requests to.
    pub target: String,
}

/// Builds providers, sharing what sources share: the Egnyte limiters (one per credential), the
/// clock, and the way out (one HTTP client with the address policy).
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    egnyte_limiters: Arc<RateLimiters>,
    outbound: Outbound,
    /// Where providers store rotated refresh tokens ([`crate::rotation`]).
    credentials: Arc<dyn CredentialWriter>,
    /// See [`Registry::record_writes`].
    record_writes: Arc<tokio::sync::Mutex<()>>,
}

impl Registry {
    pub fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        egnyte_limiters: RateLimiters,
        outbound: Outbound,
    ) -> Self {
        let record_writes = Arc::new(tokio::sync::Mutex::new(()));
        Self {
            credentials: Arc::new(StoreCredentialWriter::new(
                store.clone(),
                record_writes.clone(),
            )),
            record_writes,
            store,
            clock,
            egnyte_limiters: Arc::new(egnyte_limiters),
            outbound,
        }
    }

    /// Held by every read-modify-write of a stored source record, from the read to the write:
    /// the API's `PATCH` and delete, and the providers' stored token rotations. Never held
    /// while waiting for a poll.
    pub fn record_writes(&self) -> &tokio::sync::Mutex<()> {
        &self.record_writes
    }

    /// The client and address policy every provider (and the OAuth token exchange) uses.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// A registry whose Egnyte sources may each send `calls_per_second` requests per credential.
    pub fn with_egnyte_rate(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        calls_per_second: u32,
        outbound: Outbound,
    ) -> Self {
        let per_second =
            std::num::NonZeroU32::new(calls_per_second).unwrap_or(std::num::NonZeroU32::MIN);
        Self::new(
            store,
            clock,
            RateLimiters::new(governor::Quota::per_second(per_second)),
            outbound,
        )
    }

    /// Checks a source's provider config without building anything that runs.
    pub fn validate(&self, record: &SourceRecord) -> Result<(), RegistryError> {
        self.build(record).map(|_| ())
    }

    /// What [`Registry::validate`] checks, and where the source would send requests: refused when
    /// its host is an IP literal in a forbidden range, or a name that resolves (within
    /// [`ADDRESS_CHECK_TIMEOUT`]) only to forbidden addresses. For a source a tenant or operator
    /// gives now; the resolver checks again at every connection.
    pub async fn check(&self, record: &SourceRecord) -> Result<(), RegistryError> {
        let built = self.build(record)?;
        let Ok(url) = reqwest::Url::parse(&built.target) else {
            return Ok(());
        };
        self.outbound
            .check_target(&url, ADDRESS_CHECK_TIMEOUT)
            .await
            .map_err(|source| RegistryError::AddressNotAllowed {
                source_id: record.id.as_str().to_owned(),
                source,
            })
    }

    /// The provider for `record`: its `config` with `credentials` set in it, checked by the
    /// provider's own validation (messages name the field).
    pub fn build(&self, record: &SourceRecord) -> Result<Built, RegistryError> {
        let source_id = record.id.as_str().to_owned();
        let mut config = record.config.clone();
        if let Some(map) = config.as_object_mut()
            && !record.credentials.is_null()
        {
            map.insert("credentials".into(), without_marker(&record.credentials));
        }
        let in_flight = Arc::new(InFlightObjects::new(Arc::from(
            self.store.object_state(&record.source_ref()),
        )));
        let objects: Arc<dyn tributary_core::ObjectStateRead> = in_flight.clone();
        let invalid = |provider: &'static str, message: String| RegistryError::Config {
            source_id: source_id.clone(),
            provider,
            message,
        };
        let not_allowed =
            |source: tributary_http::AddressNotAllowed| RegistryError::AddressNotAllowed {
                source_id: source_id.clone(),
                source,
            };
        match record.provider.as_str() {
            "egnyte" => {
                let config: EgnyteConfig =
                    serde_json::from_value(config).map_err(|e| invalid("egnyte", e.to_string()))?;
                let policy = config.poll.clone();
                let target = config
                    .validate()
                    .map_err(|e| invalid("egnyte", e.to_string()))?;
                let provider = EgnyteProvider::new(
                    record.id.clone(),
                    config,
                    objects,
                    &self.egnyte_limiters,
                    self.clock.clone(),
                    self.outbound.clone(),
                )
                .map_err(|e| match e {
                    tributary_egnyte::ConfigError::AddressNotAllowed(a) => not_allowed(a),
                    e => invalid("egnyte", e.to_string()),
                })?
                .with_credential_writer(self.credentials.clone());
                Ok(Built {
                    provider: Arc::new(provider),
                    policy,
                    objects: Arc::clone(&in_flight),
                    target,
                })
            }
            "jive" => {
                let config: JiveConfig =
                    serde_json::from_value(config).map_err(|e| invalid("jive", e.to_string()))?;
                let policy = config.poll.clone();
                let target = config
                    .validate()
                    .map_err(|e| invalid("jive", e.to_string()))?;
                let provider = JiveProvider::new(
                    record.id.clone(),
                    config,
                    objects,
                    self.clock.clone(),
                    self.outbound.clone(),
                )
                .map_err(|e| match e {
                    tributary_jive::ConfigError::AddressNotAllowed(a) => not_allowed(a),
                    e => invalid("jive", e.to_string()),
                })?
                .with_credential_writer(self.credentials.clone());
                Ok(Built {
                    provider: Arc::new(provider),
                    policy,
                    objects: Arc::clone(&in_flight),
                    target,
                })
            }
            other => Err(RegistryError::UnknownProvider {
                source_id,
                provider: other.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_core::{SourceId, SystemClock};
    use tributary_store::SledStore;

    fn registry() -> Registry {
        let store: Arc<dyn EventStore> = Arc::new(SledStore::temporary().unwrap());
        let quota = governor::Quota::per_second(std::num::NonZeroU32::MIN);
        let outbound = Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap();
        Registry::new(
            store,
            Arc::new(SystemClock),
            RateLimiters::new(quota),
            outbound,
        )
    }

    fn record(
        provider: &str,
        config: serde_json::Value,
        credentials: serde_json::Value,
    ) -> SourceRecord {
        SourceRecord {
            id: SourceId::new("s1").unwrap(),
            incarnation: 0,
            tenant: "t".into(),
            provider: provider.into(),
            config,
            credentials,
            paused: false,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn builds_each_provider_with_its_credentials_apart() {
        let r = registry();
        let egnyte = record(
            "egnyte",
            serde_json::json!({"base_url": "http://127.0.0.1:9"}),
            serde_json::json!({"kind": "bearer", "token": "t"}),
        );
        assert_eq!(r.build(&egnyte).unwrap().policy.min_interval_ms, 300_000);
        let jive = record(
            "jive",
            serde_json::json!({"base_url": "http://127.0.0.1:9", "page_size": 50}),
            serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
        );
        assert_eq!(r.build(&jive).unwrap().provider.name(), "jive");
    }

    #[test]
    fn says_what_is_wrong() {
        let r = registry();
        let e = r
            .validate(&record(
                "dropbox",
                serde_json::json!({}),
                serde_json::Value::Null,
            ))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "source s1: unknown provider \"dropbox\"; this build knows egnyte, jive"
        );
        let e = r
            .validate(&record(
                "jive",
                serde_json::json!({"base_url": "http://127.0.0.1:9", "page_size": 500}),
                serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
            ))
            .unwrap_err();
        assert!(
            e.to_string().contains("page_size must be 2..=100, got 500"),
            "{e}"
        );
        let e = r
            .validate(&record(
                "egnyte",
                serde_json::json!({"base_url": "http://127.0.0.1:9"}),
                serde_json::Value::Null,
            ))
            .unwrap_err();
        assert!(e.to_string().contains("missing field `credentials`"), "{e}");
    }

    #[test]
    fn a_configured_partial_poll_policy_takes_the_providers_defaults() {
        // `[[sources]]`' `[sources.config]` table, as the configuration file gives it.
        let config = |text: &str| -> serde_json::Value {
            use figment::providers::{Format, Toml};
            figment::Figment::from(Toml::string(text))
                .extract()
                .unwrap()
        };
        let r = registry();
        let toml = "base_url = \"http://127.0.0.1:9\"\n[poll]\nmin_interval_ms = 2000\n";
        let egnyte = record(
            "egnyte",
            config(toml),
            serde_json::json!({"kind": "bearer", "token": "t"}),
        );
        let jive = record(
            "jive",
            config(toml),
            serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
        );
        let policy = |min, max| PollPolicy {
            min_interval_ms: min,
            max_interval_ms: max,
            multiplier: 2.0,
            jitter: 0.1,
        };
        assert_eq!(r.build(&egnyte).unwrap().policy, policy(2_000, 900_000));
        assert_eq!(r.build(&jive).unwrap().policy, policy(2_000, 300_000));
        let bad = record(
            "jive",
            config("base_url = \"http://127.0.0.1:9\"\n[poll]\nmin_interval_ms = 400000\n"),
            serde_json::json!({"kind": "basic", "username": "u", "password": "p"}),
        );
        assert_eq!(
            r.validate(&bad).unwrap_err().to_string(),
            "source s1: invalid jive config: jive poll policy: max_interval_ms (300000) must be at least min_interval_ms (400000)"
        );
    }
}
