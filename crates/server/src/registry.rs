//! The provider registry: what turns a stored source (`provider`, `config`, `credentials`) into a
//! running [`Provider`] with its poll policy, through the provider's factory
//! ([`ProviderFactory`]). The server names no provider: the binary hands it a list of factories
//! ([`Providers`]), and a source's `provider` picks one by name.
//!
//! Every provider it builds sends its requests through the registry's one [`Outbound`] (a client
//! and the operator's address policy, `[network]`): no provider picks its own client, so none
//! can reach an address the policy forbids.

use crate::rotation::{StoreCredentialWriter, without_marker};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Clock, CredentialWriter, InFlightObjects, PollPolicy, Provider};
use tributary_http::Outbound;
use tributary_provider_kit::{BuildContext, BuildError, ProviderFactory, SourceSpec};
use tributary_store::{EventStore, SourceRecord};

/// How long [`Registry::check`] waits for a source's host name to resolve. A name that does not
/// resolve in time passes (the resolver checks it again at every connection): the API never hangs
/// on a slow DNS server.
pub const ADDRESS_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The providers of this build: the binary's list of factories, each configured from its
/// `[providers.<name>]` table ([`Providers::configure`]).
#[derive(Clone, Default)]
pub struct Providers(Arc<[Arc<dyn ProviderFactory>]>);

/// Why the providers cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProvidersError {
    #[error("two providers are named {0:?}")]
    Duplicate(&'static str),
    #[error("[providers.{name}]: no provider of this build is named {name:?}; it knows {known}")]
    Unknown { name: String, known: String },
    #[error("[providers.{name}]: {message}")]
    Settings { name: &'static str, message: String },
}

impl Providers {
    /// `factories`, each given its table of `settings` (`[providers]`, by name); a table that
    /// names no factory is refused.
    pub fn configure(
        factories: Vec<Box<dyn ProviderFactory>>,
        settings: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<Self, ProvidersError> {
        let mut ready: Vec<Arc<dyn ProviderFactory>> = Vec::with_capacity(factories.len());
        for mut factory in factories {
            let name = factory.name();
            if ready.iter().any(|f| f.name() == name) {
                return Err(ProvidersError::Duplicate(name));
            }
            let table = settings.get(name).unwrap_or(&serde_json::Value::Null);
            factory
                .configure(table)
                .map_err(|message| ProvidersError::Settings { name, message })?;
            ready.push(Arc::from(factory));
        }
        let providers = Self(ready.into());
        if let Some(name) = settings.keys().find(|n| providers.get(n).is_none()) {
            return Err(ProvidersError::Unknown {
                name: name.clone(),
                known: providers.known(),
            });
        }
        Ok(providers)
    }

    /// `factories` with no settings.
    pub fn new(factories: Vec<Box<dyn ProviderFactory>>) -> Result<Self, ProvidersError> {
        Self::configure(factories, &Default::default())
    }

    /// The factory of the provider named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ProviderFactory>> {
        self.0.iter().find(|f| f.name() == name)
    }

    /// Every factory, in the order the build lists them.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ProviderFactory>> {
        self.0.iter()
    }

    /// Their names, comma-separated, for messages.
    pub fn known(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a source cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("source {source_id}: unknown provider {provider:?}; this build knows {known}")]
    UnknownProvider {
        source_id: String,
        provider: String,
        known: String,
    },
    #[error("source {source_id}: invalid {provider} config: {message}")]
    Config {
        source_id: String,
        provider: String,
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

/// Builds providers through their factories, sharing what sources share: the clock, the way
/// out (one HTTP client with the address policy), and where rotated credentials are stored.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    providers: Providers,
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
        providers: Providers,
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
            providers,
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

    /// The providers it builds.
    pub fn providers(&self) -> &Providers {
        &self.providers
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
        let Some(factory) = self.providers.get(&record.provider) else {
            return Err(RegistryError::UnknownProvider {
                source_id,
                provider: record.provider.clone(),
                known: self.providers.known(),
            });
        };
        let mut config = record.config.clone();
        if let Some(map) = config.as_object_mut()
            && !record.credentials.is_null()
        {
            map.insert("credentials".into(), without_marker(&record.credentials));
        }
        let in_flight = Arc::new(InFlightObjects::new(Arc::from(
            self.store.object_state(&record.source_ref()),
        )));
        let context = BuildContext {
            outbound: self.outbound.clone(),
            clock: self.clock.clone(),
            objects: in_flight.clone(),
            credentials: self.credentials.clone(),
        };
        let spec = SourceSpec {
            id: &record.id,
            config,
        };
        let built = factory.build(spec, context).map_err(|e| match e {
            BuildError::Config(message) => RegistryError::Config {
                source_id: source_id.clone(),
                provider: factory.name().to_owned(),
                message,
            },
            BuildError::AddressNotAllowed(source) => RegistryError::AddressNotAllowed {
                source_id: source_id.clone(),
                source,
            },
        })?;
        Ok(Built {
            provider: built.provider,
            policy: built.policy,
            objects: in_flight,
            target: built.target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_core::{SourceId, SystemClock};
    use tributary_store::SledStore;

    fn registry() -> Registry {
        let store: Arc<dyn EventStore> = Arc::new(SledStore::temporary().unwrap());
        let outbound = Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap();
        Registry::new(
            store,
            Arc::new(SystemClock),
            crate::test_providers(),
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
    fn provider_settings_go_to_their_factory_and_an_unknown_table_is_refused() {
        let factories = || -> Vec<Box<dyn ProviderFactory>> {
            vec![
                Box::new(tributary_egnyte::EgnyteFactory::new()),
                Box::new(tributary_jive::JiveFactory),
            ]
        };
        let settings = |pairs: &[(&str, serde_json::Value)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let ok = Providers::configure(
            factories(),
            &settings(&[("egnyte", serde_json::json!({"calls_per_second": 5}))]),
        )
        .unwrap();
        assert_eq!(ok.known(), "egnyte, jive");
        let e = |pairs: &[(&str, serde_json::Value)]| {
            Providers::configure(factories(), &settings(pairs))
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            e(&[("dropbox", serde_json::json!({}))]),
            "[providers.dropbox]: no provider of this build is named \"dropbox\"; it knows egnyte, jive"
        );
        assert_eq!(
            e(&[("egnyte", serde_json::json!({"calls_per_second": 0}))]),
            "[providers.egnyte]: calls_per_second must be at least 1"
        );
        assert!(
            e(&[("egnyte", serde_json::json!({"calls_per_sec": 5}))])
                .starts_with("[providers.egnyte]: unknown field `calls_per_sec`"),
        );
        assert_eq!(
            e(&[("jive", serde_json::json!({"page_size": 5}))]),
            "[providers.jive]: provider jive takes no settings"
        );
        let twice: Vec<Box<dyn ProviderFactory>> = vec![
            Box::new(tributary_jive::JiveFactory),
            Box::new(tributary_jive::JiveFactory),
        ];
        assert_eq!(
            Providers::new(twice).err().unwrap().to_string(),
            "two providers are named \"jive\""
        );
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
