//! Webhooks: each subscription of a tenant gets that tenant's log delivered to its URL, signed
//! (Standard Webhooks), in order, at least once.
//!
//! - [`signature`]: secrets and the `webhook-signature` header.
//! - [`SubscriptionControl`]: what the API tells the dispatcher.
//! - [`dispatcher`]: the [`Dispatcher`], which delivers (and implements [`SubscriptionControl`]).
//! - [`schedule`]: the retry schedule, its jitter and `Retry-After` ([`DispatcherConfig`]).
//! - [`body`]: the `full` and `notify` request bodies.

pub mod body;
pub mod dispatcher;
pub mod schedule;
pub mod signature;
pub mod store_only;

pub use dispatcher::{Dispatcher, FailingSubscription, WebhookSnapshot, WebhookStats};
pub use schedule::DispatcherConfig;

use tributary_core::Seq;
use tributary_store::StoreError;

/// What the API (`/v1/subscriptions`) tells whatever delivers. The API writes subscription
/// records itself, and a new subscription's first [`DeliveryState`] (its start position) before
/// announcing it; after that only the dispatcher writes a delivery state, so a replay goes
/// through [`SubscriptionControl::replay`].
///
/// [`DeliveryState`]: tributary_store::DeliveryState
#[async_trait::async_trait]
pub trait SubscriptionControl: Send + Sync {
    /// The subscription was created, changed (url, filter, secrets, mode, paused, re-enabled)
    /// or deleted: re-read its record from the store before the next attempt. Cheap; never
    /// waits for a delivery.
    fn changed(&self, subscription: &str);

    /// Moves the subscription's cursor to `delivered` (the last position counted as delivered:
    /// deliveries resume after it, in order). A batch in flight is abandoned (its answer, when it
    /// comes, moves nothing), the retry schedule and the failure run are reset. Persisted before
    /// it returns.
    async fn replay(&self, subscription: &str, delivered: Seq) -> Result<(), StoreError>;

    /// The lock that every read-modify-write of a subscription record holds from its read to
    /// its write, shared by the API (`PATCH`) and the dispatcher (disabling), so neither writes
    /// back a record the other changed meanwhile. `None`: the caller keeps its own.
    fn record_writes(&self) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
        None
    }
}

#[cfg(test)]
mod tests;
