//! OAuth flows started (`POST /v1/oauth/{provider}/start`) and waiting for their callback, by
//! `state`. Held by the sources service ([`SourceControl`](crate::control::SourceControl)) in
//! this process only: a restart forgets them, and the user starts again.
//!
//! Each tenant may have at most [`Limits::oauth_pending_per_tenant`](super::Limits) flows
//! waiting (`429 tenant_limit` beyond, with `Retry-After` until its oldest expires), so one
//! tenant cannot fill the server-wide [`MAX_PENDING`] that all tenants share.

use super::{ApiError, Tenant, openapi};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use tributary_core::SourceId;

/// At most this many flows wait at once, of all tenants (expired ones are dropped first).
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

    /// Keeps `flow` under `state` unless its tenant has `per_tenant` flows waiting (`429
    /// tenant_limit`) or the server [`MAX_PENDING`] (`503 sources_unavailable`); both answer
    /// `Retry-After` until the oldest flow in the way expires.
    pub(crate) fn insert(
        &self,
        state: String,
        flow: Flow,
        now: DateTime<Utc>,
        per_tenant: usize,
    ) -> Result<(), ApiError> {
        let mut states = self.lock();
        states.retain(|_, f| f.expires_at > now);
        let tenant = flow.tenant.as_str();
        let of_tenant = states.values().filter(|f| f.tenant.as_str() == tenant);
        let (count, oldest) = of_tenant.fold((0usize, None), |(n, oldest), f| {
            (
                n + 1,
                Some(oldest.map_or(f.expires_at, |o: DateTime<Utc>| o.min(f.expires_at))),
            )
        });
        if count >= per_tenant {
            return Err(ApiError::TenantLimit {
                message: format!(
                    "this tenant has {count} OAuth flows waiting for their callback, its limit \
                     ([limits] oauth_pending_per_tenant): finish one or wait until the oldest expires"
                ),
                retry_after: Some(seconds_until(oldest, now)),
            });
        }
        if states.len() >= MAX_PENDING {
            tracing::warn!(
                pending = states.len(),
                "too many OAuth flows waiting, of all tenants; refusing a new one"
            );
            let oldest = states.values().map(|f| f.expires_at).min();
            return Err(ApiError::PendingFull {
                retry_after: seconds_until(oldest, now),
            });
        }
        states.insert(state, flow);
        Ok(())
    }

    /// The flow of `state`, removed (a state is used once), if it is live.
    pub(crate) fn take(&self, state: &str, now: DateTime<Utc>) -> Option<Flow> {
        self.lock().remove(state).filter(|f| f.expires_at > now)
    }
}

/// Whole seconds from `now` until `at` (rounded up, at least 1); 1 without a time.
fn seconds_until(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> u64 {
    let millis = at.map_or(0, |at| (at - now).num_milliseconds());
    u64::try_from(millis.div_euclid(1000) + i64::from(millis.rem_euclid(1000) > 0))
        .unwrap_or(0)
        .max(1)
}
