//! Which sources a caller may read: derived from the store's source records once, and again only
//! after a source is created or deleted ([`EventStore::sources_generation`]), instead of decoding
//! every record on every read.

use super::Tenant;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tributary_core::SourceId;
use tributary_store::{EventStore, StoreError};

/// Each tenant's sources, by tenant.
type ByTenant = Arc<HashMap<String, Vec<SourceId>>>;

/// [`ByTenant`] as of one generation of the store's sources.
#[derive(Default)]
pub(crate) struct SourceScopes {
    cached: Mutex<Option<(u64, ByTenant)>>,
}

impl SourceScopes {
    /// The sources `tenant` may read, by id: the tenant's, or a source-scoped key's one source.
    /// Blocking: it reads the store when the sources changed.
    pub(crate) fn readable(
        &self,
        store: &dyn EventStore,
        tenant: &Tenant,
    ) -> Result<Vec<SourceId>, StoreError> {
        let by_tenant = self.by_tenant(store)?;
        let owned = by_tenant
            .get(tenant.as_str())
            .map_or(&[][..], Vec::as_slice);
        Ok(match tenant.source() {
            Some(only) => owned.iter().filter(|s| *s == only).cloned().collect(),
            None => owned.to_vec(),
        })
    }

    /// True when the cache holds the store's current sources, so [`SourceScopes::readable`]
    /// will not read the store.
    pub(crate) fn is_fresh(&self, store: &dyn EventStore) -> bool {
        let generation = store.sources_generation();
        self.lock()
            .as_ref()
            .is_some_and(|(seen, _)| *seen == generation)
    }

    fn by_tenant(&self, store: &dyn EventStore) -> Result<ByTenant, StoreError> {
        // Read before the sources: a change after this read makes the next call rebuild.
        let generation = store.sources_generation();
        if let Some((seen, map)) = &*self.lock()
            && *seen == generation
        {
            return Ok(Arc::clone(map));
        }
        let mut map: HashMap<String, Vec<SourceId>> = HashMap::new();
        for record in store.sources()? {
            map.entry(record.tenant).or_default().push(record.id);
        }
        let map = Arc::new(map);
        *self.lock() = Some((generation, Arc::clone(&map)));
        Ok(map)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, ByTenant)>> {
        // The cache is replaced whole: a panicking holder left a valid value behind.
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiKeys, KeyEntry};
    use tributary_store::{SledStore, SourceRecord};

    fn record(id: &str, tenant: &str) -> SourceRecord {
        SourceRecord {
            id: SourceId::new(id).unwrap(),
            tenant: tenant.into(),
            provider: "egnyte".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: chrono::Utc::now(),
        }
    }

    fn ids(sources: Vec<SourceId>) -> Vec<String> {
        sources.into_iter().map(|s| s.as_str().to_owned()).collect()
    }

    #[tokio::test]
    async fn follows_sources_created_and_deleted_after_it_was_filled() {
        let store = SledStore::temporary().unwrap();
        let keys = ApiKeys::new([
            KeyEntry::new("a", "wide"),
            KeyEntry::new("a", "narrow").for_source("a2"),
        ])
        .unwrap();
        let (wide, narrow) = (keys.tenant("wide").unwrap(), keys.tenant("narrow").unwrap());
        let scopes = SourceScopes::default();
        assert!(!scopes.is_fresh(&store));
        store.put_source(record("a1", "a")).await.unwrap();
        store.put_source(record("b1", "b")).await.unwrap();
        assert_eq!(ids(scopes.readable(&store, &wide).unwrap()), ["a1"]);
        assert!(scopes.is_fresh(&store));
        assert!(scopes.readable(&store, &narrow).unwrap().is_empty());

        store.put_source(record("a2", "a")).await.unwrap();
        assert!(!scopes.is_fresh(&store));
        assert_eq!(ids(scopes.readable(&store, &wide).unwrap()), ["a1", "a2"]);
        assert_eq!(ids(scopes.readable(&store, &narrow).unwrap()), ["a2"]);

        store
            .delete_source(&SourceId::new("a1").unwrap())
            .await
            .unwrap();
        assert_eq!(ids(scopes.readable(&store, &wide).unwrap()), ["a2"]);
        // Another tenant's source under the key's source id is not the key's.
        store
            .delete_source(&SourceId::new("a2").unwrap())
            .await
            .unwrap();
        store.put_source(record("a2", "b")).await.unwrap();
        assert!(scopes.readable(&store, &narrow).unwrap().is_empty());
        assert!(scopes.readable(&store, &wide).unwrap().is_empty());
    }
}
