//! A [`SubscriptionControl`] with no dispatcher behind it: for an API that runs without one
//! (tests, a server that does not deliver). A change needs no announcement; a replay writes the
//! subscription's delivery state itself.

use super::SubscriptionControl;
use std::sync::Arc;
use tributary_core::Seq;
use tributary_store::{DeliveryState, EventStore, StoreError};

/// Replays straight into the store; changes are ignored (nothing caches a record).
pub struct StoreOnly(pub Arc<dyn EventStore>);

#[async_trait::async_trait]
impl SubscriptionControl for StoreOnly {
    fn changed(&self, _subscription: &str) {}

    async fn replay(&self, subscription: &str, delivered: Seq) -> Result<(), StoreError> {
        let state = DeliveryState {
            delivered,
            ..DeliveryState::default()
        };
        self.0.set_delivery(subscription, state).await
    }
}
