//! The dispatcher: one worker task per subscription delivers its tenant's log from the
//! subscription's durable cursor, a batch at a time, in order, at least once.
//!
//! A worker sleeps until something concerns it: its tenant's log grew ([`Dispatcher::merged`]),
//! its record changed or a replay moved its cursor ([`SubscriptionControl`]), or its next attempt
//! is due (one timer, only while a retry waits). Before a batch is sent it is persisted
//! (`DeliveryState::batch`, with its `webhook-id`), so a restart sends the same batch with the
//! same id; the cursor moves only after a `2xx`. Every schedule decision reads the
//! [`Clock`], so tests move a `ManualClock` and call [`Dispatcher::wake_all`].

use super::schedule::{DispatcherConfig, random_unit};
use super::signature::{SigningKey, signature_header};
use super::{SubscriptionControl, body};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tributary_core::{Clock, Cursor, Seq};
use tributary_http::{Outbound, SendError};
use tributary_store::{
    DeliveryAttempt, DeliveryMode, DeliveryState, Disabled, EventStore, PendingBatch, StoreError,
    SubscriptionRecord,
};

/// The most log entries one `notify` ping covers (the receiver reads the events itself).
const NOTIFY_SCAN: usize = 10_000;
/// How long a drain lets a request in flight finish before abandoning it.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How much of a receiver's error body is read for the attempt's excerpt.
const ERROR_BODY_BYTES: usize = 1024;

/// What the dispatcher has done since it started (for `/metrics`).
#[derive(Debug, Default)]
pub struct WebhookStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    disabled: AtomicU64,
    /// The subscriptions failing now: their tenant and when the failures began.
    failing: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
}

/// A subscription failing now, as `/metrics` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingSubscription {
    pub tenant: String,
    pub subscription: String,
    pub since: DateTime<Utc>,
}

/// A copy of [`WebhookStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookSnapshot {
    /// Requests answered `2xx`.
    pub delivered: u64,
    /// Attempts that failed (any other status, no answer, refused address).
    pub failed: u64,
    /// Subscriptions disabled (`410 Gone`, or failing past `disable_after`).
    pub disabled: u64,
}

impl WebhookStats {
    pub fn snapshot(&self) -> WebhookSnapshot {
        WebhookSnapshot {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            disabled: self.disabled.load(Ordering::Relaxed),
        }
    }

    /// The subscriptions failing now (a failure since their last success), by id.
    pub fn failing(&self) -> Vec<FailingSubscription> {
        let mut failing: Vec<FailingSubscription> = lock(&self.failing)
            .iter()
            .map(|(id, (tenant, since))| FailingSubscription {
                tenant: tenant.clone(),
                subscription: id.clone(),
                since: *since,
            })
            .collect();
        failing.sort_by(|a, b| a.subscription.cmp(&b.subscription));
        failing
    }

    fn failing_since(&self, id: &str, tenant: &str, since: Option<DateTime<Utc>>) {
        let mut failing = lock(&self.failing);
        match since {
            Some(since) => {
                failing.insert(id.to_owned(), (tenant.to_owned(), since));
            }
            None => {
                failing.remove(id);
            }
        }
    }
}

/// Delivers every subscription's events. Cheap to clone; [`Dispatcher::start`] runs it,
/// [`Dispatcher::stop`] ends it.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    outbound: Outbound,
    config: DispatcherConfig,
    permits: Semaphore,
    workers: Mutex<HashMap<String, Arc<Worker>>>,
    started: AtomicBool,
    stop: watch::Sender<bool>,
    stats: Arc<WebhookStats>,
    /// Looks taken by all workers (a test waits for one after a wake-up).
    looks: AtomicU64,
    /// See [`SubscriptionControl::record_writes`].
    record_writes: Arc<tokio::sync::Mutex<()>>,
}

/// One subscription's worker.
struct Worker {
    id: String,
    tenant: String,
    wake: Notify,
    /// Moved by every replay: an answer to a batch sent before it moves nothing.
    generation: AtomicU64,
    /// Held while the delivery state is read and written, so a replay and a worker's update
    /// never interleave.
    state: tokio::sync::Mutex<()>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// The next batch and its body, read right after the previous one was acknowledged and
    /// persisted as pending in the same write: the next look sends it without reading again.
    ahead: Mutex<Option<(PendingBatch, Vec<u8>)>>,
}

/// What one send came back with.
enum Outcome {
    Delivered {
        status: u16,
    },
    Gone,
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
}

/// What to do next after looking at the log.
enum Next {
    /// Nothing new: wait for a wake-up.
    Idle,
    /// Entries the filter skips: the cursor moves to here without a request.
    Skip(Seq),
    /// A batch to send.
    Send { batch: PendingBatch, body: Vec<u8> },
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dispatcher {
    /// A dispatcher over `store`, sending through `outbound` (its address policy applies to
    /// every subscription's URL). Nothing runs before [`Dispatcher::start`].
    pub fn new(
        store: Arc<dyn EventStore>,
        clock: Arc<dyn Clock>,
        outbound: Outbound,
        config: DispatcherConfig,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                outbound,
                permits: Semaphore::new(config.max_concurrent.max(1)),
                config,
                workers: Mutex::new(HashMap::new()),
                started: AtomicBool::new(false),
                stop,
                stats: Arc::default(),
                looks: AtomicU64::new(0),
                record_writes: Arc::default(),
            }),
        }
    }

    /// Starts a worker for every stored subscription.
    pub fn start(&self) -> Result<(), StoreError> {
        self.inner.started.store(true, Ordering::SeqCst);
        for record in self.inner.store.subscriptions()? {
            self.ensure_worker(&record.id, &record.tenant);
        }
        Ok(())
    }

    /// Stops every worker: no request is started; one in flight has up to [`DRAIN_GRACE`] (or the
    /// request timeout, if shorter) to be answered, then is abandoned (its batch is persisted and
    /// is sent again, with the same `webhook-id`, after a restart). Returns when they have all
    /// ended.
    pub async fn stop(&self) {
        self.inner.started.store(false, Ordering::SeqCst);
        let _ = self.inner.stop.send(true);
        let workers: Vec<Arc<Worker>> = lock(&self.inner.workers).drain().map(|(_, w)| w).collect();
        for worker in workers {
            worker.wake.notify_one();
            let task = lock(&worker.task).take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
    }

    /// The tenant's log grew: its subscriptions look for new events.
    pub fn merged(&self, tenant: &str) {
        for worker in lock(&self.inner.workers).values() {
            if worker.tenant == tenant {
                worker.wake.notify_one();
            }
        }
    }

    /// Every worker looks at its state again now (a due retry is sent): for a test that moved
    /// its `ManualClock`.
    pub fn wake_all(&self) {
        for worker in lock(&self.inner.workers).values() {
            worker.wake.notify_one();
        }
    }

    /// What has been delivered, failed and disabled since the start.
    pub fn stats(&self) -> WebhookSnapshot {
        self.inner.stats.snapshot()
    }

    /// How many times workers have looked at their subscriptions: a test that woke them waits
    /// for this to move before it checks that nothing was sent.
    #[cfg(test)]
    pub(crate) fn looks(&self) -> u64 {
        self.inner.looks.load(Ordering::SeqCst)
    }

    /// The counters themselves, for `/metrics` to read at each scrape.
    pub fn stats_handle(&self) -> Arc<WebhookStats> {
        self.inner.stats.clone()
    }

    fn ensure_worker(&self, id: &str, tenant: &str) {
        if !self.inner.started.load(Ordering::SeqCst) {
            return;
        }
        let mut workers = lock(&self.inner.workers);
        if let Some(worker) = workers.get(id) {
            worker.wake.notify_one();
            return;
        }
        let worker = Arc::new(Worker {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            wake: Notify::new(),
            generation: AtomicU64::new(0),
            state: tokio::sync::Mutex::new(()),
            task: Mutex::new(None),
            ahead: Mutex::new(None),
        });
        let task = tokio::spawn(run(self.inner.clone(), worker.clone()));
        *lock(&worker.task) = Some(task);
        workers.insert(id.to_owned(), worker);
    }

    fn worker(&self, id: &str) -> Option<Arc<Worker>> {
        lock(&self.inner.workers).get(id).cloned()
    }
}

#[async_trait::async_trait]
impl SubscriptionControl for Dispatcher {
    fn changed(&self, subscription: &str) {
        if let Some(worker) = self.worker(subscription) {
            worker.wake.notify_one();
            return;
        }
        match self.inner.store.subscription(subscription) {
            Ok(Some(record)) => self.ensure_worker(&record.id, &record.tenant),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(subscription, error = %e, "cannot read a changed subscription")
            }
        }
    }

    async fn replay(&self, subscription: &str, delivered: Seq) -> Result<(), StoreError> {
        let worker = self.worker(subscription);
        let _guard = match &worker {
            Some(w) => Some(w.state.lock().await),
            None => None,
        };
        if let Some(w) = &worker {
            w.generation.fetch_add(1, Ordering::SeqCst);
        }
        let state = DeliveryState {
            delivered,
            ..DeliveryState::default()
        };
        self.inner.store.set_delivery(subscription, state).await?;
        drop(_guard);
        match worker {
            Some(w) => w.wake.notify_one(),
            None => self.changed(subscription),
        }
        Ok(())
    }

    fn record_writes(&self) -> Option<Arc<tokio::sync::Mutex<()>>> {
        Some(self.inner.record_writes.clone())
    }
}

/// A worker's life: deliver while there is something due, sleep otherwise, end when the
/// subscription is deleted or the dispatcher stops.
async fn run(inner: Arc<Inner>, worker: Arc<Worker>) {
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let looked = step(&inner, &worker, &mut stop).await;
        inner.looks.fetch_add(1, Ordering::SeqCst);
        let wait_until = match looked {
            Ok(Step::Again) => continue,
            Ok(Step::Wait(until)) => until,
            Ok(Step::Gone) => {
                inner.stats.failing_since(&worker.id, &worker.tenant, None);
                lock(&inner.workers).remove(&worker.id);
                return;
            }
            Err(e) => {
                tracing::warn!(subscription = %worker.id, error = %e, "webhook delivery cannot read or write the store");
                Some(inner.clock.now() + chrono_of(inner.config.step(1)))
            }
        };
        if *stop.borrow() {
            return;
        }
        // A timer only while a retry waits; an idle worker waits for a wake-up alone.
        let due = async {
            match wait_until {
                Some(at) => {
                    let wait = (at - inner.clock.now()).to_std().unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = worker.wake.notified() => {}
            _ = due => {}
            _ = stop.changed() => return,
        }
    }
}

enum Step {
    /// Look again at once.
    Again,
    /// Nothing to do until this time (`None`: until a wake-up).
    Wait(Option<DateTime<Utc>>),
    /// The subscription was deleted.
    Gone,
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// One look at the subscription: send its due batch, if any, and record what came of it.
async fn step(
    inner: &Inner,
    worker: &Worker,
    stop: &mut watch::Receiver<bool>,
) -> Result<Step, StoreError> {
    let Some(record) = inner.store.subscription(&worker.id)? else {
        return Ok(Step::Gone);
    };
    if record.paused || record.disabled.is_some() {
        return Ok(Step::Wait(None));
    }
    let generation = worker.generation.load(Ordering::SeqCst);
    let state = inner.store.delivery(&worker.id)?.unwrap_or_default();
    let now = inner.clock.now();
    if let Some(at) = state.next_attempt_at
        && at > now
    {
        return Ok(Step::Wait(Some(at)));
    }
    let ahead = lock(&worker.ahead)
        .take()
        .filter(|(batch, _)| state.batch.as_ref() == Some(batch));
    let looked = match ahead {
        Some((batch, body)) => Ok(Next::Send { batch, body }),
        None => next(inner, &record, &state, now).await,
    };
    let looked = match looked {
        Ok(looked) => looked,
        // The filter names a source the tenant deleted: nothing can be read until its owner
        // changes the filter, so say so once instead of retrying for ever.
        Err(StoreError::UnknownSource { source_id }) => {
            let _guard = worker.state.lock().await;
            if worker.generation.load(Ordering::SeqCst) == generation {
                let reason =
                    format!("the filter names a source the tenant does not have: {source_id}");
                disable(inner, &worker.id, state, now, reason, None).await?;
            }
            return Ok(Step::Wait(None));
        }
        // A cursor past the log's end (a replay to a position not yet written): wait for merges.
        Err(StoreError::CursorAhead { .. }) => return Ok(Step::Wait(None)),
        Err(e) => return Err(e),
    };
    let (batch, body) = match looked {
        Next::Idle => return Ok(Step::Wait(None)),
        Next::Skip(to) => {
            let guard = worker.state.lock().await;
            if worker.generation.load(Ordering::SeqCst) == generation {
                let state = DeliveryState {
                    delivered: to,
                    batch: None,
                    ..state
                };
                inner.store.set_delivery(&worker.id, state).await?;
            }
            drop(guard);
            return Ok(Step::Again);
        }
        Next::Send { batch, body } => (batch, body),
    };
    if state.batch.as_ref() != Some(&batch) {
        // Persisted before it is sent: a restart sends the same batch with the same id.
        let guard = worker.state.lock().await;
        if worker.generation.load(Ordering::SeqCst) != generation {
            return Ok(Step::Again);
        }
        let pending = DeliveryState {
            batch: Some(batch.clone()),
            ..state.clone()
        };
        inner.store.set_delivery(&worker.id, pending).await?;
        drop(guard);
    }
    let Ok(_permit) = inner.permits.acquire().await else {
        return Ok(Step::Wait(None));
    };
    if *stop.borrow() {
        return Ok(Step::Wait(None));
    }
    let attempt_at = inner.clock.now();
    let started = Instant::now();
    let sending = send(inner, &record, &batch, &body, attempt_at);
    tokio::pin!(sending);
    let outcome = tokio::select! {
        outcome = &mut sending => outcome,
        _ = stop.changed() => {
            // Draining: the request in flight may still finish (and its answer be kept), for a
            // while; past that it is abandoned and its batch goes again after the restart.
            let grace = inner.config.request_timeout.min(DRAIN_GRACE);
            match tokio::time::timeout(grace, &mut sending).await {
                Ok(outcome) => outcome,
                Err(_) => return Ok(Step::Wait(None)),
            }
        }
    };
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    drop(_permit);
    let (status, error) = match &outcome {
        Outcome::Delivered { status } => (Some(*status), None),
        Outcome::Gone => (
            Some(410),
            Some("410 Gone: the receiver asked to stop".to_owned()),
        ),
        Outcome::Failed { status, error, .. } => (*status, Some(error.clone())),
    };
    let attempt = DeliveryAttempt {
        at: attempt_at,
        webhook_id: batch.webhook_id.clone(),
        status,
        latency_ms,
        error: error.clone(),
        first: batch.first,
        last: batch.last,
    };
    let _guard = worker.state.lock().await;
    if worker.generation.load(Ordering::SeqCst) != generation {
        // A replay moved the cursor while this batch was in flight: its answer moves nothing.
        inner.store.record_attempt(&worker.id, attempt).await?;
        return Ok(Step::Again);
    }
    let state = inner.store.delivery(&worker.id)?.unwrap_or_default();
    let now = inner.clock.now();
    match outcome {
        Outcome::Delivered { .. } => {
            inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
            let mut done = DeliveryState {
                delivered: batch.last.max(state.delivered),
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
                failing_since: None,
                batch: None,
                last_attempt_at: Some(attempt_at),
            };
            // The next batch, persisted as pending in the same write as this one's success (a
            // write per batch, not two); the next look sends it as read here.
            let ahead = match next(inner, &record, &done, now).await {
                Ok(Next::Send { batch, body }) => Some((batch, body)),
                _ => None,
            };
            done.batch = ahead.as_ref().map(|(batch, _)| batch.clone());
            inner
                .store
                .set_delivery_after(&worker.id, done, attempt)
                .await?;
            *lock(&worker.ahead) = ahead;
            inner.stats.failing_since(&worker.id, &worker.tenant, None);
            Ok(Step::Again)
        }
        Outcome::Gone => {
            inner.store.record_attempt(&worker.id, attempt).await?;
            inner.stats.failed.fetch_add(1, Ordering::Relaxed);
            let reason = "the receiver answered 410 Gone".to_owned();
            disable(inner, &worker.id, state, now, reason, error).await?;
            inner.stats.failing_since(&worker.id, &worker.tenant, None);
            Ok(Step::Wait(None))
        }
        Outcome::Failed {
            retry_after, error, ..
        } => {
            inner.stats.failed.fetch_add(1, Ordering::Relaxed);
            let attempts = state.attempts.saturating_add(1);
            let failing_since = state.failing_since.unwrap_or(attempt_at);
            if now - failing_since >= chrono_of(inner.config.disable_after) {
                inner.store.record_attempt(&worker.id, attempt).await?;
                let reason = format!(
                    "failing since {} (disable_after {}s): {error}",
                    failing_since.to_rfc3339(),
                    inner.config.disable_after.as_secs()
                );
                disable(inner, &worker.id, state, now, reason, Some(error)).await?;
                inner.stats.failing_since(&worker.id, &worker.tenant, None);
                return Ok(Step::Wait(None));
            }
            let delay = inner.config.delay(attempts, retry_after, random_unit());
            let next_attempt_at = now + chrono_of(delay);
            tracing::info!(
                subscription = %worker.id, attempts, error = %error,
                next_attempt_at = %next_attempt_at, "webhook delivery failed; will retry"
            );
            let failed = DeliveryState {
                attempts,
                next_attempt_at: Some(next_attempt_at),
                last_error: Some(error),
                failing_since: Some(failing_since),
                last_attempt_at: Some(attempt_at),
                ..state
            };
            inner
                .store
                .set_delivery_after(&worker.id, failed, attempt)
                .await?;
            let since = Some(failing_since);
            inner.stats.failing_since(&worker.id, &worker.tenant, since);
            Ok(Step::Wait(Some(next_attempt_at)))
        }
    }
}

/// Disables the subscription with `reason`, and resets its schedule: re-enabled, it starts
/// afresh from its cursor (the pending batch, with its id, is sent first).
async fn disable(
    inner: &Inner,
    id: &str,
    state: DeliveryState,
    now: DateTime<Utc>,
    reason: String,
    error: Option<String>,
) -> Result<(), StoreError> {
    inner.stats.disabled.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(subscription = %id, reason = %reason, "webhook subscription disabled");
    let reset = DeliveryState {
        attempts: 0,
        next_attempt_at: None,
        failing_since: None,
        last_error: error,
        last_attempt_at: Some(now),
        ..state
    };
    inner.store.set_delivery(id, reset).await?;
    // Read and written under the API's lock: a PATCH meanwhile is neither lost nor undone.
    let _record = inner.record_writes.lock().await;
    if let Some(mut record) = inner.store.subscription(id)? {
        record.disabled = Some(Disabled { at: now, reason });
        inner.store.put_subscription(record).await?;
    }
    Ok(())
}

/// What to send after `state.delivered`: the pending batch again (same id, same positions), or
/// a new one.
async fn next(
    inner: &Inner,
    record: &SubscriptionRecord,
    state: &DeliveryState,
    now: DateTime<Utc>,
) -> Result<Next, StoreError> {
    let key = inner.store.stream_key(&record.tenant);
    let after = Cursor::new(key, state.delivered);
    let pending = state.batch.as_ref();
    match record.mode {
        DeliveryMode::Full => {
            let limit = record.max_batch.clamp(1, 1000) as usize;
            let page = match read(inner, record, &after, limit).await? {
                Ok(page) => page,
                Err(oldest) => return Ok(Next::Skip(oldest)),
            };
            let mut events = page.events;
            if let Some(p) = pending {
                // The same positions again, whatever the page size or the scan bound cut.
                events.retain(|e| e.seq <= p.last);
                let mut position = page.cursor;
                let mut remaining = page.remaining;
                while position.seq < p.last && remaining > 0 {
                    let more = match read(inner, record, &position, 1000).await? {
                        Ok(more) => more,
                        Err(oldest) => return Ok(Next::Skip(oldest)),
                    };
                    if more.cursor.seq <= position.seq {
                        break;
                    }
                    events.extend(more.events.into_iter().filter(|e| e.seq <= p.last));
                    position = more.cursor;
                    remaining = more.remaining;
                }
            }
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                return Ok(match pending {
                    // The pending batch's events are gone (retention): past them.
                    Some(p) if p.last > state.delivered => Next::Skip(p.last),
                    Some(_) => Next::Idle,
                    None if page.cursor.seq > state.delivered => Next::Skip(page.cursor.seq),
                    None => Next::Idle,
                });
            };
            let batch = match pending {
                Some(p) => p.clone(),
                None => PendingBatch {
                    webhook_id: new_webhook_id(),
                    first: first.seq,
                    last: last.seq,
                },
            };
            let cursor = Cursor::new(key, batch.last);
            let body = body::full(now, &events, &cursor);
            Ok(Next::Send { batch, body })
        }
        DeliveryMode::Notify => {
            let mut sources = BTreeSet::new();
            let mut first = None;
            let mut position = after;
            let mut scanned = 0usize;
            loop {
                let page = match read(inner, record, &position, 1000).await? {
                    Ok(page) => page,
                    Err(oldest) => return Ok(Next::Skip(oldest)),
                };
                for event in &page.events {
                    if pending.is_some_and(|p| event.seq > p.last) {
                        break;
                    }
                    first.get_or_insert(event.seq);
                    if let Ok(view) = serde_json::from_slice::<SourceView>(event.json()) {
                        sources.insert(view.source);
                    }
                }
                scanned += page.events.len().max(1);
                let moved = page.cursor.seq > position.seq;
                position = page.cursor;
                let reached_pending = pending.is_some_and(|p| position.seq >= p.last);
                if page.remaining == 0 || !moved || reached_pending || scanned >= NOTIFY_SCAN {
                    break;
                }
            }
            let last = match pending {
                Some(p) => p.last,
                None => position.seq,
            };
            let Some(first) = first else {
                return Ok(if last > state.delivered {
                    Next::Skip(last)
                } else {
                    Next::Idle
                });
            };
            let batch = match pending {
                Some(p) => p.clone(),
                None => PendingBatch {
                    webhook_id: new_webhook_id(),
                    first,
                    last,
                },
            };
            let sources: Vec<String> = sources.into_iter().collect();
            Ok(Next::Send {
                batch,
                body: body::notify(now, &sources, &after),
            })
        }
    }
}

#[derive(serde::Deserialize)]
struct SourceView {
    source: String,
}

/// A page of the tenant's log after `after` for the subscription's filter; `Err(oldest)` when
/// retention removed what came after the cursor (the subscription skips to the oldest kept).
async fn read(
    inner: &Inner,
    record: &SubscriptionRecord,
    after: &Cursor,
    limit: usize,
) -> Result<Result<tributary_store::ReadPage, Seq>, StoreError> {
    match inner
        .store
        .read(&record.tenant, Some(after), limit, &record.filter)
        .await
    {
        Ok(page) => Ok(Ok(page)),
        Err(StoreError::CursorExpired { oldest }) => {
            tracing::warn!(
                subscription = %record.id, delivered = after.seq.get(), oldest = oldest.seq.get(),
                "retention removed events this subscription had not received; it goes on from the oldest kept"
            );
            Ok(Err(oldest.seq))
        }
        Err(e) => Err(e),
    }
}

/// `msg_` and 16 random bytes in hex: the same on every attempt of one batch, and a fresh one
/// when a replay sends the same positions again (a receiver deduplicating by id takes it).
fn new_webhook_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// One signed POST of `body`.
async fn send(
    inner: &Inner,
    record: &SubscriptionRecord,
    batch: &PendingBatch,
    body: &[u8],
    at: DateTime<Utc>,
) -> Outcome {
    let failed = |error: String| Outcome::Failed {
        status: None,
        error: tributary_http::excerpt(error.as_bytes()),
        retry_after: None,
    };
    let mut keys = Vec::with_capacity(2);
    match SigningKey::parse(&record.secrets.current) {
        Ok(key) => keys.push(key),
        Err(e) => return failed(format!("the signing secret is unusable: {e}")),
    }
    if let Some(previous) = &record.secrets.previous
        && previous.until > at
        && let Ok(key) = SigningKey::parse(&previous.secret)
    {
        keys.push(key);
    }
    let timestamp = at.timestamp();
    let signature = signature_header(&keys, &batch.webhook_id, timestamp, body);
    let request = inner
        .outbound
        .client()
        .post(&record.url)
        .timeout(inner.config.request_timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &batch.webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_vec());
    let mut response = match inner.outbound.send(request).await {
        Ok(response) => response,
        Err(SendError::NotAllowed(refused)) => {
            return failed(format!("the address policy refuses the URL: {refused}"));
        }
        Err(SendError::Http(e)) if e.is_timeout() => {
            return failed(format!(
                "no answer within {}ms",
                inner.config.request_timeout.as_millis()
            ));
        }
        Err(SendError::Http(e)) => return failed(format!("request failed: {e}")),
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Delivered {
            status: status.as_u16(),
        };
    }
    if status == reqwest::StatusCode::GONE {
        return Outcome::Gone;
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| tributary_http::retry_after(v, at));
    let mut excerpt = Vec::new();
    while excerpt.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    let what = if status.is_redirection() {
        "a redirect (not followed)".to_owned()
    } else {
        String::from_utf8_lossy(&excerpt).into_owned()
    };
    Outcome::Failed {
        status: Some(status.as_u16()),
        error: tributary_http::excerpt(format!("HTTP {}: {what}", status.as_u16()).as_bytes()),
        retry_after,
    }
}
