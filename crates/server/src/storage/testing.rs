//! Test doubles for the storage guard's tests (compiled only for tests): a store whose writes
//! fail or hang on demand, and free space set by hand.

use super::FreeSpace;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use tributary_core::{Cursor, Gap, ObjectStateRead, Page, SourceId};
use tributary_store::{
    ApiKeyRecord, DeliveryAttempt, DeliveryState, EventStore, Filter, IngestReport, MergeReport,
    ReadPage, Retention, RetentionReport, SledStore, SourceRecord, SourceRef, SourceState,
    StoreError, SubscriptionRecord,
};

/// What [`Faulty`] does to calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Every call reaches the real store.
    None,
    /// Writes fail with `ENOSPC`, as sled's flush does on a full disk; reads work.
    DiskFull,
    /// Writes and async reads wait until the fault is changed, as sled's did when a flush hung.
    /// A synchronous read panics: the guard must not let one reach a stuck store (sled would
    /// block the thread, and a test would hang rather than fail).
    Hang,
}

/// A [`SledStore`] whose calls fail or hang as [`Faulty::set`] says.
pub(crate) struct Faulty {
    inner: SledStore,
    fault: watch::Sender<Fault>,
    /// Writes that reached the real store.
    pub(crate) writes: AtomicU64,
}

impl Faulty {
    pub(crate) fn new(inner: SledStore) -> Arc<Self> {
        Arc::new(Self {
            inner,
            fault: watch::Sender::new(Fault::None),
            writes: AtomicU64::new(0),
        })
    }

    /// Changes the fault; calls hanging on [`Fault::Hang`] go on with the new one.
    pub(crate) fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    fn enospc(what: &'static str) -> StoreError {
        StoreError::Storage {
            context: what,
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        }
    }

    /// Waits while the fault is `Hang`, then fails a write on `DiskFull`.
    async fn before_write(&self, what: &'static str) -> Result<(), StoreError> {
        let mut fault = self.fault.subscribe();
        let fault = *fault
            .wait_for(|f| *f != Fault::Hang)
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?;
        if fault == Fault::DiskFull {
            return Err(Self::enospc(what));
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn before_read(&self) {
        let mut fault = self.fault.subscribe();
        let _ = fault.wait_for(|f| *f != Fault::Hang).await;
    }

    fn before_sync_read(&self) {
        assert_ne!(
            *self.fault.borrow(),
            Fault::Hang,
            "a synchronous read reached a stuck store"
        );
    }
}

#[async_trait::async_trait]
impl EventStore for Faulty {
    fn stream_key(&self, tenant: &str) -> u64 {
        self.inner.stream_key(tenant)
    }
    fn public_source_number(&self, source: &SourceRef) -> u64 {
        self.inner.public_source_number(source)
    }
    async fn ingest(&self, source: &SourceRef, page: Page) -> Result<IngestReport, StoreError> {
        self.before_write("ingest").await?;
        self.inner.ingest(source, page).await
    }
    fn source_state(&self, source: &SourceRef) -> Result<Option<SourceState>, StoreError> {
        self.before_sync_read();
        self.inner.source_state(source)
    }
    fn pending_len(&self, source: &SourceRef) -> Result<u64, StoreError> {
        self.before_sync_read();
        self.inner.pending_len(source)
    }
    fn gaps(&self, source: &SourceRef) -> Result<Vec<Gap>, StoreError> {
        self.before_sync_read();
        self.inner.gaps(source)
    }
    fn object_state(&self, source: &SourceRef) -> Box<dyn ObjectStateRead> {
        self.inner.object_state(source)
    }
    async fn merge_tenants(
        &self,
        frontiers: Vec<(String, DateTime<Utc>)>,
    ) -> Result<Vec<(String, MergeReport)>, StoreError> {
        self.before_write("merge").await?;
        self.inner.merge_tenants(frontiers).await
    }
    async fn read_within(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError> {
        self.before_read().await;
        self.inner
            .read_within(tenant, after, limit, filter, max_scan)
            .await
    }
    async fn latest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        self.before_read().await;
        self.inner.latest(tenant).await
    }
    async fn oldest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        self.before_read().await;
        self.inner.oldest(tenant).await
    }
    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        self.before_write("retention").await?;
        self.inner.apply_retention(retention, now).await
    }
    async fn put_source(&self, record: SourceRecord) -> Result<SourceRef, StoreError> {
        self.before_write("put_source").await?;
        self.inner.put_source(record).await
    }
    fn source(&self, tenant: &str, id: &SourceId) -> Result<Option<SourceRecord>, StoreError> {
        self.before_sync_read();
        self.inner.source(tenant, id)
    }
    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.before_sync_read();
        self.inner.sources()
    }
    fn sources_of(&self, tenant: &str) -> Result<Vec<SourceRecord>, StoreError> {
        self.before_sync_read();
        self.inner.sources_of(tenant)
    }
    fn sources_generation(&self) -> u64 {
        self.inner.sources_generation()
    }
    async fn delete_source(&self, tenant: &str, id: &SourceId) -> Result<bool, StoreError> {
        self.before_write("delete_source").await?;
        self.inner.delete_source(tenant, id).await
    }
    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<(), StoreError> {
        self.before_write("put_subscription").await?;
        self.inner.put_subscription(record).await
    }
    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.before_sync_read();
        self.inner.subscription(id)
    }
    fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.before_sync_read();
        self.inner.subscriptions()
    }
    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        self.before_write("delete_subscription").await?;
        self.inner.delete_subscription(id).await
    }
    fn delivery(&self, subscription: &str) -> Result<Option<DeliveryState>, StoreError> {
        self.before_sync_read();
        self.inner.delivery(subscription)
    }
    async fn set_delivery(
        &self,
        subscription: &str,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        self.before_write("set_delivery").await?;
        self.inner.set_delivery(subscription, state).await
    }
    async fn record_attempt(
        &self,
        subscription: &str,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        self.before_write("record_attempt").await?;
        self.inner.record_attempt(subscription, attempt).await
    }
    fn attempts(&self, subscription: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.before_sync_read();
        self.inner.attempts(subscription)
    }
    async fn set_delivery_after(
        &self,
        subscription: &str,
        state: DeliveryState,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        self.before_write("set_delivery_after").await?;
        self.inner
            .set_delivery_after(subscription, state, attempt)
            .await
    }
    async fn put_api_key(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        self.before_write("put_api_key").await?;
        self.inner.put_api_key(record).await
    }
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.before_sync_read();
        self.inner.api_keys()
    }
    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError> {
        self.before_write("delete_api_key").await?;
        self.inner.delete_api_key(id).await
    }
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.before_write("probe").await?;
        self.inner.probe_write().await
    }
}

/// Free space set by hand.
#[derive(Debug, Default)]
pub(crate) struct FixedSpace(Mutex<Option<u64>>);

impl FixedSpace {
    pub(crate) fn new(bytes: u64) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Some(bytes))))
    }

    pub(crate) fn set(&self, bytes: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
    }
}

impl FreeSpace for FixedSpace {
    fn free_bytes(&self) -> std::io::Result<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ok_or_else(|| std::io::Error::other("no free space set"))
    }
}
