//! [`GuardedStore`]: the store as the engine and the API see it, so that a store that fails or
//! stops answering costs a `503`, never a hung request or a hung runtime.

use super::health::StoreHealth;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tributary_core::{Cursor, Gap, ObjectStateRead, Page, SourceId};
use tributary_store::{
    ApiKeyRecord, DeliveryAttempt, DeliveryState, EventStore, Filter, IngestReport, MergeReport,
    ReadPage, Retention, RetentionReport, SourceRecord, SourceRef, SourceState, StoreError,
    SubscriptionRecord,
};

/// At most this many reads wait on a store that is failing or stuck, each on a blocking thread
/// of its own; more are answered `store_unavailable` at once, so a stuck store cannot take every
/// blocking thread.
pub const MAX_WAITING_READS: usize = 16;

/// A call of the inner store, owning what it needs.
type Call<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Wraps a store:
/// - every write runs as a task of its own, reported to the [`StoreHealth`] (a storage failure
///   marks the store failing, a success heals it) and answered within `write_timeout`
///   ([`StoreError::Unavailable`] after it; the write itself runs on and is still reported);
/// - while the store is failing, writes are refused at once (but [`EventStore::probe_write`],
///   which finds out whether it heals);
/// - reads run as they always do while the store is healthy; while it is failing or a write is
///   stuck, they run on a blocking thread (at most [`MAX_WAITING_READS`] at once) and are
///   answered within `read_timeout`;
/// - the synchronous reads (a source, its state, the API keys…) are refused at once while a write
///   is stuck, since sled may block them behind it.
#[derive(Clone)]
pub struct GuardedStore {
    inner: Arc<dyn EventStore>,
    health: Arc<StoreHealth>,
    read_timeout: Duration,
    write_timeout: Duration,
    waiting_reads: Arc<Semaphore>,
}

impl GuardedStore {
    pub fn new(
        inner: Arc<dyn EventStore>,
        health: Arc<StoreHealth>,
        read_timeout: Duration,
        write_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            health,
            read_timeout,
            write_timeout,
            waiting_reads: Arc::new(Semaphore::new(MAX_WAITING_READS)),
        }
    }

    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.health
    }

    fn unavailable(reason: String) -> StoreError {
        StoreError::Unavailable { reason }
    }

    /// A write, refused while the store is failing.
    async fn write<T: Send + 'static>(
        &self,
        what: &'static str,
        call: impl FnOnce(Arc<dyn EventStore>) -> Call<T>,
    ) -> Result<T, StoreError> {
        if let Some(reason) = self.health.unavailable() {
            return Err(Self::unavailable(format!(
                "{reason}; writes are refused until it recovers"
            )));
        }
        self.write_anyway(what, call).await
    }

    async fn write_anyway<T: Send + 'static>(
        &self,
        what: &'static str,
        call: impl FnOnce(Arc<dyn EventStore>) -> Call<T>,
    ) -> Result<T, StoreError> {
        let ticket = self.health.write_started();
        let health = Arc::clone(&self.health);
        let call = call(Arc::clone(&self.inner));
        // A task of its own: when the caller stops waiting, the write still finishes (or stays
        // stuck, in flight, for the watchdog to see) and is still reported.
        let task = tokio::spawn(async move {
            let _in_flight = ticket;
            let out = call.await;
            match &out {
                Ok(_) => health.write_succeeded(),
                Err(e) => health.write_failed(what, e),
            }
            out
        });
        match tokio::time::timeout(self.write_timeout, task).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                let e = StoreError::Worker(e.to_string());
                self.health.write_failed(what, &e);
                Err(e)
            }
            Err(_) => {
                self.health.timed_out(what, self.write_timeout, true);
                Err(Self::unavailable(format!(
                    "{what} did not finish within {}s",
                    self.write_timeout.as_secs_f32()
                )))
            }
        }
    }

    /// Whether reads should keep off the caller's thread: the store is failing or stuck.
    fn suspect(&self) -> bool {
        self.health.unavailable().is_some()
    }

    /// A read of a suspect store: on a blocking thread, answered within `read_timeout`.
    async fn read_aside<T: Send + 'static>(
        &self,
        what: &'static str,
        call: impl FnOnce(Arc<dyn EventStore>) -> Call<T>,
    ) -> Result<T, StoreError> {
        let Ok(permit) = Arc::clone(&self.waiting_reads).try_acquire_owned() else {
            return Err(Self::unavailable(format!(
                "{MAX_WAITING_READS} reads are already waiting on a failing store"
            )));
        };
        let call = call(Arc::clone(&self.inner));
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            runtime.block_on(call)
        });
        match tokio::time::timeout(self.read_timeout, task).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => Err(StoreError::Worker(e.to_string())),
            Err(_) => {
                self.health.timed_out(what, self.read_timeout, false);
                Err(Self::unavailable(format!(
                    "{what} did not finish within {}s",
                    self.read_timeout.as_secs_f32()
                )))
            }
        }
    }

    /// A synchronous read: refused while a write is stuck (sled may block it behind the write).
    fn read_now<T>(
        &self,
        call: impl FnOnce(&dyn EventStore) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.health.stuck() {
            let reason = self
                .health
                .unavailable()
                .unwrap_or_else(|| "a store write is stuck".to_owned());
            return Err(Self::unavailable(reason));
        }
        call(self.inner.as_ref())
    }
}

#[async_trait::async_trait]
impl EventStore for GuardedStore {
    fn stream_key(&self, tenant: &str) -> u64 {
        self.inner.stream_key(tenant)
    }

    fn public_source_number(&self, source: &SourceRef) -> u64 {
        self.inner.public_source_number(source)
    }

    async fn ingest(&self, source: &SourceRef, page: Page) -> Result<IngestReport, StoreError> {
        let source = source.clone();
        self.write("ingest", move |s| {
            Box::pin(async move { s.ingest(&source, page).await })
        })
        .await
    }

    fn source_state(&self, source: &SourceRef) -> Result<Option<SourceState>, StoreError> {
        self.read_now(|s| s.source_state(source))
    }

    fn pending_len(&self, source: &SourceRef) -> Result<u64, StoreError> {
        self.read_now(|s| s.pending_len(source))
    }

    fn gaps(&self, source: &SourceRef) -> Result<Vec<Gap>, StoreError> {
        self.read_now(|s| s.gaps(source))
    }

    fn object_state(&self, source: &SourceRef) -> Box<dyn ObjectStateRead> {
        self.inner.object_state(source)
    }

    async fn merge_tenants(
        &self,
        frontiers: Vec<(String, DateTime<Utc>)>,
    ) -> Result<Vec<(String, MergeReport)>, StoreError> {
        self.write("merge", move |s| {
            Box::pin(async move { s.merge_tenants(frontiers).await })
        })
        .await
    }

    async fn read_within(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError> {
        if !self.suspect() {
            return self
                .inner
                .read_within(tenant, after, limit, filter, max_scan)
                .await;
        }
        let (tenant, after, filter) = (tenant.to_owned(), after.copied(), filter.clone());
        self.read_aside("reading the log", move |s| {
            Box::pin(async move {
                s.read_within(&tenant, after.as_ref(), limit, &filter, max_scan)
                    .await
            })
        })
        .await
    }

    async fn latest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        if !self.suspect() {
            return self.inner.latest(tenant).await;
        }
        let tenant = tenant.to_owned();
        self.read_aside("reading the log's end", move |s| {
            Box::pin(async move { s.latest(&tenant).await })
        })
        .await
    }

    async fn oldest(&self, tenant: &str) -> Result<Cursor, StoreError> {
        if !self.suspect() {
            return self.inner.oldest(tenant).await;
        }
        let tenant = tenant.to_owned();
        self.read_aside("reading the log's start", move |s| {
            Box::pin(async move { s.oldest(&tenant).await })
        })
        .await
    }

    async fn apply_retention(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        self.write("retention", move |s| {
            Box::pin(async move { s.apply_retention(retention, now).await })
        })
        .await
    }

    async fn put_source(&self, record: SourceRecord) -> Result<SourceRef, StoreError> {
        self.write("storing a source", move |s| {
            Box::pin(async move { s.put_source(record).await })
        })
        .await
    }

    fn source(&self, tenant: &str, id: &SourceId) -> Result<Option<SourceRecord>, StoreError> {
        self.read_now(|s| s.source(tenant, id))
    }

    fn sources(&self) -> Result<Vec<SourceRecord>, StoreError> {
        self.read_now(|s| s.sources())
    }

    fn sources_of(&self, tenant: &str) -> Result<Vec<SourceRecord>, StoreError> {
        self.read_now(|s| s.sources_of(tenant))
    }

    fn sources_generation(&self) -> u64 {
        self.inner.sources_generation()
    }

    async fn delete_source(&self, tenant: &str, id: &SourceId) -> Result<bool, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.clone());
        self.write("deleting a source", move |s| {
            Box::pin(async move { s.delete_source(&tenant, &id).await })
        })
        .await
    }

    async fn put_subscription(&self, record: SubscriptionRecord) -> Result<(), StoreError> {
        self.write("storing a subscription", move |s| {
            Box::pin(async move { s.put_subscription(record).await })
        })
        .await
    }

    fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.read_now(|s| s.subscription(id))
    }

    fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.read_now(|s| s.subscriptions())
    }

    async fn delete_subscription(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write("deleting a subscription", move |s| {
            Box::pin(async move { s.delete_subscription(&id).await })
        })
        .await
    }

    fn delivery(&self, subscription: &str) -> Result<Option<DeliveryState>, StoreError> {
        self.read_now(|s| s.delivery(subscription))
    }

    async fn set_delivery(
        &self,
        subscription: &str,
        state: DeliveryState,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write("storing a delivery state", move |s| {
            Box::pin(async move { s.set_delivery(&id, state).await })
        })
        .await
    }

    async fn record_attempt(
        &self,
        subscription: &str,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write("recording a delivery attempt", move |s| {
            Box::pin(async move { s.record_attempt(&id, attempt).await })
        })
        .await
    }

    fn attempts(&self, subscription: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
        self.read_now(|s| s.attempts(subscription))
    }

    async fn set_delivery_after(
        &self,
        subscription: &str,
        state: DeliveryState,
        attempt: DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let id = subscription.to_owned();
        self.write("storing a delivery state", move |s| {
            Box::pin(async move { s.set_delivery_after(&id, state, attempt).await })
        })
        .await
    }

    async fn put_api_key(&self, record: ApiKeyRecord) -> Result<(), StoreError> {
        self.write("storing an API key", move |s| {
            Box::pin(async move { s.put_api_key(record).await })
        })
        .await
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.read_now(|s| s.api_keys())
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write("deleting an API key", move |s| {
            Box::pin(async move { s.delete_api_key(&id).await })
        })
        .await
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        self.write_anyway("a probe write", move |s| {
            Box::pin(async move { s.probe_write().await })
        })
        .await
    }
}
