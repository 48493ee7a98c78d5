//! The sources service behind `/v1/sources` and `/v1/oauth`: it checks and creates sources,
//! starts them on the engine, and settles them (stops them and waits for their poll in flight)
//! before a restart or a delete, over the engine that runs them and the registry that builds them.
//! The HTTP handlers (`api::sources`, `api::oauth`) read requests and call in here; nothing here
//! reads a request.
//!
//! A source is a [`SourceRecord`] in the store, run by the engine unless paused. Its
//! `credentials` are stored as given and never returned: a source's JSON has no `credentials`,
//! its `config` may not hold any (the registry sets them into the provider's config in memory
//! only), and a provider's refusal is `scrub`bed of the credentials' values before it is
//! answered.
//!
//! Writes to the source table (create, patch, delete) are serialized by one lock
//! (`SourceControl::writes`), so an id check and the write it guards cannot interleave with
//! another request's.

use crate::api::limits::check_size;
use crate::api::oauth_state::PendingStates;
use crate::api::request::random_hex;
use crate::api::source_json::{NewSource, SourceBody, body};
use crate::api::{ApiError, ApiState, Tenant};
use crate::engine::{Engine, EngineError};
use crate::registry::{Built, Registry, RegistryError};
use std::sync::Arc;
use tributary_core::{Clock, PollPolicy, SourceId};
use tributary_store::{SourceRecord, SourceRef};

/// What `/v1/sources` and `/v1/oauth` act through: the engine that runs sources, the registry
/// that builds them, and the clock. Its engine and registry must work over the [`ApiState`]'s
/// store. Cheap to clone.
#[derive(Clone)]
pub struct SourceControl {
    inner: Arc<ControlInner>,
    /// How long a delete or restart waits for the source's poll in flight.
    settle_limit: std::time::Duration,
}

struct ControlInner {
    engine: Engine,
    registry: Registry,
    clock: Arc<dyn Clock>,
    /// Held by every write to the source table.
    writes: tokio::sync::Mutex<()>,
    oauth: PendingStates,
}

impl SourceControl {
    /// The engine the sources run on (for `/metrics`).
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn new(engine: Engine, registry: Registry, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(ControlInner {
                engine,
                registry,
                clock,
                writes: tokio::sync::Mutex::new(()),
                oauth: PendingStates::default(),
            }),
            settle_limit: SETTLE_LIMIT,
        }
    }

    /// The same, waiting at most `limit` for a poll in flight before answering `503
    /// source_busy` to a delete or restart (default 120 s).
    pub fn with_settle_limit(self, limit: std::time::Duration) -> Self {
        Self {
            settle_limit: limit,
            ..self
        }
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn oauth(&self) -> &PendingStates {
        &self.inner.oauth
    }

    /// The lock every write to the source table holds.
    pub(crate) fn writes(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.writes
    }
}

/// The values of `credentials` (strings of 3 or more characters) replaced by `***` in `message`.
pub(crate) fn scrub(message: &str, credentials: &serde_json::Value) -> String {
    fn leaves<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) if s.len() >= 3 => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| leaves(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| leaves(i, out)),
            _ => {}
        }
    }
    let mut secrets = Vec::new();
    leaves(credentials, &mut secrets);
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut message = message.to_owned();
    for secret in secrets {
        message = message.replace(secret, "***");
    }
    message
}

pub(crate) fn registry_error(e: RegistryError, credentials: &serde_json::Value) -> ApiError {
    match e {
        RegistryError::AddressNotAllowed { .. } => ApiError::AddressNotAllowed(e.to_string()),
        e => ApiError::InvalidSource(scrub(&e.to_string(), credentials)),
    }
}

/// Refuses a source-scoped key for operations on the tenant's set of sources.
pub(crate) fn tenant_wide(tenant: &Tenant, what: &str) -> Result<(), ApiError> {
    match tenant.source() {
        Some(source) => Err(ApiError::Forbidden(format!(
            "this API key is limited to source {:?}: it cannot {what}; use a tenant-wide key",
            source.as_str()
        ))),
        None => Ok(()),
    }
}

/// Refuses a provider name no factory could have (the registry names the ones it has): an
/// excerpt of it only goes into the message.
pub(crate) fn check_provider_name(name: &str) -> Result<(), ApiError> {
    let plausible = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if plausible {
        Ok(())
    } else {
        Err(ApiError::InvalidSource(format!(
            "unknown provider {}: a provider's name is 1 to 64 lowercase letters, digits, `-` or `_`",
            crate::api::request::quote(name)
        )))
    }
}

/// A validated source to create, from `POST /v1/sources` or an OAuth callback.
pub(crate) struct Creation {
    pub(crate) id: Option<SourceId>,
    pub(crate) provider: String,
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    pub(crate) credentials: serde_json::Value,
    pub(crate) paused: bool,
}

impl Creation {
    /// Checks what needs no engine: the id, the provider, no credentials in `config`.
    pub(crate) fn check(new: NewSource) -> Result<Self, ApiError> {
        let id = new
            .id
            .map(|id| {
                SourceId::new(id).map_err(|e| ApiError::InvalidSource(format!("invalid `id`: {e}")))
            })
            .transpose()?;
        check_config(&new.config)?;
        check_provider_name(&new.provider)?;
        if new.credentials.is_empty() {
            return Err(ApiError::InvalidSource(
                "`credentials` must name a `kind` and its fields".into(),
            ));
        }
        Ok(Self {
            id,
            provider: new.provider,
            config: new.config,
            credentials: serde_json::Value::Object(new.credentials),
            paused: new.paused,
        })
    }
}

/// `config` must not hold credentials: they go in `credentials`, which is never returned.
pub(crate) fn check_config(
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    if config.contains_key("credentials") {
        return Err(ApiError::InvalidSource(
            "`config.credentials` is not allowed: give credentials in `credentials` (they are never returned)"
                .into(),
        ));
    }
    Ok(())
}

/// Stores and starts a new source of `tenant`; answers its JSON.
pub(crate) async fn create_source(
    state: &ApiState,
    tenant: &Tenant,
    creation: Creation,
) -> Result<SourceBody, ApiError> {
    let limits = *state.limits();
    check_size(
        "config",
        &creation.config,
        limits.max_config_bytes,
        "max_config_bytes",
    )?;
    check_size(
        "credentials",
        &creation.credentials,
        limits.max_credentials_bytes,
        "max_credentials_bytes",
    )?;
    let control = state.sources()?;
    tenant_wide(tenant, "create sources")?;
    let id = match creation.id {
        Some(id) => id,
        None => SourceId::new(format!("src-{}", random_hex(8)?)).map_err(|_| ApiError::Internal)?,
    };
    let mut record = SourceRecord {
        id: id.clone(),
        tenant: tenant.as_str().to_owned(),
        incarnation: 0,
        provider: creation.provider,
        config: serde_json::Value::Object(creation.config),
        credentials: creation.credentials,
        paused: creation.paused,
        created_at: control.clock().now(),
    };
    // Before the write lock: resolving the host name may take up to its timeout.
    control
        .registry()
        .check(&record)
        .await
        .map_err(|e| registry_error(e, &record.credentials))?;
    if record.config.get("poll").is_some() {
        let built = control
            .registry()
            .build(&record)
            .map_err(|e| registry_error(e, &record.credentials))?;
        store_filled_poll(&mut record, &built.policy)?;
    }
    let _writes = control.writes().lock().await;
    // Ids are the tenant's own: another tenant's source with this id is neither seen nor told.
    let exists = {
        let (id, tenant) = (id.clone(), tenant.as_str().to_owned());
        state
            .blocking(move |store| Ok(store.source(&tenant, &id)?.is_some()))
            .await?
    };
    if exists {
        return Err(ApiError::SourceExists(id.as_str().to_owned()));
    }
    // Counted under the write lock, so concurrent creations cannot pass the limit together.
    check_source_places(state, tenant).await?;
    let source = state.store().put_source(record.clone()).await?;
    record.incarnation = source.incarnation;
    if !record.paused {
        // Built again for the incarnation the store gave: its provider reads that object memory.
        let built = control
            .registry()
            .build(&record)
            .map_err(|e| registry_error(e, &record.credentials))?;
        start(control, source, built)?;
    }
    tracing::info!(source = %record.id, tenant = %record.tenant, provider = %record.provider, "source created");
    view(state, control, record).await
}

/// Puts the policy a source runs with in its config's `poll`: a partial policy (filled from the
/// source's current policy and its provider's defaults) is stored, and shown, whole.
pub(crate) fn store_filled_poll(
    record: &mut SourceRecord,
    policy: &PollPolicy,
) -> Result<(), ApiError> {
    let poll = serde_json::to_value(policy).map_err(|_| ApiError::Internal)?;
    match record.config.as_object_mut() {
        Some(map) => {
            map.insert("poll".into(), poll);
            Ok(())
        }
        None => Err(ApiError::InvalidSource(
            "the stored config is not an object; recreate the source".into(),
        )),
    }
}

/// `429 tenant_limit` when `tenant` has `[limits] sources_per_tenant` sources already.
pub(crate) async fn check_source_places(state: &ApiState, tenant: &Tenant) -> Result<(), ApiError> {
    let limit = state.limits().sources_per_tenant;
    let name = tenant.as_str().to_owned();
    let count = state
        .blocking(move |store| Ok(store.sources_of(&name)?.len()))
        .await?;
    if count >= limit {
        return Err(ApiError::TenantLimit {
            message: format!(
                "this tenant has {count} sources, its limit ([limits] sources_per_tenant): \
                 delete one first"
            ),
            retry_after: None,
        });
    }
    Ok(())
}

/// How long deleting or restarting a source waits for its poll in flight; providers time their
/// requests out well before.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Stops running the source and waits for its poll in flight to commit, so that nothing writes
/// for it afterwards (a deleted source's data is not written again; a restarted source never has
/// two polls at once).
pub(crate) async fn settle(control: &SourceControl, record: &SourceRecord) -> Result<(), ApiError> {
    control
        .inner
        .engine
        .remove_source_settled(record.incarnation, control.settle_limit)
        .await
        .map(|_| ())
        .map_err(|e| engine_error(&record.id, e))
}

/// `StillPolling` is the client's to retry; anything else is a fault of ours.
pub(crate) fn engine_error(id: &SourceId, e: EngineError) -> ApiError {
    match e {
        EngineError::StillPolling(_) => {
            tracing::warn!(source = %id, "the source's poll did not finish in time; it is stopped, the client may retry");
            ApiError::SourceBusy(id.as_str().to_owned())
        }
        e => {
            tracing::error!(source = %id, error = %e, "the engine refused a stored source");
            ApiError::Internal
        }
    }
}

pub(crate) fn start(
    control: &SourceControl,
    source: SourceRef,
    built: Built,
) -> Result<(), ApiError> {
    let id = source.id.clone();
    control
        .inner
        .engine
        .add_source_pipelined(source, built.provider, built.objects, built.policy)
        .map_err(|e| engine_error(&id, e))
}

/// The source `id` if `tenant` may see it; another tenant's is not told apart from none.
pub(crate) async fn owned(
    state: &ApiState,
    tenant: &Tenant,
    id: &SourceId,
) -> Result<SourceRecord, ApiError> {
    let (lookup, owner) = (id.clone(), tenant.as_str().to_owned());
    let record = state
        .blocking(move |store| Ok(store.source(&owner, &lookup)?))
        .await?;
    record
        .filter(|r| tenant.may_read(r))
        .ok_or_else(|| ApiError::SourceNotFound(id.as_str().to_owned()))
}

/// The source's JSON: the record without credentials, and its status from engine and store.
pub(crate) async fn view(
    state: &ApiState,
    control: &SourceControl,
    record: SourceRecord,
) -> Result<SourceBody, ApiError> {
    let engine_status = control.engine().status(record.incarnation);
    let now = control.clock().now();
    state
        .blocking(move |store| body(store, record, engine_status, now))
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn provider_refusals_are_scrubbed_of_credential_values() {
        let credentials =
            json!({"kind": "bearer", "token": "s3cret-token", "nested": ["another-one"]});
        assert_eq!(
            super::scrub(
                "invalid type: string \"s3cret-token\", and another-one",
                &credentials
            ),
            "invalid type: string \"***\", and ***"
        );
    }
}
