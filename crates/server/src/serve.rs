//! `tributary serve`: the engine and the HTTP API over one store, as the configuration says.
//!
//! Start-up: open the store, write the configured sources into it (the configuration describes
//! the pipeline; a source already stored keeps its creation time and state), build every stored
//! source's provider (a configured source that cannot be built stops the start with the reason;
//! a stored one that no longer can is logged and skipped), run the engine, and serve the API
//! with the configured keys and the keys created through it before, telling its live streams
//! about every merge. Beside them, retention trims the tenants' logs as `[retention]` says
//! ([`crate::retention`]), and the webhook dispatcher delivers every subscription
//! ([`crate::webhooks`]). Shutdown: stop accepting, let in-flight polls commit (every store
//! write is flushed before it returns), finish a retention pass under way, merge once more, and
//! return.

use crate::api::{ApiConfig, ApiState, KeyConfigError, MetricsAuth, SourceControl};
use crate::config::ServerConfig;
use crate::config::StorageSection;
use crate::engine::{Engine, EngineError};
use crate::registry::{Providers, ProvidersError, Registry, RegistryError};
use crate::retention::RetentionPolicy;
use crate::storage::{FreeSpace, GuardedStore, OnFatal, Statvfs, StoreHealth, Watchdog, monitor};
use std::future::Future;
use std::sync::Arc;
use tributary_core::{Clock, SourceId};
use tributary_provider_kit::ProviderFactory;
use tributary_store::{EventStore, SledStore, SourceRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("store at {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    StoreWrite(#[from] StoreError),
    #[error("the secret key: {0}")]
    SecretKey(#[from] tributary_store::SecretKeyError),
    #[error("the store's API keys: {0}")]
    StoredKeys(#[source] KeyConfigError),
    #[error(transparent)]
    Source(#[from] RegistryError),
    #[error(transparent)]
    Providers(#[from] ProvidersError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("invalid source id: {0}")]
    Id(#[from] tributary_core::IdError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
    #[error("a server task failed: {0}")]
    Task(String),
    #[error("cannot build the outbound HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
}

/// A server that has started: where it listens, and what it runs.
pub struct Started {
    pub store: Arc<SledStore>,
    pub engine: Engine,
    pub api: ApiState,
    /// `None` when `[retention]` sets no limit: no pass runs.
    pub retention: Option<RetentionPolicy>,
    pub clock: Arc<dyn Clock>,
    /// The guard in front of `store` that the engine, the API and retention use.
    pub storage: Storage,
    /// Delivers the subscriptions' webhooks ([`crate::webhooks`]); the API's
    /// [`SubscriptionControl`](crate::webhooks::SubscriptionControl).
    pub webhooks: crate::webhooks::Dispatcher,
}

/// What `serve` runs to keep answering when the disk fills or the store fails
/// ([`crate::storage`]). Tests replace `free_space` and `on_fatal`.
pub struct Storage {
    pub health: Arc<StoreHealth>,
    /// `store` behind the guard.
    pub guarded: Arc<dyn EventStore>,
    pub config: StorageSection,
    /// The data directory's free space (`statvfs` by default).
    pub free_space: Arc<dyn FreeSpace>,
    /// Called once when the store is past saving ([`monitor::exit_process`] by default).
    pub on_fatal: OnFatal,
}

/// Opens the store, stores and builds the sources, and returns what [`serve`] runs.
///
/// `factories` are the providers of the build (the binary's list); each takes its
/// `[providers.<name>]` table.
pub async fn start(
    config: &ServerConfig,
    clock: Arc<dyn Clock>,
    factories: Vec<Box<dyn ProviderFactory>>,
) -> Result<Started, ServeError> {
    // Before the store opens: a setting no provider takes stops the start at once.
    let providers = Providers::configure(factories, &config.providers)?;
    let (keys, origin) = config
        .secrets
        .keys(&config.data_dir, &|name| std::env::var(name).ok())?;
    crate::secrets::log_origin(&keys, &origin);
    let store =
        SledStore::open_with_keys(&config.data_dir, keys).map_err(|source| ServeError::Store {
            path: config.data_dir.display().to_string(),
            source,
        })?;
    let store = Arc::new(store);
    let limits = config.storage;
    let health = StoreHealth::new(limits.min_free_bytes, limits.read_timeout);
    let dyn_store: Arc<dyn EventStore> = Arc::new(GuardedStore::new(
        store.clone(),
        health.clone(),
        limits.read_timeout,
        limits.write_timeout,
    ));
    let outbound =
        tributary_http::Outbound::new(config.network.policy()?).map_err(ServeError::HttpClient)?;
    let webhooks = crate::webhooks::Dispatcher::new(
        dyn_store.clone(),
        clock.clone(),
        outbound.clone(),
        config.webhooks.dispatcher_config(),
    );
    let registry = Registry::new(dyn_store.clone(), clock.clone(), providers, outbound);
    for entry in &config.sources {
        let id = SourceId::new(entry.id.clone())?;
        let existing = store.source(&entry.tenant, &id)?;
        let record = SourceRecord {
            id,
            incarnation: 0,
            tenant: entry.tenant.clone(),
            provider: entry.provider.clone(),
            config: entry.config.clone(),
            // A refresh token rotated since the last start is kept over the configured one.
            credentials: crate::rotation::configured(existing.as_ref(), &entry.credentials),
            paused: entry.paused,
            created_at: existing.map_or_else(|| clock.now(), |r| r.created_at),
        };
        registry.check(&record).await?;
        store.put_source(record).await?;
    }
    let engine = Engine::new(dyn_store.clone(), clock.clone(), config.engine_config());
    engine.set_storage(health.clone());
    engine.set_webhook_stats(webhooks.stats_handle());
    for record in store.sources()? {
        if record.paused {
            continue;
        }
        match registry.build(&record) {
            Ok(built) => engine.add_source_pipelined(
                record.source_ref(),
                built.provider,
                built.objects,
                built.policy,
            )?,
            Err(e) => tracing::error!(error = %e, "a stored source cannot run; skipped"),
        }
    }
    // The configured keys, and those created through `/v1/keys` by an earlier run.
    let keys = config
        .api_keys()?
        .with_created(store.api_keys()?)
        .map_err(ServeError::StoredKeys)?;
    let api_config = ApiConfig {
        metrics_auth: config.metrics.auth,
        limits: config.limits.limits(),
        subscriptions_per_tenant: config.webhooks.subscriptions_per_tenant,
        secret_rotation_grace: config.webhooks.secret_rotation_grace,
        ..ApiConfig::default()
    };
    if config.metrics.auth == MetricsAuth::Admin && config.admin_keys.is_empty() {
        tracing::warn!(
            "/metrics takes an admin key ([metrics] auth = \"admin\") and none is configured: \
             it refuses every scrape; add [[admin_keys]] or set auth = \"none\""
        );
    }
    let api = ApiState::with_config(dyn_store.clone(), keys, api_config)
        .with_storage(health.clone())
        .with_sources(SourceControl::new(engine.clone(), registry, clock.clone()))
        .with_webhooks(Arc::new(webhooks.clone()));
    // The notifier alone: the API state holds the engine, which must not hold the state back.
    engine.on_merge(Arc::new(api.merge_notifier()));
    {
        let webhooks = webhooks.clone();
        engine.on_merge(Arc::new(move |tenant, _| webhooks.merged(tenant)));
    }
    let retention = config.retention.policy();
    if retention.is_none() {
        tracing::info!("retention is off: no [retention] limit is set, the logs keep every event");
    }
    Ok(Started {
        store,
        engine,
        api,
        retention,
        clock,
        webhooks,
        storage: Storage {
            health,
            guarded: dyn_store,
            config: limits,
            free_space: Arc::new(Statvfs {
                path: config.data_dir.clone(),
            }),
            on_fatal: Arc::new(monitor::exit_process),
        },
    })
}

/// Listens on `addr` (port 0: any free port) and answers the listener with the address it got.
pub async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    Ok((listener, local))
}

/// Runs the engine and serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    started: Started,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
    let wait = |stop: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };
    // Free space is known before the first poll: a start on a nearly full disk polls nothing.
    let storage = &started.storage;
    monitor::check(
        storage.guarded.as_ref(),
        &storage.health,
        &storage.free_space,
    )
    .await;
    let engine = {
        let engine = started.engine.clone();
        let stopped = wait(&stop);
        tokio::spawn(async move { engine.run(stopped).await })
    };
    // Webhooks: a worker per stored subscription, woken by merges, changes and due retries.
    started.webhooks.start()?;
    let http = tokio::spawn(crate::api::serve(
        listener,
        started.api.clone(),
        wait(&stop),
    ));
    // A thread of its own: it must act even when every runtime thread is blocked on the store.
    let _watchdog = match storage.config.exit_after {
        Some(after) => Some(
            Watchdog::start(storage.health.clone(), after, storage.on_fatal.clone())
                .map_err(|e| ServeError::Task(format!("cannot start the store watchdog: {e}")))?,
        ),
        None => None,
    };
    let monitor = tokio::spawn(monitor::monitor(
        storage.guarded.clone(),
        storage.health.clone(),
        storage.free_space.clone(),
        storage.config.check_interval,
        wait(&stop),
    ));
    let retention = started.retention.map(|policy| {
        let store = started.storage.guarded.clone();
        tokio::spawn(crate::retention::run(
            store,
            started.clock.clone(),
            policy,
            started.api.retention_stats(),
            wait(&stop),
        ))
    });
    shutdown.await;
    tracing::info!("shutting down: finishing in-flight polls");
    let _ = stop.send(());
    // A request in flight has a few seconds to finish; past that its persisted batch goes again
    // after the restart.
    started.webhooks.stop().await;
    let retention_result = match retention {
        Some(task) => task.await.map_err(|e| ServeError::Task(e.to_string())),
        None => Ok(()),
    };
    let engine_result = engine.await.map_err(|e| ServeError::Task(e.to_string()))?;
    monitor.await.map_err(|e| ServeError::Task(e.to_string()))?;
    let http_result = http.await.map_err(|e| ServeError::Task(e.to_string()))?;
    retention_result?;
    engine_result?;
    http_result.map_err(ServeError::Http)
}
