//! The HTTP API (v1): tenant-scoped reads of the unified log.
//!
//! - `GET /v1/events?cursor&page_size&source&type&path_prefix&since&until` → `{objects, cursor,
//!   count, remaining}`: a page of events, each spliced from its stored JSON ([`events`]).
//! - `GET /v1/events/latest` → `{cursor}`: the position after the newest event.
//! - `GET /v1/events/stream?cursor&source&type&path_prefix&since&until`: server-sent events,
//!   replaying from the cursor and then following the merge live ([`stream`]).
//! - `GET /v1/accounts/{account}/events?cursor&page_size` and `.../events/latest`: the same log in
//!   the Kloudless Events API's shapes, one source per numeric account ([`kloudless`]).
//! - `POST /v1/sources`, `GET /v1/sources`, `GET|PATCH|DELETE /v1/sources/{id}`: manage the
//!   tenant's sources and read their status; credentials are taken, stored, never returned
//!   ([`sources`]). Needs a [`SourceControl`] ([`ApiState::with_sources`]); without one these
//!   answer `503 sources_unavailable`.
//! - `POST /v1/subscriptions`, `GET /v1/subscriptions`, `GET|PATCH|DELETE
//!   /v1/subscriptions/{id}`, `POST /v1/subscriptions/{id}/replay`, `GET
//!   /v1/subscriptions/{id}/attempts`: the tenant's webhook subscriptions, their delivery state,
//!   replay and recent attempts ([`subscriptions`]); the dispatcher is told through a
//!   [`SubscriptionControl`](crate::webhooks::SubscriptionControl) ([`ApiState::with_webhooks`]).
//! - `POST /v1/oauth/{provider}/start` and `GET /v1/oauth/{provider}/callback?code&state`: create a
//!   source from an OAuth2 authorization code ([`oauth`]).
//! - `POST /v1/keys`, `GET /v1/keys?tenant`, `GET|DELETE /v1/keys/{id}`: create (the key is
//!   answered once; only its SHA-256 is stored), list and delete tenants' API keys, with an admin
//!   key ([`keys`]).
//! - `GET /healthz` (the process answers), `GET /readyz` (the store answers), `GET /metrics`
//!   (Prometheus text; an admin key unless [`ApiConfig::metrics_auth`] is [`MetricsAuth::Open`]).
//! - `GET /openapi.json`: the OpenAPI 3.1 document of all the above ([`openapi`]).
//!
//! Every `/v1` request carries `Authorization: Bearer <api key>` (`APIKey <api key>` is taken
//! too, as the Kloudless SDKs send it); the key's tenant sees only the events of the sources it
//! owns ([`SourceRecord::tenant`](tributary_store::SourceRecord)), and a source-scoped key only
//! its one source's. An admin key (configured; [`ApiKeys::with_admins`]) is taken by `/v1/keys`
//! only and refused elsewhere (`403 admin_key_not_allowed`), as a tenant's key is on `/v1/keys`
//! (`403 admin_key_required`).
//! Every error is `{"error":{"code","message"}}` with a stable snake_case code ([`ApiError`]).
//!
//! Wiring: build an [`ApiState`] over the engine's store, call [`ApiState::notify_merged`] after
//! each merge (live streams wait on it), and run [`serve`] on a bound listener.

mod account;
mod auth;
mod error;
pub mod events;
pub mod keys;
pub mod kloudless;
pub mod limits;
pub mod oauth;
pub(crate) mod oauth_state;
mod openapi;
mod query;
pub(crate) mod request;
pub(crate) mod source_json;
pub mod sources;
pub mod stream;
pub(crate) mod subscription_draft;
pub(crate) mod subscription_json;
pub mod subscriptions;

pub use crate::control::SourceControl;
pub use crate::metrics::MetricsAuth;
pub use account::AccountId;
pub use auth::{Admin, AdminKeyEntry, ApiKeys, KeyConfigError, KeyEntry, Tenant, key_sha256_hex};
pub use error::{ApiError, ErrorCode};
pub use limits::Limits;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tributary_core::Seq;
use tributary_store::EventStore;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Knobs of the API that are not about tenants or keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiConfig {
    /// How often an idle event stream sends a keep-alive comment.
    pub keep_alive: Duration,
    /// How often a live stream reads the log even without a merge notification (a safety net
    /// for merges that do not call [`ApiState::notify_merged`]).
    pub stream_recheck: Duration,
    /// Who may read `/metrics`. Open by default here, for an API embedded in a test or a
    /// program of its own; `serve` takes it from `[metrics] auth`, whose default is `Admin`.
    pub metrics_auth: MetricsAuth,
    /// Per-tenant limits and request bounds (`[limits]`).
    pub limits: Limits,
    /// Webhook subscriptions a tenant may hold (`429 tenant_limit` beyond).
    pub subscriptions_per_tenant: usize,
    /// How long a subscription's replaced secret still signs after a rotation.
    pub secret_rotation_grace: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            stream_recheck: Duration::from_secs(5),
            metrics_auth: MetricsAuth::Open,
            limits: Limits::default(),
            subscriptions_per_tenant: 100,
            secret_rotation_grace: Duration::from_secs(24 * 3600),
        }
    }
}

/// What every handler shares: the store, the key table and the merge notifier. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    keys: ApiKeys,
    config: ApiConfig,
    /// Each tenant's last position merged, as the engine reported it, for the tenants with a
    /// live stream. Shared apart from the state so a merge listener need not hold the state
    /// (which may hold the engine: a cycle).
    merged: Arc<Merged>,
    /// Set when [`serve`] shuts down, so live streams end and graceful shutdown can finish.
    closing: watch::Sender<bool>,
    /// The engine and registry behind `/v1/sources` and `/v1/oauth`, when the server has them.
    sources: std::sync::OnceLock<SourceControl>,
    /// Request latencies by route, for `/metrics`.
    latency: crate::metrics::Latency,
    /// What the retention passes did, for `/metrics`.
    retention: crate::retention::RetentionStats,
    /// The live streams open, by tenant and key ([`Limits::streams_per_tenant`]).
    streams: limits::StreamSlots,
    /// The store's health when it runs behind a guard ([`ApiState::with_storage`]).
    storage: std::sync::OnceLock<Arc<crate::storage::StoreHealth>>,
    /// What `/v1/subscriptions` tells of changes and replays ([`ApiState::with_webhooks`]).
    webhooks: std::sync::OnceLock<Arc<dyn crate::webhooks::SubscriptionControl>>,
    /// Held by every write to the subscription table, so a count or a read and the write it
    /// guards cannot interleave with another request's.
    subscription_writes: Arc<tokio::sync::Mutex<()>>,
}

impl ApiState {
    pub fn new(store: Arc<dyn EventStore>, keys: ApiKeys) -> Self {
        Self::with_config(store, keys, ApiConfig::default())
    }

    pub fn with_config(store: Arc<dyn EventStore>, keys: ApiKeys, config: ApiConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                keys,
                config,
                merged: Arc::default(),
                closing: watch::Sender::new(false),
                sources: std::sync::OnceLock::new(),
                latency: crate::metrics::Latency::default(),
                retention: crate::retention::RetentionStats::default(),
                streams: limits::StreamSlots::default(),
                storage: std::sync::OnceLock::new(),
                webhooks: std::sync::OnceLock::new(),
                subscription_writes: Arc::default(),
            }),
        }
    }

    /// Enables `/v1/sources` and `/v1/oauth` over `control`, whose engine and registry must run
    /// over this state's store. Set once: a second control is ignored (and logged).
    pub fn with_sources(self, control: SourceControl) -> Self {
        if self.inner.sources.set(control).is_err() {
            tracing::warn!("ApiState::with_sources called twice; keeping the first control");
        }
        self
    }

    /// Reports `health` (that of the guarded store this state runs over): `/readyz` answers 503
    /// while the store is unavailable, `/metrics` shows `tributary_storage_*`. Set once.
    pub fn with_storage(self, health: Arc<crate::storage::StoreHealth>) -> Self {
        if self.inner.storage.set(health).is_err() {
            tracing::warn!("ApiState::with_storage called twice; keeping the first health");
        }
        self
    }

    /// Tells `control` (the webhook dispatcher) of every subscription created, changed, deleted
    /// or replayed through the API. Without one, `/v1/subscriptions` still works: a replay then
    /// writes the delivery state itself ([`StoreOnly`](crate::webhooks::store_only::StoreOnly)).
    /// Set once.
    pub fn with_webhooks(self, control: Arc<dyn crate::webhooks::SubscriptionControl>) -> Self {
        if self.inner.webhooks.set(control).is_err() {
            tracing::warn!("ApiState::with_webhooks called twice; keeping the first control");
        }
        self
    }

    /// The dispatcher's control, or the store-only one.
    pub(crate) fn subscription_control(&self) -> Arc<dyn crate::webhooks::SubscriptionControl> {
        match self.inner.webhooks.get() {
            Some(control) => Arc::clone(control),
            None => Arc::new(crate::webhooks::store_only::StoreOnly(Arc::clone(
                &self.inner.store,
            ))),
        }
    }

    /// Held by every read-modify-write of a subscription record: the dispatcher's lock when
    /// there is one ([`SubscriptionControl::record_writes`]), so a `PATCH` and the dispatcher
    /// disabling the subscription never undo each other.
    ///
    /// [`SubscriptionControl::record_writes`]: crate::webhooks::SubscriptionControl::record_writes
    pub(crate) async fn lock_subscriptions(&self) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .inner
            .webhooks
            .get()
            .and_then(|control| control.record_writes())
            .unwrap_or_else(|| Arc::clone(&self.inner.subscription_writes));
        lock.lock_owned().await
    }

    /// The time of the sources' clock when the server has one, else the system's.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        match self.inner.sources.get() {
            Some(control) => control.clock().now(),
            None => tributary_core::Clock::now(&tributary_core::SystemClock),
        }
    }

    /// The counts `/metrics` reports of retention: give the retention loop a clone.
    pub fn retention_stats(&self) -> crate::retention::RetentionStats {
        self.inner.retention.clone()
    }

    /// The source control, or `503 sources_unavailable` when the server has none.
    pub(crate) fn sources(&self) -> Result<&SourceControl, ApiError> {
        self.inner.sources.get().ok_or(ApiError::SourcesUnavailable)
    }

    /// Tells the tenant's live streams that its log now ends at `last` ([`MergeReport::last`]).
    /// Call it after every merge that moved the tenant's events; a position not beyond the last
    /// one reported wakes nobody, and other tenants' streams are never woken.
    ///
    /// [`MergeReport::last`]: tributary_store::MergeReport::last
    pub fn notify_merged(&self, tenant: &str, last: Seq) {
        self.inner.merged.notify(tenant, last);
    }

    /// [`ApiState::notify_merged`] as a function that holds only the notifier, not the state:
    /// give it to the engine's `on_merge` when the state holds that engine
    /// ([`ApiState::with_sources`]), so the two do not keep each other (and the store) alive.
    pub fn merge_notifier(&self) -> impl Fn(&str, Seq) + Send + Sync + 'static {
        let merged = Arc::clone(&self.inner.merged);
        move |tenant, last| merged.notify(tenant, last)
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    pub(crate) fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    pub(crate) fn config(&self) -> ApiConfig {
        self.inner.config
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.config.limits
    }

    pub(crate) fn streams(&self) -> &limits::StreamSlots {
        &self.inner.streams
    }

    /// Wakes when the tenant's log grows.
    pub(crate) fn merged(&self, tenant: &str) -> watch::Receiver<Seq> {
        self.inner.merged.subscribe(tenant)
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    fn set_closing(&self, closing: bool) {
        self.inner.closing.send_replace(closing);
    }

    /// Runs a blocking store call on tokio's blocking pool, answering `503 store_unavailable`
    /// when it takes longer than [`BLOCKING_CALL_TIMEOUT`] (it runs on, off the request).
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&dyn EventStore) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let store = Arc::clone(&self.inner.store);
        let call = tokio::task::spawn_blocking(move || f(store.as_ref()));
        match tokio::time::timeout(BLOCKING_CALL_TIMEOUT, call).await {
            Ok(joined) => joined.map_err(|e| {
                tracing::error!(error = %e, "a store read task failed");
                ApiError::Internal
            })?,
            Err(_) => {
                tracing::warn!(
                    timeout_s = BLOCKING_CALL_TIMEOUT.as_secs(),
                    "a store call did not finish in time"
                );
                Err(ApiError::Unavailable)
            }
        }
    }
}

/// How long a request waits for a store call on the blocking pool ([`ApiState::blocking`]).
pub const BLOCKING_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One notifier per tenant with a live stream: a merge for one tenant wakes only its streams.
#[derive(Default)]
struct Merged {
    by_tenant: std::sync::Mutex<std::collections::HashMap<String, watch::Sender<Seq>>>,
}

impl Merged {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, watch::Sender<Seq>>> {
        self.by_tenant
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn subscribe(&self, tenant: &str) -> watch::Receiver<Seq> {
        let mut by_tenant = self.lock();
        match by_tenant.get(tenant) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(Seq(0));
                by_tenant.insert(tenant.to_owned(), tx);
                rx
            }
        }
    }

    fn notify(&self, tenant: &str, last: Seq) {
        let mut by_tenant = self.lock();
        let Some(tx) = by_tenant.get(tenant) else {
            return;
        };
        if tx.receiver_count() == 0 {
            // Its streams are gone: forget the tenant until one starts again.
            by_tenant.remove(tenant);
            return;
        }
        tx.send_if_modified(|seen| {
            if last > *seen {
                *seen = last;
                true
            } else {
                false
            }
        });
    }
}

/// The API's routes over `state`, with `GET /openapi.json` describing them.
pub fn router(state: ApiState) -> Router {
    let (router, doc) = routes().split_for_parts();
    let document = match state.sources() {
        Ok(control) => openapi::Document::new(&doc).with_providers(control.registry().providers()),
        Err(_) => openapi::Document::new(&doc),
    };
    router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            record_latency,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.limits().max_body_bytes,
        ))
        .with_state(state)
        .layer(axum::Extension(document))
}

/// The OpenAPI document `GET /openapi.json` serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// Every route, each documented by its handler's `#[utoipa::path]`.
fn routes() -> OpenApiRouter<ApiState> {
    let mut routes = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi::serve_document))
        .routes(routes!(events::list))
        .routes(routes!(events::latest))
        .routes(routes!(stream::stream))
        .routes(routes!(kloudless::list))
        .routes(routes!(kloudless::latest))
        .routes(routes!(sources::create, sources::list))
        .routes(routes!(sources::get, sources::patch, sources::delete))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::callback))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::get, keys::delete))
        .routes(routes!(subscriptions::create, subscriptions::list))
        .routes(routes!(
            subscriptions::get,
            subscriptions::patch,
            subscriptions::delete
        ))
        .routes(routes!(subscriptions::replay))
        .routes(routes!(subscriptions::attempts))
        // The Kloudless SDKs call these with a trailing slash: the same operations, documented
        // once (in the description).
        .route("/v1/accounts/{account}/events/", get(kloudless::list))
        .route(
            "/v1/accounts/{account}/events/latest/",
            get(kloudless::latest),
        );
    openapi::refuse_admin_keys(routes.get_openapi_mut());
    openapi::limit_bodies(routes.get_openapi_mut());
    routes
}

/// Serves the API (HTTP/1.1) on `listener` until `shutdown` completes, then stops accepting,
/// ends live streams (clients resume with `Last-Event-ID`) and waits for in-flight requests.
///
/// Connections are served by hyper's HTTP/1 builder rather than `axum::serve`, for its header
/// read timeout ([`Limits::header_read_timeout`]): a client that has not sent a whole request
/// head within it (a first request, or the next one on a kept-alive connection) is disconnected.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    state.set_closing(false);
    let app = router(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.limits().header_read_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine. A pause, so a lasting error is no busy loop.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client that went away, or sent no whole request head in time.
                tracing::debug!(error = %e, "an HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    state.set_closing(true);
    connections.shutdown().await;
    Ok(())
}

/// Times every request that matched a route, by its path pattern.
async fn record_latency(
    State(state): State<ApiState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let began = std::time::Instant::now();
    let response = next.run(request).await;
    if let Some(route) = route {
        state.inner.latency.record(route, began.elapsed());
    }
    response
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "The engine's and the API's counters in the Prometheus text format: polls, \
        upstream calls, events ingested and merged, late events, retention passes, each source's \
        lag and gaps, API latency by route. It names every tenant's sources, so by default \
        (`[metrics] auth = \"admin\"`) it takes an admin key, as `/v1/keys` does; with \
        `auth = \"none\"` it takes no key (keep the API on a private network then).",
    security(("admin" = []), ()),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        openapi::Unauthorized,
        openapi::AdminKeyRequired,
        (status = 500, description = "The metrics could not be encoded (`internal_error`)", body = openapi::ErrorBody),
    )
)]
async fn metrics(State(state): State<ApiState>, admin: Result<Admin, ApiError>) -> Response {
    if let (MetricsAuth::Admin, Err(refused)) = (state.config().metrics_auth, admin) {
        return refused.into_response();
    }
    let engine = state.inner.sources.get().map(SourceControl::engine);
    let store = state.inner.store.clone();
    let now = chrono::Utc::now();
    let latency = &state.inner.latency;
    let storage = state.inner.storage.get().map(|h| h.snapshot());
    let retention = &state.inner.retention;
    match crate::metrics::render(engine, store.as_ref(), latency, retention, storage, now) {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                crate::metrics::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            // The encoder refused what it was given: a fault of ours, never of the scrape.
            tracing::warn!(error = %e, "encoding the metrics failed");
            ApiError::Internal.into_response()
        }
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    operation_id = "healthz",
    summary = "The process answers",
    responses((status = 200, description = "Alive: `{\"status\":\"ok\"}`", body = openapi::Health))
)]
async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    operation_id = "readyz",
    summary = "The store answers and the server is not shutting down",
    description = "Not ready (503 `not_ready`, the message says why) while the server shuts \
        down, while store writes fail (a full disk, an I/O error: until a write succeeds again) or \
        one has been in flight too long, or when a point read of the store does not answer within \
        `[storage] read_timeout`. Low free space alone pauses ingest but leaves the server ready: \
        it still serves reads.",
    responses(
        (status = 200, description = "Ready: `{\"status\":\"ready\"}`", body = openapi::Health),
        (status = 503, description = "Not ready (`not_ready`), with the reason", body = openapi::ErrorBody),
    )
)]
async fn readyz(State(state): State<ApiState>) -> Response {
    let not_ready = |message: &str| ApiError::NotReady(message.to_owned()).into_response();
    if *state.closing().borrow() {
        return not_ready("the server is shutting down");
    }
    let health = state.inner.storage.get();
    if let Some(reason) = health.and_then(|h| h.unavailable()) {
        return not_ready(&format!("the event store is unavailable: {reason}"));
    }
    // A point read of a tree: answers only while the store does.
    let read = state.blocking(|store| store.subscription("readyz").map_err(ApiError::from));
    let limit = health.map_or(BLOCKING_CALL_TIMEOUT, |h| h.read_timeout());
    let Ok(read) = tokio::time::timeout(limit, read).await else {
        return not_ready("the event store does not answer");
    };
    match read {
        Ok(_) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Err(_) => not_ready("the event store does not answer"),
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_owned())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

#[cfg(test)]
mod tests;
