//! The engine over a real store, with tokio's paused clock: schedules, merging, stops, shutdown.

use super::*;
use crate::synthetic::SyntheticProvider;
use chrono::{DateTime, TimeZone, Utc};
use futures_util::FutureExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tributary_core::*;
use tributary_store::{EventStore, Filter, SledStore, SourceRecord, SourceRef};

/// The tenant of most tests' sources.
const T: &str = "t";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn policy(min_ms: u64, max_ms: u64) -> PollPolicy {
    PollPolicy {
        min_interval_ms: min_ms,
        max_interval_ms: max_ms,
        multiplier: 2.0,
        jitter: 0.0,
    }
}

/// Paused time jumps ahead while the store works on a blocking thread, so a shutdown grace would
/// expire at once: the tests let in-flight polls take what they need.
fn config() -> EngineConfig {
    EngineConfig {
        shutdown_grace: None,
        ..EngineConfig::default()
    }
}

fn engine(store: &SledStore, config: EngineConfig) -> Engine {
    Engine::new(
        Arc::new(store.clone()),
        Arc::new(TokioClock::new(start())),
        config,
    )
}

fn src(s: &str) -> SourceId {
    SourceId::new(s).unwrap()
}

/// Stores a source of `tenant` (or finds it) and answers its incarnation.
async fn reg_in(store: &SledStore, tenant: &str, name: &str) -> SourceRef {
    store
        .put_source(SourceRecord {
            id: src(name),
            tenant: tenant.into(),
            incarnation: 0,
            provider: "scripted".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: start(),
        })
        .await
        .unwrap()
}

/// [`reg_in`] for the tenant [`T`].
async fn reg(store: &SledStore, name: &str) -> SourceRef {
    reg_in(store, T, name).await
}

/// The incarnation of `name` of tenant [`T`].
fn inc(store: &SledStore, name: &str) -> u64 {
    store.source(T, &src(name)).unwrap().unwrap().incarnation
}

/// The source `name` of tenant [`T`].
fn sref(store: &SledStore, name: &str) -> SourceRef {
    store.source(T, &src(name)).unwrap().unwrap().source_ref()
}

/// The last position of the tenant's log (the sled store answers at once).
fn last_in(store: &SledStore, tenant: &str) -> Seq {
    store.latest(tenant).now_or_never().unwrap().unwrap().seq
}

fn last(store: &SledStore) -> Seq {
    last_in(store, T)
}

/// A provider that answers from a script (the last answer repeats) and records each poll.
struct Scripted {
    answers: Mutex<VecDeque<Result<Page, ProviderError>>>,
    polls: Mutex<Vec<(Instant, Option<Checkpoint>)>>,
    delay: Duration,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(answers: Vec<Result<Page, ProviderError>>) -> Arc<Self> {
        Self::with_delay(answers, Duration::ZERO, Arc::default(), Arc::default())
    }

    fn with_delay(
        answers: Vec<Result<Page, ProviderError>>,
        delay: Duration,
        running: Arc<AtomicUsize>,
        max_running: Arc<AtomicUsize>,
    ) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into()),
            polls: Mutex::default(),
            delay,
            running,
            max_running,
        })
    }

    fn poll_gaps(&self) -> Vec<Duration> {
        let polls = self.polls.lock().unwrap();
        polls.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }

    fn poll_count(&self) -> usize {
        self.polls.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        self.polls
            .lock()
            .unwrap()
            .push((Instant::now(), checkpoint.cloned()));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().unwrap().clone()
        }
    }
}

fn empty(n: u64, watermark: Option<DateTime<Utc>>) -> Result<Page, ProviderError> {
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": n})).unwrap();
    Ok(Page::new(
        vec![],
        checkpoint,
        watermark.map(Watermark::new),
        false,
    ))
}

fn event(source: &str, id: &str, at: DateTime<Utc>) -> Event {
    Event {
        id: EventId::new(id).unwrap(),
        seq: None,
        source: src(source),
        provider: "scripted".into(),
        event_type: EventType::Add,
        occurred_at: at,
        observed_at: at,
        object: Object::new(id, ObjectKind::File, id),
        previous: None,
        actor: None,
        upstream: Upstream {
            id: id.into(),
            action: "create".into(),
            raw: None,
        },
        late: false,
    }
}

/// Runs the engine on a task; returns a trigger that shuts it down and waits for it.
fn spawn(
    engine: &Engine,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), EngineError>>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let task = tokio::spawn(async move {
        e.run(async {
            let _ = rx.await;
        })
        .await
    });
    (tx, task)
}

/// Starts `e` with one source `name` whose polls answer `answer` after `delay`, and waits until
/// its first poll is in flight. Returns the provider and what [`spawn`] returns.
async fn run_slow_source(
    e: &Engine,
    store: &SledStore,
    name: &str,
    answer: Result<Page, ProviderError>,
    delay: Duration,
) -> (
    Arc<Scripted>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), EngineError>>,
) {
    let p = Scripted::with_delay(vec![answer], delay, Arc::default(), Arc::default());
    e.add_source(reg(store, name).await, p.clone(), policy(1_000, 1_000))
        .unwrap();
    let (stop, task) = spawn(e);
    until(LIMIT, || p.poll_count() == 1).await;
    (p, stop, task)
}

/// A bound on paused time for conditions that should hold much sooner. Paused time also jumps
/// ahead while the store works on a blocking thread, so it is generous: it only catches hangs.
const LIMIT: Duration = Duration::from_secs(3_600);

/// Advances paused time in steps until `done` holds, or fails after `limit`.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn log_ids(store: &SledStore) -> Vec<(String, String)> {
    let page = store
        .read(T, None, 10_000, &Filter::default())
        .await
        .unwrap();
    page.events
        .iter()
        .map(|e| e.event().unwrap())
        .map(|e| (e.source.to_string(), e.id.to_string()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn drains_sources_and_merges_them_in_time_order() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    for (i, name) in ["s1", "s2"].iter().enumerate() {
        let p = SyntheticProvider::new(src(name), 10 + i as u64, start(), 30, 7);
        e.add_source(reg(&store, name).await, Arc::new(p), policy(1_000, 60_000))
            .unwrap();
    }
    let (stop, task) = spawn(&e);
    until(LIMIT, || last(&store) == Seq(60)).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let events: Vec<Event> = store
        .read(T, None, 100, &Filter::default())
        .await
        .unwrap()
        .events
        .iter()
        .map(|s| s.event().unwrap())
        .collect();
    assert_eq!(events.len(), 60);
    assert!(
        events
            .windows(2)
            .all(|w| (w[0].occurred_at, &w[0].source) <= (w[1].occurred_at, &w[1].source))
    );
    assert!(events.iter().all(|e| !e.late));
    for name in ["s1", "s2"] {
        let ids: Vec<String> = events
            .iter()
            .filter(|e| e.source.as_str() == name)
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(ids, (0..30).map(|n| n.to_string()).collect::<Vec<_>>());
        let status = e.status(inc(&store, name)).unwrap();
        // 5 pages (7, 7, 7, 7, 2): drained at once while `more`, then idle polls.
        assert_eq!(status.events_ingested, 30, "{status:?}");
        assert!(status.polls >= 5, "{status:?}");
        assert_eq!(status.last_error, None);
    }
    assert_eq!(e.stats().merged, 60);
}

#[tokio::test(start_paused = true)]
async fn backs_off_while_idle_and_waits_out_throttling() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    let idle = Scripted::new(vec![empty(1, None)]);
    e.add_source(
        reg(&store, "idle").await,
        idle.clone(),
        policy(1_000, 8_000),
    )
    .unwrap();
    let throttled = Scripted::new(vec![
        Err(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
            message: "over qps".into(),
        }),
        empty(1, None),
    ]);
    e.add_source(
        reg(&store, "throttled").await,
        throttled.clone(),
        policy(1_000, 8_000),
    )
    .unwrap();
    let (stop, task) = spawn(&e);
    until(LIMIT, || {
        idle.poll_count() >= 7 && throttled.poll_count() >= 2
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // Paused time also moves while a page is being committed on a blocking thread, so the gaps
    // are lower bounds; the schedule's own decisions are exact in the status.
    let expected = [1, 2, 4, 8, 8, 8].map(Duration::from_secs);
    for (gap, want) in idle.poll_gaps().iter().zip(expected) {
        assert!(*gap >= want, "polled after {gap:?}, scheduled {want:?}");
    }
    let status = e.status(inc(&store, "idle")).unwrap();
    assert_eq!(status.interval, Duration::from_secs(8));
    assert_eq!(
        status.next_poll_at.unwrap() - status.last_poll_at.unwrap(),
        chrono::Duration::seconds(8)
    );
    assert!(
        throttled.poll_gaps()[0] >= Duration::from_secs(30),
        "{:?}",
        throttled.poll_gaps()
    );
    let status = e.status(inc(&store, "throttled")).unwrap();
    assert_eq!(
        status.last_error.as_deref(),
        Some("rate limited by upstream (retry after 30s): over qps")
    );
    assert_eq!(status.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_stops_the_source_until_it_is_resumed() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    let p = Scripted::new(vec![
        Err(ProviderError::Auth {
            message: "token revoked".into(),
        }),
        empty(1, None),
    ]);
    e.add_source(reg(&store, "a").await, p.clone(), policy(1_000, 8_000))
        .unwrap();
    let (stop, task) = spawn(&e);
    until(LIMIT, || {
        e.status(inc(&store, "a")).unwrap().stopped.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(p.poll_count(), 1, "a stopped source is not polled");
    let status = e.status(inc(&store, "a")).unwrap();
    assert_eq!(
        status.stopped.as_deref(),
        Some("upstream refused the credentials: token revoked")
    );
    assert_eq!(status.next_poll_at, None);
    e.set_paused(inc(&store, "a"), false).unwrap();
    until(LIMIT, || p.poll_count() == 2).await;
    assert_eq!(e.status(inc(&store, "a")).unwrap().stopped, None);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_source_holds_the_stream_back_no_longer_than_max_delay() {
    let store = SledStore::temporary().unwrap();
    let config = EngineConfig {
        merge_max_delay: Duration::from_secs(10),
        merge_interval: Duration::from_secs(1),
        ..config()
    };
    let clock = TokioClock::new(start());
    let e = Engine::new(Arc::new(store.clone()), Arc::new(clock.clone()), config);
    // `busy` reports two events at +1s and +2s and then promises nothing before +1h;
    // `stuck` never moves its watermark past the start.
    let at = |s: i64| start() + chrono::Duration::seconds(s);
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1"})).unwrap();
    let page = Page::new(
        vec![event("busy", "1", at(1)), event("busy", "2", at(2))],
        checkpoint,
        Some(Watermark::new(at(3600))),
        false,
    );
    e.add_source(
        reg(&store, "busy").await,
        Scripted::new(vec![Ok(page), empty(2, Some(at(3600)))]),
        policy(1_000, 1_000),
    )
    .unwrap();
    e.add_source(
        reg(&store, "stuck").await,
        Scripted::new(vec![empty(1, Some(at(0)))]),
        policy(1_000, 1_000),
    )
    .unwrap();
    let (stop, task) = spawn(&e);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(last(&store), Seq(0), "held back while within max_delay");
    until(LIMIT, || last(&store) == Seq(2)).await;
    // Released once now − max_delay passed the events: at +12 s at the earliest.
    assert!(clock.now() >= at(12), "released at {}", clock.now());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        log_ids(&store).await,
        [("busy".into(), "1".into()), ("busy".into(), "2".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn never_runs_more_polls_at_once_than_the_cap() {
    let store = SledStore::temporary().unwrap();
    let e = engine(
        &store,
        EngineConfig {
            max_concurrent_polls: 2,
            ..config()
        },
    );
    let (running, max_running) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut providers = Vec::new();
    for i in 0..6 {
        let p = Scripted::with_delay(
            vec![empty(1, None)],
            Duration::from_secs(1),
            running.clone(),
            max_running.clone(),
        );
        e.add_source(
            reg(&store, &format!("s{i}")).await,
            p.clone(),
            policy(1_000, 1_000),
        )
        .unwrap();
        providers.push(p);
    }
    let (stop, task) = spawn(&e);
    until(LIMIT, || providers.iter().all(|p| p.poll_count() >= 3)).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_poll_in_flight_commit() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": 1})).unwrap();
    let page = Page::new(
        vec![event("slow", "1", start())],
        checkpoint.clone(),
        Some(Watermark::closed()),
        false,
    );
    let (p, stop, task) =
        run_slow_source(&e, &store, "slow", Ok(page), Duration::from_secs(5)).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(
        store
            .source_state(&sref(&store, "slow"))
            .unwrap()
            .unwrap()
            .checkpoint,
        checkpoint
    );
    assert_eq!(log_ids(&store).await, [("slow".into(), "1".into())]);
    assert_eq!(p.poll_count(), 1);
}

/// [`Scripted`], spending `per_poll` upstream requests on every poll and counting them.
struct Counting {
    inner: Arc<Scripted>,
    per_poll: u64,
    calls: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl Provider for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        self.calls.fetch_add(self.per_poll, Ordering::SeqCst);
        self.inner.poll(checkpoint).await
    }

    fn upstream_calls(&self) -> Option<u64> {
        Some(self.calls.load(Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn upstream_calls_today_are_committed_with_pages_and_survive_a_restart() {
    let store = SledStore::temporary().unwrap();
    let today = start().date_naive();
    let counting = |answers| {
        Arc::new(Counting {
            inner: Scripted::new(answers),
            per_poll: 2,
            calls: Default::default(),
        })
    };
    let e = engine(&store, config());
    // The first poll fails: its two calls are committed with the next page.
    let p = counting(vec![
        Err(ProviderError::Transient {
            message: "upstream 502".into(),
        }),
        empty(1, None),
    ]);
    e.add_source(reg(&store, "s").await, p.clone(), policy(1_000, 1_000))
        .unwrap();
    let (stop, task) = spawn(&e);
    until(LIMIT, || p.inner.poll_count() >= 4).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let spent = p.upstream_calls().unwrap();
    let status = e.status(inc(&store, "s")).unwrap();
    assert_eq!(status.upstream_calls, Some(spent));
    assert_eq!(status.upstream_calls_today, Some(spent));
    // Every poll after the failed one committed, the last one at shutdown: all calls are stored.
    let stored = store.source_state(&sref(&store, "s")).unwrap().unwrap();
    assert_eq!(
        stored.calls,
        Some(DailyCalls {
            day: today,
            calls: spent
        })
    );

    // A restarted engine, with a fresh provider, starts today's count from the store.
    let e = engine(&store, config());
    let p = counting(vec![empty(2, None)]);
    e.add_source(reg(&store, "s").await, p.clone(), policy(1_000, 1_000))
        .unwrap();
    let status = e.status(inc(&store, "s")).unwrap();
    assert_eq!(status.upstream_calls, Some(0));
    assert_eq!(status.upstream_calls_today, Some(spent));
    let (stop, task) = spawn(&e);
    until(LIMIT, || p.inner.poll_count() >= 1).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let more = p.upstream_calls().unwrap();
    assert!(more >= 2);
    let status = e.status(inc(&store, "s")).unwrap();
    assert_eq!(status.upstream_calls_today, Some(spent + more));
    let stored = store.source_state(&sref(&store, "s")).unwrap().unwrap();
    assert_eq!(stored.calls_on(today), spent + more);
}

#[tokio::test(start_paused = true)]
async fn removing_a_source_settled_waits_for_its_poll_to_commit() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": 1})).unwrap();
    let page = Page::new(vec![event("slow", "1", start())], checkpoint, None, false);
    let (p, stop, task) =
        run_slow_source(&e, &store, "slow", Ok(page), Duration::from_secs(5)).await;
    // The poll is in flight (it answers after 5 s): removal waits for its commit.
    let slow = sref(&store, "slow");
    assert!(store.source_state(&slow).unwrap().is_none());
    let removed = e
        .remove_source_settled(slow.incarnation, Duration::from_secs(60))
        .await;
    assert!(removed.unwrap());
    assert_eq!(
        store
            .source_state(&sref(&store, "slow"))
            .unwrap()
            .unwrap()
            .events_ingested,
        1
    );
    // Deleted now, nothing writes for it again, and no further poll starts.
    store.delete_source(T, &src("slow")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(store.source_state(&slow).unwrap().is_none());
    assert_eq!(store.pending_len(&slow).unwrap(), 0);
    assert_eq!(p.poll_count(), 1);
    // A source not running is settled at once.
    assert!(
        !e.remove_source_settled(slow.incarnation, Duration::from_secs(60))
            .await
            .unwrap()
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn removing_a_source_settled_gives_up_after_its_limit() {
    let store = SledStore::temporary().unwrap();
    let e = engine(&store, config());
    let (_p, stop, task) = run_slow_source(
        &e,
        &store,
        "stuck",
        empty(1, None),
        Duration::from_secs(600),
    )
    .await;
    let stuck = sref(&store, "stuck");
    let removed = e
        .remove_source_settled(stuck.incarnation, Duration::from_secs(10))
        .await;
    assert!(matches!(removed, Err(EngineError::StillPolling(id)) if id == stuck.incarnation));
    // Stopped, but its poll may still commit: the id cannot be started again, and asking again
    // waits for that poll (it answers 600 s after it began).
    let again = e.add_source(
        reg(&store, "stuck").await,
        Scripted::new(vec![empty(2, None)]),
        policy(1_000, 1_000),
    );
    assert!(matches!(again, Err(EngineError::StillPolling(id)) if id == stuck.incarnation));
    let removed = e
        .remove_source_settled(stuck.incarnation, Duration::from_secs(10))
        .await;
    assert!(matches!(removed, Err(EngineError::StillPolling(_))));
    assert!(
        store
            .source_state(&sref(&store, "stuck"))
            .unwrap()
            .is_none()
    );
    let removed = e
        .remove_source_settled(stuck.incarnation, Duration::from_secs(1_000))
        .await;
    assert!(removed.unwrap());
    assert!(
        store
            .source_state(&sref(&store, "stuck"))
            .unwrap()
            .is_some()
    );
    // Settled: the id is free, and asking again finds nothing running.
    assert!(
        !e.remove_source_settled(stuck.incarnation, Duration::from_secs(1))
            .await
            .unwrap()
    );
    e.add_source(
        reg(&store, "stuck").await,
        Scripted::new(vec![empty(2, None)]),
        policy(1_000, 1_000),
    )
    .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_of_one_tenant_does_not_delay_another_tenants_stream() {
    let store = SledStore::temporary().unwrap();
    let config = EngineConfig {
        // Far longer than the test: only a tenant's own sources may hold its stream back.
        merge_max_delay: Duration::from_secs(3_600),
        merge_interval: Duration::from_secs(1),
        ..config()
    };
    let clock = TokioClock::new(start());
    let e = Engine::new(Arc::new(store.clone()), Arc::new(clock.clone()), config);
    let woken = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&woken);
    e.on_merge(Arc::new(move |tenant: &str, last: Seq| {
        seen.lock().unwrap().push((tenant.to_owned(), last));
    }));
    // Both tenants name their source `egnyte-main`; acme's never answers with a page.
    let failing = Scripted::new(vec![Err(ProviderError::Transient {
        message: "upstream 502".into(),
    })]);
    e.add_source(
        reg_in(&store, "acme", "egnyte-main").await,
        failing.clone(),
        policy(1_000, 1_000),
    )
    .unwrap();
    let at = |s: i64| start() + chrono::Duration::seconds(s);
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1"})).unwrap();
    let page = Page::new(
        vec![
            event("egnyte-main", "1", at(-2)),
            event("egnyte-main", "2", at(-1)),
        ],
        checkpoint,
        Some(Watermark::new(at(0))),
        false,
    );
    e.add_source(
        reg_in(&store, "globex", "egnyte-main").await,
        Scripted::new(vec![Ok(page), empty(2, Some(at(0)))]),
        policy(1_000, 1_000),
    )
    .unwrap();
    let (stop, task) = spawn(&e);
    until(LIMIT, || last_in(&store, "globex") == Seq(2)).await;
    // Merged by globex's first commit, not held for acme's merge_max_delay.
    assert!(clock.now() < at(60), "released at {}", clock.now());
    until(LIMIT, || failing.poll_count() >= 3).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(last_in(&store, "acme"), Seq(0));
    let globex: Vec<(u64, String)> = store
        .read("globex", None, 10, &Filter::default())
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| (e.seq.get(), e.event().unwrap().id.to_string()))
        .collect();
    assert_eq!(globex, [(1, "1".to_owned()), (2, "2".to_owned())]);
    // Only globex's streams were woken.
    assert_eq!(*woken.lock().unwrap(), [("globex".to_owned(), Seq(2))]);
}

/// A provider that touches the object `o` on every page: `add` when its memory does not have
/// it, `update` when it does, as Egnyte tells a new file from a new version. Page `n` (from
/// checkpoint `n`) has more after it until `pages`; the page `refused` names another source, so
/// the store refuses it.
struct Memo {
    objects: Arc<dyn ObjectStateRead>,
    pages: u64,
    refused: Option<u64>,
    polled: Mutex<Vec<u64>>,
}

#[async_trait::async_trait]
impl Provider for Memo {
    fn name(&self) -> &str {
        "memo"
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        let n = checkpoint.map_or(0, |c| c.as_json()["n"].as_u64().unwrap());
        self.polled.lock().unwrap().push(n);
        let seen = self.objects.get("o").unwrap().is_some();
        let mut e = event(
            if self.refused == Some(n) {
                "other"
            } else {
                "memo"
            },
            &format!("e{n}"),
            start() + chrono::Duration::seconds(n as i64),
        );
        e.event_type = if seen {
            EventType::Update
        } else {
            EventType::Add
        };
        let next = Checkpoint::from_json(serde_json::json!({"version": "V1", "n": n + 1})).unwrap();
        let mut page = Page::new(vec![e], next, None, n + 1 < self.pages);
        page.objects = vec![ObjectChange::set("o", serde_json::json!(n))];
        Ok(page)
    }
}

#[tokio::test]
async fn a_pipelined_drain_maps_each_page_against_the_pages_before_it() {
    let store = SledStore::temporary().unwrap();
    let source = reg(&store, "memo").await;
    let objects = Arc::new(InFlightObjects::new(Arc::from(store.object_state(&source))));
    let memo = Memo {
        objects: objects.clone(),
        pages: 10,
        refused: None,
        polled: Mutex::default(),
    };
    let step = runner::poll_pipelined(&store, &source, &memo, &objects, None, 4).await;
    assert_eq!(
        step,
        runner::PollStep::Ingested {
            report: tributary_store::IngestReport {
                accepted: 4,
                duplicates: 0
            },
            more: true
        }
    );
    let step = runner::poll_pipelined(&store, &source, &memo, &objects, None, 100).await;
    assert!(matches!(
        step,
        runner::PollStep::Ingested { more: false, .. }
    ));
    assert_eq!(objects.in_flight(), 0);
    store.merge(T, time::max()).await.unwrap();
    let types: Vec<EventType> = store
        .read(T, None, 100, &Filter::default())
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.event().unwrap().event_type)
        .collect();
    // Every page after the first saw the object, though its fetch overlapped the commit before.
    let mut expected = vec![EventType::Add];
    expected.extend([EventType::Update; 9]);
    assert_eq!(types, expected);
    assert_eq!(*memo.polled.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_refused_page_drops_what_was_fetched_after_it() {
    let store = SledStore::temporary().unwrap();
    let source = reg(&store, "memo").await;
    let objects = Arc::new(InFlightObjects::new(Arc::from(store.object_state(&source))));
    let memo = Memo {
        objects: objects.clone(),
        pages: 10,
        refused: Some(3),
        polled: Mutex::default(),
    };
    let step = runner::poll_pipelined(&store, &source, &memo, &objects, None, 100).await;
    assert!(matches!(step, runner::PollStep::Stopped { .. }), "{step:?}");
    // Pages 0..=2 committed; page 4, fetched while 3 was refused, is gone with it.
    let state = store.source_state(&source).unwrap().unwrap();
    assert_eq!(state.checkpoint.as_json()["n"], 3);
    assert_eq!(state.events_ingested, 3);
    assert_eq!(objects.in_flight(), 0);
    assert_eq!(*memo.polled.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(
        store.object_state(&source).get("o").unwrap(),
        Some(serde_json::json!(2))
    );
}
