//! OAuth flows started (`POST /v1/oauth/{provider}/start`) and waiting for their callback, by
//! `state`. Held by the sources service ([`SourceControl`](crate::control::SourceControl)) in
//! this process only: a restart forgets them, and the user starts again.

use super::{ApiError, Tenant, openapi};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use tributary_core::SourceId;

/// At most this many flows wait at once (expired ones are dropped first).
pub const MAX_PENDING: usize = 10_000;

/// Flows started and not yet called back, by `state`.
#[derive(Default)]
pub(crate) struct PendingStates {
    states: Mutex<HashMap<String, Flow>>,
}

/// A started flow: what its start request gave, kept until its callback or `expires_at`.
pub(crate) struct Flow {
    pub(crate) provider: openapi::ProviderName,
    pub(crate) tenant: Tenant,
    pub(crate) id: Option<SourceId>,
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uri: String,
    pub(crate) paused: bool,
    pub(crate) token_url: String,
    pub(crate) expires_at: DateTime<Utc>,
}

impl PendingStates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flow>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(
        &self,
        state: String,
        flow: Flow,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let mut states = self.lock();
        states.retain(|_, f| f.expires_at > now);
        if states.len() >= MAX_PENDING {
            tracing::warn!(
                pending = states.len(),
                "too many OAuth flows waiting; refusing a new one"
            );
            return Err(ApiError::SourcesUnavailable);
        }
        states.insert(state, flow);
        Ok(())
    }

    /// The flow of `state`, removed (a state is used once), if it is live.
    pub(crate) fn take(&self, state: &str, now: DateTime<Utc>) -> Option<Flow> {
        self.lock().remove(state).filter(|f| f.expires_at > now)
    }
}
