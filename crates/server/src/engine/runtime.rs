//! The engine proper: every source on its own adaptive schedule, a global cap on concurrent
//! polls, merges under the watermark frontier, per-source status, graceful shutdown.

use super::frontier::frontier;
use super::runner::{PIPELINE_PAGES, PollStep, poll_once_counted, poll_pipelined};
use crate::storage::{StorageBlock, StoreHealth};
use chrono::{DateTime, NaiveDate, Utc};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tributary_core::{
    Clock, DailyCalls, InFlightObjects, PollPolicy, PollSchedule, Provider, Seq, Watermark,
};
use tributary_store::{EventStore, MergeReport, SourceRef, StoreError};

/// Engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// At most this many polls run at once, across all sources.
    pub max_concurrent_polls: usize,
    /// A source whose watermark lags more than this behind now stops holding the merge back.
    pub merge_max_delay: Duration,
    /// How often the merge runs when nothing else triggers it (so `merge_max_delay` takes effect).
    pub merge_interval: Duration,
    /// On shutdown, how long in-flight polls may take to finish and commit (`None`: as long as
    /// they need).
    pub shutdown_grace: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_polls: 64,
            merge_max_delay: Duration::from_secs(60),
            merge_interval: Duration::from_millis(500),
            shutdown_grace: Some(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("source {0} is already running")]
    Duplicate(SourceRef),
    #[error("source #{0} is not running")]
    Unknown(u64),
    #[error("source #{0} still has a poll in flight")]
    StillPolling(u64),
    #[error(transparent)]
    Policy(#[from] tributary_core::PollPolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where one source stands, for operators and the API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    pub paused: bool,
    /// Set when the source stopped on an error that retrying will not fix; cleared by resuming.
    pub stopped: Option<String>,
    pub polls: u64,
    pub events_ingested: u64,
    pub duplicates_absorbed: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_poll_at: Option<DateTime<Utc>>,
    pub next_poll_at: Option<DateTime<Utc>>,
    /// The back-off interval an empty poll would cause now.
    pub interval: Duration,
    /// The source's committed watermark.
    pub watermark: Option<Watermark>,
    /// Requests the provider sent upstream since the engine started it, when it counts them.
    pub upstream_calls: Option<u64>,
    /// Requests sent upstream on the current UTC day, restarts included (the count is committed
    /// with every page), when the provider counts them.
    pub upstream_calls_today: Option<u64>,
    /// Why ingest is held back for every source (a failing store, or low disk space): no source
    /// polls until it clears ([`Engine::set_storage`]).
    pub storage: Option<StorageBlock>,
}

/// Engine-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub polls: u64,
    pub merged: u64,
    pub late: u64,
}

struct Slot {
    source: SourceRef,
    provider: Arc<dyn Provider>,
    /// The object memory the provider reads, when it reads it through one the engine can layer
    /// pages in flight over: then a draining source's next page is fetched while the previous
    /// one commits ([`super::runner::poll_pipelined`]).
    objects: Option<Arc<InFlightObjects>>,
    schedule: PollSchedule,
    status: SourceStatus,
    /// Bumped whenever the slot is rescheduled by hand, so stale heap entries are ignored.
    generation: u64,
    /// True from when a poll is started until it has committed (or failed), shared with the
    /// poll's task, so removing the source can wait for it ([`Engine::remove_source_settled`]).
    busy: Arc<watch::Sender<bool>>,
    /// The source's committed watermark, read once when it is added and again after each
    /// commit, so a merge computes its frontier without reading every source's state.
    watermark: Option<Watermark>,
    /// The provider's request counter when a page was last committed: the next page carries
    /// the difference to the store, which counts calls per day.
    calls_committed: Arc<AtomicU64>,
    /// Requests today, for the status: the store's count when the source was added, then the
    /// provider's counter as polls finish.
    calls_today: CallsToday,
}

/// Upstream requests counted on one UTC day.
#[derive(Debug, Clone, Copy)]
struct CallsToday {
    count: DailyCalls,
    /// The provider's counter when last read.
    seen: u64,
}

impl CallsToday {
    /// Counts what the provider's counter gained since last read, starting afresh on a new day.
    fn update(&mut self, counter: u64, today: NaiveDate) {
        let spent = counter.saturating_sub(self.seen);
        self.seen = counter;
        self.count = self.count.then(DailyCalls {
            day: today,
            calls: spent,
        });
    }
}

fn slot_status(slot: &Slot, today: NaiveDate, storage: Option<StorageBlock>) -> SourceStatus {
    let upstream_calls = slot.provider.upstream_calls();
    let upstream_calls_today = upstream_calls.map(|counter| {
        let mut calls = slot.calls_today;
        calls.update(counter, today);
        calls.count.calls
    });
    SourceStatus {
        watermark: slot.watermark,
        upstream_calls,
        upstream_calls_today,
        storage,
        ..slot.status.clone()
    }
}

/// A poll's result, sent back to the run loop.
struct Finished {
    id: u64,
    tenant: String,
    step: PollStep,
    /// The watermark committed with the page, when the poll committed one and it could be read.
    watermark: Option<Option<Watermark>>,
}

/// Sources are keyed by incarnation ([`SourceRef::incarnation`]): unique in the store, never
/// reused.
struct State {
    sources: HashMap<u64, Slot>,
    /// Sources removed by [`Engine::remove_source_settled`] while a poll was in flight: their
    /// poll's busy flag, until a later call sees it clear. Such a source cannot be added again
    /// before, so two polls of one source never run at once.
    retired: HashMap<u64, Arc<watch::Sender<bool>>>,
    due: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    stats: EngineStats,
    next_generation: u64,
}

/// Told the tenant and its log's last position after each merge that moved events of that
/// tenant (the API's live streams of that tenant).
pub type MergeListener = Arc<dyn Fn(&str, Seq) + Send + Sync>;

struct Inner {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    state: Mutex<State>,
    wake: Notify,
    listeners: Mutex<Vec<MergeListener>>,
    /// The store's health, when the engine runs behind a guarded store: polls wait while it
    /// says ingest is held back.
    storage: std::sync::OnceLock<Arc<StoreHealth>>,
    /// The webhook dispatcher's counters, reported with the engine's in `/metrics`.
    webhooks: std::sync::OnceLock<Arc<crate::webhooks::WebhookStats>>,
}

/// While ingest is held back, how often the engine looks again (a read of memory, no store
/// call): polling resumes within this of the store healing or space returning.
pub const STORAGE_RECHECK: Duration = Duration::from_secs(1);

/// Runs sources. Cheap to clone; clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, config: EngineConfig) -> Self {
        let state = State {
            sources: HashMap::new(),
            retired: HashMap::new(),
            due: BinaryHeap::new(),
            stats: EngineStats::default(),
            next_generation: 0,
        };
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                state: Mutex::new(state),
                wake: Notify::new(),
                listeners: Mutex::new(Vec::new()),
                storage: std::sync::OnceLock::new(),
                webhooks: std::sync::OnceLock::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes polling wait while `health` holds ingest back (a failing store, low disk space),
    /// shown in every source's status ([`SourceStatus::storage`]), and skips merges while the
    /// store is unavailable. Set once; a second health is ignored.
    pub fn set_storage(&self, health: Arc<StoreHealth>) {
        if self.inner.storage.set(health).is_err() {
            tracing::warn!("Engine::set_storage called twice; keeping the first");
        }
    }

    /// Reports the webhook dispatcher's counters beside the engine's (`/metrics` reads them
    /// through the engine). Set once; a second is ignored.
    pub fn set_webhook_stats(&self, stats: Arc<crate::webhooks::WebhookStats>) {
        let _ = self.inner.webhooks.set(stats);
    }

    /// The webhook dispatcher's counters, when one runs.
    pub fn webhook_stats(&self) -> Option<Arc<crate::webhooks::WebhookStats>> {
        self.inner.webhooks.get().cloned()
    }

    fn storage_block(&self) -> Option<StorageBlock> {
        self.inner.storage.get().and_then(|h| h.blocked())
    }

    fn store_unavailable(&self) -> bool {
        matches!(
            self.storage_block(),
            Some(StorageBlock::StoreUnavailable { .. })
        )
    }

    /// Starts running a source: its first poll is due at once. Each poll commits one page.
    pub fn add_source(
        &self,
        source: SourceRef,
        provider: Arc<dyn Provider>,
        policy: PollPolicy,
    ) -> Result<(), EngineError> {
        self.add(source, provider, None, policy)
    }

    /// [`Engine::add_source`] for a provider that reads its object memory through `objects`:
    /// while the upstream has more, the next page is fetched while the previous one commits.
    pub fn add_source_pipelined(
        &self,
        source: SourceRef,
        provider: Arc<dyn Provider>,
        objects: Arc<InFlightObjects>,
        policy: PollPolicy,
    ) -> Result<(), EngineError> {
        self.add(source, provider, Some(objects), policy)
    }

    fn add(
        &self,
        source: SourceRef,
        provider: Arc<dyn Provider>,
        objects: Option<Arc<InFlightObjects>>,
        policy: PollPolicy,
    ) -> Result<(), EngineError> {
        let seed = format!("{}\0{}", source.tenant, source.id)
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            });
        let schedule = PollSchedule::new(policy, seed)?;
        let id = source.incarnation;
        if self.still_polling(id) {
            return Err(EngineError::StillPolling(id));
        }
        let stored = self.inner.store.source_state(&source)?;
        let watermark = stored.as_ref().and_then(|s| s.watermark);
        let today = self.inner.clock.now().date_naive();
        let counter = provider.upstream_calls().unwrap_or(0);
        let calls_today = CallsToday {
            count: DailyCalls {
                day: today,
                calls: stored.as_ref().map_or(0, |s| s.calls_on(today)),
            },
            seen: counter,
        };
        let mut state = self.lock();
        if state.sources.contains_key(&id) {
            return Err(EngineError::Duplicate(source));
        }
        let status = SourceStatus {
            interval: schedule.current_interval(),
            ..SourceStatus::default()
        };
        state.sources.insert(
            id,
            Slot {
                source,
                provider,
                objects,
                schedule,
                status,
                generation: 0,
                busy: Arc::new(watch::Sender::new(false)),
                watermark,
                calls_committed: Arc::new(AtomicU64::new(counter)),
                calls_today,
            },
        );
        reschedule(&mut state, id, Instant::now());
        drop(state);
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Stops running a source (a poll in flight still commits). Its data stays in the store.
    pub fn remove_source(&self, incarnation: u64) -> bool {
        self.lock().sources.remove(&incarnation).is_some()
    }

    /// Stops running a source and waits, up to `limit`, until a poll in flight has committed or
    /// failed: after it returns `Ok`, nothing of this engine writes for the source any more, so
    /// its data can be deleted or a new provider started on it. `Ok(false)`: it was not running.
    ///
    /// On `Err(StillPolling)` the source is stopped but its poll may still commit: calling this
    /// again waits for that poll, and [`Engine::add_source`] refuses the source until it is done.
    pub async fn remove_source_settled(
        &self,
        incarnation: u64,
        limit: Duration,
    ) -> Result<bool, EngineError> {
        let id = incarnation;
        let busy = {
            let mut state = self.lock();
            match state.sources.remove(&id) {
                Some(slot) => {
                    state.retired.insert(id, slot.busy.clone());
                    slot.busy
                }
                None => match state.retired.get(&id) {
                    Some(busy) => busy.clone(),
                    None => return Ok(false),
                },
            }
        };
        let mut watch = busy.subscribe();
        let settled = tokio::time::timeout(limit, watch.wait_for(|busy| !busy)).await;
        match settled {
            // A closed channel means the poll's task is gone: nothing more is written.
            Ok(_) => {
                let mut state = self.lock();
                if state
                    .retired
                    .get(&id)
                    .is_some_and(|b| Arc::ptr_eq(b, &busy))
                {
                    state.retired.remove(&id);
                }
                Ok(true)
            }
            Err(_) => Err(EngineError::StillPolling(id)),
        }
    }

    /// True while a poll of a source removed by [`Engine::remove_source_settled`] has not
    /// finished; forgets the source once it has.
    fn still_polling(&self, id: u64) -> bool {
        let mut state = self.lock();
        let busy = state.retired.get(&id).is_some_and(|b| *b.borrow());
        if !busy {
            state.retired.remove(&id);
        }
        busy
    }

    /// Pauses or resumes a source. Resuming also clears a stop and polls at once.
    pub fn set_paused(&self, incarnation: u64, paused: bool) -> Result<(), EngineError> {
        let mut state = self.lock();
        let slot = state
            .sources
            .get_mut(&incarnation)
            .ok_or(EngineError::Unknown(incarnation))?;
        slot.status.paused = paused;
        if !paused {
            slot.status.stopped = None;
            reschedule(&mut state, incarnation, Instant::now());
        }
        drop(state);
        self.inner.wake.notify_one();
        Ok(())
    }

    pub fn status(&self, incarnation: u64) -> Option<SourceStatus> {
        let today = self.inner.clock.now().date_naive();
        let storage = self.storage_block();
        self.lock()
            .sources
            .get(&incarnation)
            .map(|s| slot_status(s, today, storage))
    }

    /// Every running source's status, by tenant and id.
    pub fn statuses(&self) -> Vec<(SourceRef, SourceStatus)> {
        let today = self.inner.clock.now().date_naive();
        let storage = self.storage_block();
        let mut all: Vec<_> = self
            .lock()
            .sources
            .values()
            .map(|slot| {
                (
                    slot.source.clone(),
                    slot_status(slot, today, storage.clone()),
                )
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn stats(&self) -> EngineStats {
        self.lock().stats
    }

    /// Calls `listener` with the tenant and its log's last position after every merge that
    /// moved events of that tenant.
    pub fn on_merge(&self, listener: MergeListener) {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// Merges, for every tenant with a source in the engine, what its sources' watermarks
    /// (bounded by `merge_max_delay`) allow: each tenant's stream waits for its own sources
    /// only.
    pub async fn merge(&self) -> Result<MergeReport, StoreError> {
        self.merge_where(|_| true).await
    }

    /// [`Engine::merge`] for one tenant only.
    pub async fn merge_tenant(&self, tenant: &str) -> Result<MergeReport, StoreError> {
        self.merge_where(|t| t == tenant).await
    }

    async fn merge_where(&self, wanted: impl Fn(&str) -> bool) -> Result<MergeReport, StoreError> {
        // Each tenant's active sources' watermarks (a tenant whose sources are all paused or
        // stopped has none: everything pending may go).
        let mut by_tenant: HashMap<String, Vec<Option<Watermark>>> = HashMap::new();
        {
            let state = self.lock();
            for slot in state.sources.values() {
                if !wanted(&slot.source.tenant) {
                    continue;
                }
                let marks = by_tenant.entry(slot.source.tenant.clone()).or_default();
                if !slot.status.paused && slot.status.stopped.is_none() {
                    marks.push(slot.watermark);
                }
            }
        }
        let now = self.inner.clock.now();
        let max_delay = self.inner.config.merge_max_delay;
        let mut frontiers: Vec<(String, DateTime<Utc>)> = by_tenant
            .into_iter()
            .map(|(tenant, marks)| {
                let to = frontier(marks, now, max_delay);
                (tenant, to)
            })
            .collect();
        frontiers.sort();
        let reports = self.inner.store.merge_tenants(frontiers).await?;
        let mut total = MergeReport::default();
        for (_, report) in &reports {
            total.merged += report.merged;
            total.late += report.late;
            total.last = total.last.max(report.last);
        }
        if total.late > 0 {
            tracing::info!(
                late = total.late,
                "late events appended behind the merge frontier"
            );
        }
        {
            let mut state = self.lock();
            state.stats.merged += total.merged;
            state.stats.late += total.late;
        }
        if total.merged > 0 {
            let listeners = self
                .inner
                .listeners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for (tenant, report) in reports.iter().filter(|(_, r)| r.merged > 0) {
                for listener in &listeners {
                    listener(tenant, report.last);
                }
            }
        }
        Ok(total)
    }

    /// Runs until `shutdown` completes; then stops polling, lets in-flight polls finish and
    /// commit (up to `shutdown_grace`), merges once more and returns.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let permits = Arc::new(Semaphore::new(
            self.inner.config.max_concurrent_polls.max(1),
        ));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut polls = tokio::task::JoinSet::new();
        let mut merge_tick = tokio::time::interval(self.inner.config.merge_interval);
        merge_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let next_wake = self.start_due_polls(&permits, &done_tx, &mut polls);
            let sleep = tokio::time::sleep_until(
                next_wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            );
            tokio::select! {
                () = &mut shutdown => break,
                Some(finished) = done_rx.recv() => {
                    // The tenants whose sources committed a page: only their streams merge now.
                    let mut ingested = std::collections::BTreeSet::new();
                    let mut finish = |finished: Finished| {
                        if matches!(finished.step, PollStep::Ingested { .. }) {
                            ingested.insert(finished.tenant.clone());
                        }
                        self.finish_poll(finished);
                    };
                    finish(finished);
                    while let Ok(finished) = done_rx.try_recv() {
                        finish(finished);
                    }
                    if !ingested.is_empty()
                        && let Err(e) = self.merge_where(|t| ingested.contains(t)).await
                    {
                        tracing::error!(error = %e, "merge failed");
                    }
                }
                _ = merge_tick.tick() => {
                    // A failing store refuses the write anyway: nothing to log every tick.
                    if self.store_unavailable() {
                        continue;
                    }
                    if let Err(e) = self.merge().await {
                        tracing::error!(error = %e, "merge failed");
                    }
                }
                () = sleep => {}
                () = self.inner.wake.notified() => {}
                Some(joined) = polls.join_next(), if !polls.is_empty() => {
                    if let Err(e) = joined {
                        tracing::error!(error = %e, "a poll task failed");
                    }
                }
            }
        }
        // Graceful shutdown: no new polls; in-flight ones finish their write.
        let deadline = self
            .inner
            .config
            .shutdown_grace
            .map(|grace| Instant::now() + grace);
        while !polls.is_empty() {
            let joined = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, polls.join_next()).await,
                None => Ok(polls.join_next().await),
            };
            match joined {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        in_flight = polls.len(),
                        "shutdown grace expired; abandoning in-flight polls (uncommitted pages are polled again on restart)"
                    );
                    polls.abort_all();
                    break;
                }
            }
        }
        while let Ok(finished) = done_rx.try_recv() {
            self.finish_poll(finished);
        }
        if self.store_unavailable() {
            // Pending events stay pending, on disk: the next start merges them.
            tracing::warn!("the store is unavailable: no final merge");
            return Ok(());
        }
        self.merge().await?;
        Ok(())
    }

    /// Spawns a poll for every due source; returns when the next one is due.
    fn start_due_polls(
        &self,
        permits: &Arc<Semaphore>,
        done: &mpsc::UnboundedSender<Finished>,
        polls: &mut tokio::task::JoinSet<()>,
    ) -> Option<Instant> {
        let now = Instant::now();
        if self.storage_block().is_some() {
            // No poll starts; the due ones wait in the heap and start once it clears.
            return Some(now + STORAGE_RECHECK);
        }
        let mut guard = self.lock();
        let State { sources, due, .. } = &mut *guard;
        while let Some(Reverse((at, generation, id))) = due.peek().copied() {
            let Some(slot) = sources.get_mut(&id) else {
                due.pop();
                continue;
            };
            if generation != slot.generation
                || *slot.busy.borrow()
                || slot.status.paused
                || slot.status.stopped.is_some()
            {
                due.pop();
                continue;
            }
            if at > now {
                return Some(at);
            }
            due.pop();
            slot.busy.send_replace(true);
            let busy = Arc::clone(&slot.busy);
            let source = slot.source.clone();
            let provider = Arc::clone(&slot.provider);
            let objects = slot.objects.clone();
            let calls_committed = Arc::clone(&slot.calls_committed);
            let clock = Arc::clone(&self.inner.clock);
            let store = Arc::clone(&self.inner.store);
            let permits = Arc::clone(permits);
            let done = done.clone();
            polls.spawn(async move {
                // Not busy any more however the task ends (a shutdown may abort it).
                let idle = IdleOnDrop(busy);
                let Ok(_permit) = permits.acquire_owned().await else {
                    return;
                };
                let step = match &objects {
                    Some(objects) => poll_pipelined(
                        store.as_ref(),
                        &source,
                        provider.as_ref(),
                        objects,
                        Some((&*calls_committed, clock.as_ref())),
                        PIPELINE_PAGES,
                    ).await,
                    None => poll_once_counted(
                        store.as_ref(),
                        &source,
                        provider.as_ref(),
                        &calls_committed,
                        clock.as_ref(),
                    ).await,
                };
                let watermark = match &step {
                    PollStep::Ingested { .. } => match store.source_state(&source) {
                        Ok(state) => Some(state.and_then(|s| s.watermark)),
                        Err(e) => {
                            tracing::warn!(source = %source, error = %e, "cannot read the committed watermark; keeping the last one");
                            None
                        }
                    },
                    _ => None,
                };
                // Idle before the run loop hears of it, so the poll it schedules next can start.
                drop(idle);
                // The engine may be gone; the page is committed either way.
                let _ = done.send(Finished { id, tenant: source.tenant, step, watermark });
            });
        }
        None
    }

    fn finish_poll(&self, finished: Finished) {
        let Finished {
            id,
            step,
            watermark,
            ..
        } = finished;
        let now = self.inner.clock.now();
        let mut state = self.lock();
        state.stats.polls += 1;
        let Some(slot) = state.sources.get_mut(&id) else {
            return;
        };
        if let Some(counter) = slot.provider.upstream_calls() {
            slot.calls_today.update(counter, now.date_naive());
        }
        if let Some(watermark) = watermark {
            slot.watermark = watermark;
        }
        let status = &mut slot.status;
        status.polls += 1;
        status.last_poll_at = Some(now);
        match &step {
            PollStep::Ingested { report, .. } => {
                status.events_ingested += report.accepted;
                status.duplicates_absorbed += report.duplicates;
                status.consecutive_failures = 0;
            }
            PollStep::Throttled { error, .. } | PollStep::Failed { error } => {
                status.consecutive_failures += 1;
                status.last_error = Some(error.clone());
            }
            PollStep::Stopped { error } => {
                status.last_error = Some(error.clone());
                status.stopped = Some(error.clone());
                status.next_poll_at = None;
                return;
            }
        }
        let Some(outcome) = step.outcome() else {
            return;
        };
        let delay = slot.schedule.next_delay(outcome);
        slot.status.interval = slot.schedule.current_interval();
        slot.status.next_poll_at =
            Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX));
        let at = Instant::now() + delay;
        reschedule(&mut state, id, at);
    }
}

/// Marks a source's poll as over when dropped.
struct IdleOnDrop(Arc<watch::Sender<bool>>);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(false);
    }
}

fn reschedule(state: &mut State, id: u64, at: Instant) {
    state.next_generation += 1;
    let generation = state.next_generation;
    if let Some(slot) = state.sources.get_mut(&id) {
        slot.generation = generation;
        state.due.push(Reverse((at, generation, id)));
    }
}
