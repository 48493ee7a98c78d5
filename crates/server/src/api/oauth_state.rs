//! OAuth flows started (`POST /v1/oauth/{provider}/start`) and waiting for their callback, by
//! `state`. Held by the sources service ([`SourceControl`](crate::control::SourceControl)) in
//! this process only: a restart forgets them, and the user starts again.
//!
//! Each tenant may have at most [`Limits::oauth_pending_per_tenant`](super::Limits) flows
//! waiting (`429 tenant_limit` beyond, with `Retry-After` until its oldest expires), so one
//! tenant cannot fill the server-wide [`MAX_PENDING`] that all tenants share.

use super::{ApiError, Tenant};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use tributary_core::SourceId;

/// At most this many flows wait at once, of all tenants (expired ones are dropped first).
pub const MAX_PENDING: usize = 10_000;

/// Flows started and not yet called back, by `state`.
pub(crate) struct PendingStates {
    states: Mutex<HashMap<String, Flow>>,
    /// The server-wide cap: [`MAX_PENDING`] (smaller in tests).
    cap: usize,
}

impl Default for PendingStates {
    fn default() -> Self {
        Self {
            states: Mutex::default(),
            cap: MAX_PENDING,
        }
    }
}

/// A started flow: what its start request gave, kept until its callback or `expires_at`.
pub(crate) struct Flow {
    /// The provider's name (a factory of the registry).
    pub(crate) provider: String,
    /// Where and how the code is exchanged, as the provider's factory said at `start`.
    pub(crate) endpoints: tributary_provider_kit::OAuthEndpoints,
    pub(crate) tenant: Tenant,
    pub(crate) id: Option<SourceId>,
    pub(crate) config: serde_json::Map<String, serde_json::Value>,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) redirect_uri: String,
    pub(crate) paused: bool,
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
        if states.len() >= self.cap {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn flow(tenant: &str, expires_at: DateTime<Utc>) -> Flow {
        let keys = crate::api::ApiKeys::new([crate::api::KeyEntry::new(tenant, "k")]).unwrap();
        Flow {
            provider: "egnyte".into(),
            endpoints: tributary_provider_kit::OAuthEndpoints {
                authorize_url: "https://acme.egnyte.com/puboauth/token".into(),
                token_url: "https://acme.egnyte.com/puboauth/token".into(),
                client_auth: tributary_provider_kit::ClientAuth::Form,
                scopes: Vec::new(),
                without_refresh: tributary_provider_kit::WithoutRefresh::Bearer,
            },
            tenant: keys.tenant("k").unwrap(),
            id: None,
            config: serde_json::Map::new(),
            client_id: "app".into(),
            client_secret: "shh".into(),
            redirect_uri: "https://app.example/back".into(),
            paused: false,
            expires_at,
        }
    }

    #[test]
    fn a_full_server_answers_503_with_retry_after_and_a_tenant_at_its_limit_429() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let secs = |s| now + chrono::Duration::seconds(s);
        let pending = PendingStates {
            cap: 3,
            ..PendingStates::default()
        };
        pending
            .insert("s1".into(), flow("a", secs(300)), now, 2)
            .unwrap();
        pending
            .insert("s2".into(), flow("a", secs(200)), now, 2)
            .unwrap();
        pending
            .insert("s3".into(), flow("b", secs(599)), now, 2)
            .unwrap();
        // `a` at its own limit: 429, until its oldest (200 s).
        match pending.insert("s4".into(), flow("a", secs(600)), now, 2) {
            Err(ApiError::TenantLimit {
                retry_after: Some(200),
                ..
            }) => {}
            other => panic!("{:?}", other.err()),
        }
        // `c` below its limit, the server full: 503, until the oldest of all (200 s).
        let full = pending
            .insert("s4".into(), flow("c", secs(600)), now, 2)
            .unwrap_err();
        assert!(
            matches!(full, ApiError::PendingFull { retry_after: 200 }),
            "{full:?}"
        );
        assert_eq!(
            (full.status().as_u16(), full.code()),
            (503, "sources_unavailable")
        );
        // Expired flows are dropped first: 200.5 s later, `a`'s oldest is gone.
        let later = now + chrono::Duration::milliseconds(200_500);
        pending
            .insert("s4".into(), flow("c", secs(600)), later, 2)
            .unwrap();
        assert!(pending.take("s2", later).is_none());
        assert!(pending.take("s1", later).is_some());
        // A fraction of a second is rounded up.
        assert_eq!(seconds_until(Some(secs(300)), later), 100);
        assert_eq!(seconds_until(Some(later), later), 1);
    }
}
