//! Persisted sources (with their tenants and incarnations), subscriptions, delivery positions
//! and created API keys.

use crate::key;
use crate::sealed::{Found, Sealer};
use crate::sled_store::{
    META_NEXT_INCARNATION, META_NEXT_TENANT, SledStore, TenantLog, TenantRecord, decode_json,
    encode_json,
};
use crate::{
    ApiKeyRecord, DeliveryAttempt, DeliveryState, MAX_ATTEMPTS_KEPT, SourceRecord, SourceRef,
    StoreError, SubscriptionRecord,
};
use sled::Transactional;
use std::sync::{Arc, PoisonError};
use tributary_core::SourceId;

impl SledStore {
    /// Stores the record under its tenant, creating the tenant (a number and an empty log) and
    /// the incarnation when they are new; an existing source of the tenant keeps its
    /// incarnation.
    pub(crate) fn put_source_blocking(
        &self,
        mut record: SourceRecord,
    ) -> Result<SourceRef, StoreError> {
        let _writer = self.write_lock();
        let inner = &self.inner;
        let existing = self.tenant(&record.tenant);
        let (tenant_no, new_tenant) = match &existing {
            Some(log) => (log.no, None),
            None => {
                let no = self.meta_u64(META_NEXT_TENANT, 1)?;
                (no, Some(TenantRecord::new(no)))
            }
        };
        let known = existing
            .as_ref()
            .and_then(|log| log.incarnation(&record.id));
        let (incarnation, new_incarnation) = match known {
            Some(inc) => (inc, false),
            None => (self.meta_u64(META_NEXT_INCARNATION, 1)?, true),
        };
        record.incarnation = incarnation;
        let bytes = encode_source(&self.inner.sealer, &record)?;
        let tenant_bytes = new_tenant
            .as_ref()
            .map(|t| encode_json(t, "tenant"))
            .transpose()?;
        let source_key = key::num_str(tenant_no, record.id.as_str());
        (&inner.meta, &inner.tenants, &inner.sources).transaction(|(meta, tenants, sources)| {
            if let Some(t) = &tenant_bytes {
                tenants.insert(record.tenant.as_bytes(), t.as_slice())?;
                meta.insert(META_NEXT_TENANT, &(tenant_no + 1).to_be_bytes())?;
            }
            if new_incarnation {
                meta.insert(META_NEXT_INCARNATION, &(incarnation + 1).to_be_bytes())?;
            }
            sources.insert(source_key.as_slice(), bytes.as_slice())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
        })?;
        let mut catalog = self.catalog_mut();
        let log = match existing {
            Some(log) => log,
            None => {
                let empty = TenantRecord::new(tenant_no);
                let log = Arc::new(TenantLog::new(
                    &record.tenant,
                    tenant_no,
                    inner.epoch,
                    &empty,
                ));
                catalog
                    .tenants
                    .insert(record.tenant.clone(), Arc::clone(&log));
                log
            }
        };
        log.names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.id.clone(), incarnation);
        catalog
            .live
            .insert(incarnation, (Arc::clone(&log), record.id.clone()));
        Ok(record.source_ref())
    }

    pub(crate) fn source_blocking(
        &self,
        tenant: &str,
        id: &SourceId,
    ) -> Result<Option<SourceRecord>, StoreError> {
        let Some(log) = self.tenant(tenant) else {
            return Ok(None);
        };
        self.inner
            .sources
            .get(key::num_str(log.no, id.as_str()))
            .map_err(StoreError::storage("reading a source"))?
            .map(|v| decode_source(&self.inner.sealer, &v))
            .transpose()
    }

    pub(crate) fn sources_blocking(&self) -> Result<Vec<SourceRecord>, StoreError> {
        all_sources(&self.inner.sealer, self.inner.sources.iter())
    }

    pub(crate) fn sources_of_blocking(
        &self,
        tenant: &str,
    ) -> Result<Vec<SourceRecord>, StoreError> {
        let Some(log) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        all_sources(
            &self.inner.sealer,
            self.inner.sources.scan_prefix(log.no.to_be_bytes()),
        )
    }

    /// Removes the source's data first and its record last, so an interrupted delete leaves the
    /// record in place to be deleted again. Its entries in the tenant's log and their index stay.
    pub(crate) fn delete_source_blocking(
        &self,
        tenant: &str,
        id: &SourceId,
    ) -> Result<bool, StoreError> {
        let _writer = self.write_lock();
        let Some(log) = self.tenant(tenant) else {
            return Ok(false);
        };
        let Some(inc) = log.incarnation(id) else {
            return Ok(false);
        };
        let inner = &self.inner;
        let pending_prefix = key::pair(log.no, inc);
        let by_inc = inc.to_be_bytes();
        for (tree, prefix) in [
            (&inner.pending, &pending_prefix[..]),
            (&inner.gaps, &by_inc[..]),
            (&inner.objects, &by_inc[..]),
            (&inner.ids, &by_inc[..]),
        ] {
            let mut batch = sled::Batch::default();
            for k in tree.scan_prefix(prefix).keys() {
                batch.remove(k.map_err(StoreError::storage("scanning a source's data"))?);
            }
            tree.apply_batch(batch)
                .map_err(StoreError::storage("removing a source's data"))?;
        }
        inner
            .state
            .remove(by_inc)
            .map_err(StoreError::storage("removing a source's state"))?;
        let existed = inner
            .sources
            .remove(key::num_str(log.no, id.as_str()))
            .map_err(StoreError::storage("removing a source"))?;
        // What is kept in memory of the incarnation goes with it: no read can name it again, so
        // a tenant that creates and deletes sources over and over leaves nothing behind.
        self.inner
            .ordinals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&inc);
        log.ends
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&inc);
        let mut catalog = self.catalog_mut();
        catalog.live.remove(&inc);
        log.names
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(existed.is_some())
    }

    pub(crate) fn put_subscription_blocking(
        &self,
        record: &SubscriptionRecord,
    ) -> Result<(), StoreError> {
        let bytes = encode_subscription(&self.inner.sealer, record)?;
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
        self.inner
            .subscriptions
            .get(id.as_bytes())
            .map_err(StoreError::storage("reading a subscription"))?
            .map(|v| decode_subscription(&self.inner.sealer, &v))
            .transpose()
    }

    pub(crate) fn subscriptions_blocking(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.inner
            .subscriptions
            .iter()
            .map(|entry| {
                let (_, v) = entry.map_err(StoreError::storage("scanning subscriptions"))?;
                decode_subscription(&self.inner.sealer, &v)
            })
            .collect()
    }

    pub(crate) fn delete_subscription_blocking(&self, id: &str) -> Result<bool, StoreError> {
        for entry in self.inner.attempts.scan_prefix(attempts_prefix(id)) {
            let (k, _) = entry.map_err(StoreError::storage("scanning delivery attempts"))?;
            self.inner
                .attempts
                .remove(k)
                .map_err(StoreError::storage("removing delivery attempts"))?;
        }
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

    /// Records `attempt` in the next of the subscription's [`MAX_ATTEMPTS_KEPT`] slots (over
    /// the oldest once they are all used): one small write, whatever the number kept.
    pub(crate) fn record_attempt_blocking(
        &self,
        subscription: &str,
        attempt: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let tree = &self.inner.attempts;
        let counter = attempts_counter(subscription);
        let n = match tree
            .get(&counter)
            .map_err(StoreError::storage("reading the attempt counter"))?
        {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                StoreError::corrupt(format!("attempt counter of {subscription}"), "not 8 bytes")
            })?),
            None => 0,
        };
        let stored = StoredAttempt {
            n,
            attempt: attempt.clone(),
        };
        let mut key = attempts_prefix(subscription);
        key.extend_from_slice(&((n % MAX_ATTEMPTS_KEPT as u64) as u32).to_be_bytes());
        tree.insert(key, encode_json(&stored, "delivery attempt")?)
            .map_err(StoreError::storage("writing a delivery attempt"))?;
        tree.insert(counter, &(n + 1).to_be_bytes())
            .map_err(StoreError::storage("writing the attempt counter"))?;
        Ok(())
    }

    /// The subscription's recent attempts, newest first.
    pub(crate) fn attempts_blocking(
        &self,
        subscription: &str,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let mut kept = Vec::new();
        for entry in self
            .inner
            .attempts
            .scan_prefix(attempts_prefix(subscription))
        {
            let (_, v) = entry.map_err(StoreError::storage("reading delivery attempts"))?;
            let stored: StoredAttempt = decode_json(&v, || format!("attempt of {subscription}"))?;
            kept.push(stored);
        }
        kept.sort_by_key(|a| std::cmp::Reverse(a.n));
        Ok(kept.into_iter().map(|s| s.attempt).collect())
    }

    /// A delivery state and the attempt that led to it, in one write.
    pub(crate) fn set_delivery_after_blocking(
        &self,
        subscription: &str,
        state: &DeliveryState,
        attempt: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        self.record_attempt_blocking(subscription, attempt)?;
        self.set_delivery_blocking(subscription, state)
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
        all_json(self.inner.api_keys.iter(), "API key")
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
    entries: sled::Iter,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    entries
        .map(|entry| {
            let (k, v) = entry.map_err(StoreError::storage("scanning records"))?;
            decode_json(&v, || format!("{what} {:?}", String::from_utf8_lossy(&k)))
        })
        .collect()
}

fn all_sources(sealer: &Sealer, entries: sled::Iter) -> Result<Vec<SourceRecord>, StoreError> {
    entries
        .map(|entry| {
            let (_, v) = entry.map_err(StoreError::storage("scanning sources"))?;
            decode_source(sealer, &v)
        })
        .collect()
}

/// What a record's sealed field is bound to: its owner, so it opens in that record only.
pub(crate) fn source_owner(tenant: &str, id: &str) -> String {
    format!("source {tenant}/{id}")
}

pub(crate) fn subscription_owner(id: &str) -> String {
    format!("subscription {id}")
}

/// The record as stored: its credentials sealed.
pub(crate) fn encode_source(sealer: &Sealer, record: &SourceRecord) -> Result<Vec<u8>, StoreError> {
    let owner = source_owner(&record.tenant, record.id.as_str());
    let mut value = serde_json::to_value(record).map_err(|source| StoreError::Encode {
        what: "source",
        source,
    })?;
    seal_field(sealer, &mut value, "credentials", &owner)?;
    encode_json(&value, "source")
}

/// A stored source with its credentials opened (sealed, or plain from an earlier build).
pub(crate) fn decode_source(sealer: &Sealer, bytes: &[u8]) -> Result<SourceRecord, StoreError> {
    let (record, _) = open_source(sealer, bytes)?;
    Ok(record)
}

/// A stored source, and how its credentials were found.
pub(crate) fn open_source(
    sealer: &Sealer,
    bytes: &[u8],
) -> Result<(SourceRecord, Found), StoreError> {
    let mut value: serde_json::Value = decode_json(bytes, || "source".to_owned())?;
    let owner = source_owner(
        value["tenant"].as_str().unwrap_or_default(),
        value["id"].as_str().unwrap_or_default(),
    );
    let found = open_field(sealer, &mut value, "credentials", &owner)?;
    let record = serde_json::from_value(value).map_err(|e| StoreError::corrupt(owner, e))?;
    Ok((record, found))
}

pub(crate) fn encode_subscription(
    sealer: &Sealer,
    record: &SubscriptionRecord,
) -> Result<Vec<u8>, StoreError> {
    let mut value = serde_json::to_value(record).map_err(|source| StoreError::Encode {
        what: "subscription",
        source,
    })?;
    seal_field(
        sealer,
        &mut value,
        "secrets",
        &subscription_owner(&record.id),
    )?;
    encode_json(&value, "subscription")
}

pub(crate) fn decode_subscription(
    sealer: &Sealer,
    bytes: &[u8],
) -> Result<SubscriptionRecord, StoreError> {
    let (record, _) = open_subscription(sealer, bytes)?;
    Ok(record)
}

pub(crate) fn open_subscription(
    sealer: &Sealer,
    bytes: &[u8],
) -> Result<(SubscriptionRecord, Found), StoreError> {
    let mut value: serde_json::Value = decode_json(bytes, || "subscription".to_owned())?;
    let owner = subscription_owner(value["id"].as_str().unwrap_or_default());
    let found = open_field(sealer, &mut value, "secrets", &owner)?;
    let record = serde_json::from_value(value).map_err(|e| StoreError::corrupt(owner, e))?;
    Ok((record, found))
}

fn seal_field(
    sealer: &Sealer,
    value: &mut serde_json::Value,
    field: &'static str,
    owner: &str,
) -> Result<(), StoreError> {
    if let Some(slot) = value.get_mut(field) {
        *slot = sealer
            .seal(slot, owner)
            .map_err(|source| StoreError::Sealed {
                what: format!("{owner}: {field}"),
                source,
            })?;
    }
    Ok(())
}

fn open_field(
    sealer: &Sealer,
    value: &mut serde_json::Value,
    field: &'static str,
    owner: &str,
) -> Result<Found, StoreError> {
    let Some(slot) = value.get_mut(field) else {
        return Ok(Found::Current);
    };
    let (opened, found) = sealer
        .open(slot.take(), owner)
        .map_err(|source| StoreError::Sealed {
            what: format!("{owner}: {field}"),
            source,
        })?;
    *slot = opened;
    Ok(found)
}

/// A delivery attempt as stored: its number among the subscription's attempts (the newest has
/// the highest), in one of [`MAX_ATTEMPTS_KEPT`] slots.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredAttempt {
    n: u64,
    attempt: DeliveryAttempt,
}

/// `subscription 0x00`: the prefix of the subscription's attempt slots (`… slot u32`).
fn attempts_prefix(subscription: &str) -> Vec<u8> {
    let mut key = subscription.as_bytes().to_vec();
    key.push(0);
    key
}

/// `subscription 0x01`: how many attempts the subscription has had.
fn attempts_counter(subscription: &str) -> Vec<u8> {
    let mut key = subscription.as_bytes().to_vec();
    key.push(1);
    key
}
