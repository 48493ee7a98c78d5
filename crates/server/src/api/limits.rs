//! Per-tenant limits: what one tenant (or one key) may hold at once, so that no tenant can fill
//! what all tenants share. A tenant at a limit gets `429 tenant_limit` (with `Retry-After` when
//! the wait is known); other tenants are unaffected.
//!
//! The values are [`Limits`], part of [`ApiConfig`](super::ApiConfig) (`serve` takes them from
//! the configuration's `[limits]`). The live-stream slots are counted here ([`StreamSlots`]); the
//! other limits are checked where their things are created (sources, OAuth flows).

use super::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The per-tenant limits and the request bounds of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// OAuth flows started and not yet called back, per tenant (the server-wide cap,
    /// [`MAX_PENDING`](super::oauth::MAX_PENDING), stays above it).
    pub oauth_pending_per_tenant: usize,
    /// Live streams (`/v1/events/stream`) open at once, per tenant.
    pub streams_per_tenant: usize,
    /// Live streams open at once, per API key.
    pub streams_per_key: usize,
    /// Sources a tenant may create through the API (configured sources are the operator's and
    /// are not counted against it when they are written, but they count for later creations).
    pub sources_per_tenant: usize,
    /// The largest source `config`, in bytes of its JSON.
    pub max_config_bytes: usize,
    /// The largest source `credentials`, in bytes of their JSON.
    pub max_credentials_bytes: usize,
    /// The largest request body, in bytes (`413 payload_too_large` beyond it).
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's head (its line and headers); the
    /// connection is closed after that.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    /// The values of `config.default.toml`'s `[limits]`.
    fn default() -> Self {
        Self {
            oauth_pending_per_tenant: 100,
            streams_per_tenant: 50,
            streams_per_key: 10,
            sources_per_tenant: 1000,
            max_config_bytes: 16 * 1024,
            max_credentials_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// The live streams open, by tenant and by key. Each open stream holds a [`StreamSlot`], which
/// gives its place back when dropped: when the stream ends, the server shuts down, or the client
/// goes away (the server drops the response body then).
#[derive(Default, Clone)]
pub(crate) struct StreamSlots {
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    by_tenant: HashMap<String, usize>,
    by_key: HashMap<[u8; 32], usize>,
}

/// One open stream's place in [`StreamSlots`].
pub(crate) struct StreamSlot {
    open: Arc<Mutex<Open>>,
    tenant: String,
    key: [u8; 32],
}

impl StreamSlots {
    fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
        // Counts are changed in one step each: a panic cannot leave one half-changed.
        open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new stream of `tenant` on the key whose SHA-256 is `key`, or `429
    /// tenant_limit` when the tenant or the key has its limit's worth open.
    pub(crate) fn acquire(
        &self,
        limits: &Limits,
        tenant: &str,
        key: [u8; 32],
    ) -> Result<StreamSlot, ApiError> {
        let mut open = Self::lock(&self.open);
        let of_tenant = open.by_tenant.get(tenant).copied().unwrap_or(0);
        if of_tenant >= limits.streams_per_tenant {
            return Err(ApiError::TenantLimit {
                message: format!(
                    "this tenant has {of_tenant} live streams open, its limit \
                     ([limits] streams_per_tenant): close one first"
                ),
                retry_after: None,
            });
        }
        let of_key = open.by_key.get(&key).copied().unwrap_or(0);
        if of_key >= limits.streams_per_key {
            return Err(ApiError::TenantLimit {
                message: format!(
                    "this API key has {of_key} live streams open, its limit \
                     ([limits] streams_per_key): close one first"
                ),
                retry_after: None,
            });
        }
        *open.by_tenant.entry(tenant.to_owned()).or_default() += 1;
        *open.by_key.entry(key).or_default() += 1;
        Ok(StreamSlot {
            open: Arc::clone(&self.open),
            tenant: tenant.to_owned(),
            key,
        })
    }

    /// How many streams `tenant` has open.
    #[cfg(test)]
    pub(crate) fn open_of(&self, tenant: &str) -> usize {
        Self::lock(&self.open)
            .by_tenant
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = StreamSlots::lock(&self.open);
        release(&mut open.by_tenant, &self.tenant);
        release(&mut open.by_key, &self.key);
    }
}

/// One less under `key`; the entry goes at zero, so the maps hold only what is open.
fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// `413 payload_too_large` when `value`'s JSON is larger than `max` bytes; names the field.
pub(crate) fn check_size(
    field: &str,
    value: &impl serde::Serialize,
    max: usize,
    setting: &str,
) -> Result<(), ApiError> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "`{field}` is {size} bytes of JSON; the limit is {max} bytes ([limits] {setting})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_by_tenant_and_key_and_are_given_back_on_drop() {
        let limits = Limits {
            streams_per_tenant: 3,
            streams_per_key: 2,
            ..Limits::default()
        };
        let slots = StreamSlots::default();
        let a1 = slots.acquire(&limits, "a", [1; 32]).unwrap();
        let a2 = slots.acquire(&limits, "a", [1; 32]).unwrap();
        let refused = slots.acquire(&limits, "a", [1; 32]).err().unwrap();
        assert_eq!(refused.code(), "tenant_limit");
        assert!(refused.to_string().contains("streams_per_key"), "{refused}");
        let a3 = slots.acquire(&limits, "a", [2; 32]).unwrap();
        let refused = slots.acquire(&limits, "a", [3; 32]).err().unwrap();
        assert!(
            refused.to_string().contains("streams_per_tenant"),
            "{refused}"
        );
        // Another tenant is not affected.
        let b = slots.acquire(&limits, "b", [4; 32]).unwrap();
        assert_eq!((slots.open_of("a"), slots.open_of("b")), (3, 1));
        drop(a1);
        assert_eq!(slots.open_of("a"), 2);
        let again = slots.acquire(&limits, "a", [1; 32]).unwrap();
        drop((a2, a3, b, again));
        let open = StreamSlots::lock(&slots.open);
        assert!(open.by_tenant.is_empty() && open.by_key.is_empty());
    }
}
