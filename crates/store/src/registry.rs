//! Persisted sources, subscriptions, delivery positions and created API keys.

use crate::key;
use crate::sled_store::{SledStore, decode_json, encode_json};
use crate::{ApiKeyRecord, DeliveryState, SourceRecord, StoreError, SubscriptionRecord};
use tributary_core::SourceId;

impl SledStore {
    pub(crate) fn put_source_blocking(&self, record: &SourceRecord) -> Result<(), StoreError> {
        let bytes = encode_json(record, "source")?;
        self.inner
            .sources
            .insert(record.id.as_str().as_bytes(), bytes)
            .map_err(StoreError::storage("writing a source"))?;
        Ok(())
    }

    pub(crate) fn source_blocking(
        &self,
        id: &SourceId,
    ) -> Result<Option<SourceRecord>, StoreError> {
        get_json(&self.inner.sources, id.as_str(), "source")
    }

    pub(crate) fn sources_blocking(&self) -> Result<Vec<SourceRecord>, StoreError> {
        all_json(&self.inner.sources, "source")
    }

    /// Removes the source's data first and its record last, so an interrupted delete leaves the
    /// record in place to be deleted again.
    pub(crate) fn delete_source_blocking(&self, id: &SourceId) -> Result<bool, StoreError> {
        let _writer = self.write_lock();
        let inner = &self.inner;
        let prefix = key::source_prefix(id);
        for tree in [&inner.pending, &inner.gaps, &inner.objects, &inner.ids] {
            let mut batch = sled::Batch::default();
            for k in tree.scan_prefix(&prefix).keys() {
                batch.remove(k.map_err(StoreError::storage("scanning a source's data"))?);
            }
            tree.apply_batch(batch)
                .map_err(StoreError::storage("removing a source's data"))?;
        }
        inner
            .state
            .remove(id.as_str().as_bytes())
            .map_err(StoreError::storage("removing a source's state"))?;
        let existed = inner
            .sources
            .remove(id.as_str().as_bytes())
            .map_err(StoreError::storage("removing a source"))?;
        Ok(existed.is_some())
    }

    pub(crate) fn put_subscription_blocking(
        &self,
        record: &SubscriptionRecord,
    ) -> Result<(), StoreError> {
        let bytes = encode_json(record, "subscription")?;
        self.inner
            .subscriptions
            .insert(record.id.as_bytes(), bytes)
            .map_err(StoreError::storage("writing a subscription"))?;
        Ok(())
    }

    pub(crate) fn subscription_blocking(
        &self,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        get_json(&self.inner.subscriptions, id, "subscription")
    }

    pub(crate) fn subscriptions_blocking(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        all_json(&self.inner.subscriptions, "subscription")
    }

    pub(crate) fn delete_subscription_blocking(&self, id: &str) -> Result<bool, StoreError> {
        self.inner
            .deliveries
            .remove(id.as_bytes())
            .map_err(StoreError::storage("removing a delivery state"))?;
        let existed = self
            .inner
            .subscriptions
            .remove(id.as_bytes())
            .map_err(StoreError::storage("removing a subscription"))?;
        Ok(existed.is_some())
    }

    pub(crate) fn delivery_blocking(
        &self,
        subscription: &str,
    ) -> Result<Option<DeliveryState>, StoreError> {
        get_json(&self.inner.deliveries, subscription, "delivery state")
    }

    pub(crate) fn set_delivery_blocking(
        &self,
        subscription: &str,
        state: &DeliveryState,
    ) -> Result<(), StoreError> {
        let bytes = encode_json(state, "delivery state")?;
        self.inner
            .deliveries
            .insert(subscription.as_bytes(), bytes)
            .map_err(StoreError::storage("writing a delivery state"))?;
        Ok(())
    }

    pub(crate) fn put_api_key_blocking(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let bytes = encode_json(record, "API key")?;
        self.inner
            .api_keys
            .insert(record.id.as_bytes(), bytes)
            .map_err(StoreError::storage("writing an API key"))?;
        Ok(())
    }

    pub(crate) fn api_keys_blocking(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        all_json(&self.inner.api_keys, "API key")
    }

    pub(crate) fn delete_api_key_blocking(&self, id: &str) -> Result<bool, StoreError> {
        let existed = self
            .inner
            .api_keys
            .remove(id.as_bytes())
            .map_err(StoreError::storage("removing an API key"))?;
        Ok(existed.is_some())
    }
}

fn get_json<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    id: &str,
    what: &str,
) -> Result<Option<T>, StoreError> {
    tree.get(id.as_bytes())
        .map_err(StoreError::storage("reading a record"))?
        .map(|v| decode_json(&v, || format!("{what} {id:?}")))
        .transpose()
}

fn all_json<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    tree.iter()
        .map(|entry| {
            let (k, v) = entry.map_err(StoreError::storage("scanning records"))?;
            decode_json(&v, || format!("{what} {:?}", String::from_utf8_lossy(&k)))
        })
        .collect()
}
