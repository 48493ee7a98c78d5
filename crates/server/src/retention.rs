//! Retention while `serve` runs: a pass at start-up and then every `[retention] interval`
//! removes, from the oldest end of each tenant's log, the events older than `max_age` and those
//! beyond `max_events` ([`EventStore::apply_retention`], which runs on tokio's blocking pool and
//! flushes before it answers). Each pass is counted for `/metrics` ([`RetentionStats`]) and
//! logged; a pass the store refuses is logged and tried again at the next interval.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::Clock;
use tributary_store::{EventStore, Retention, RetentionReport, StoreError};

/// What a retention pass removes, and how often one runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub retention: Retention,
    pub interval: Duration,
}

/// What the passes of this process did, shared by the loop that runs them and `/metrics`.
/// Cheap to clone: every clone counts into the same numbers.
#[derive(Debug, Clone, Default)]
pub struct RetentionStats {
    inner: Arc<Counts>,
}

#[derive(Debug)]
struct Counts {
    passes: AtomicU64,
    failed_passes: AtomicU64,
    removed: AtomicU64,
    /// Milliseconds since the Unix epoch of the last finished pass; `i64::MIN` before the first.
    last_pass_ms: AtomicI64,
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            passes: AtomicU64::new(0),
            failed_passes: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            last_pass_ms: AtomicI64::new(i64::MIN),
        }
    }
}

/// The numbers of [`RetentionStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionSnapshot {
    /// Passes finished.
    pub passes: u64,
    /// Passes the store refused (not counted in `passes`).
    pub failed_passes: u64,
    /// Events removed, all passes and tenants together.
    pub removed: u64,
    /// When the last pass finished; `None` before the first.
    pub last_pass: Option<DateTime<Utc>>,
}

impl RetentionStats {
    pub fn snapshot(&self) -> RetentionSnapshot {
        let c = &self.inner;
        let last_ms = c.last_pass_ms.load(Ordering::Acquire);
        RetentionSnapshot {
            passes: c.passes.load(Ordering::Acquire),
            failed_passes: c.failed_passes.load(Ordering::Acquire),
            removed: c.removed.load(Ordering::Acquire),
            last_pass: (last_ms != i64::MIN)
                .then(|| DateTime::from_timestamp_millis(last_ms))
                .flatten(),
        }
    }

    fn finished(&self, report: RetentionReport, at: DateTime<Utc>) {
        let c = &self.inner;
        c.removed.fetch_add(report.removed, Ordering::AcqRel);
        c.last_pass_ms
            .store(at.timestamp_millis(), Ordering::Release);
        c.passes.fetch_add(1, Ordering::AcqRel);
    }

    fn failed(&self) {
        self.inner.failed_passes.fetch_add(1, Ordering::AcqRel);
    }
}

/// One pass over every tenant's log, as `retention` says at the clock's now; counted in `stats`
/// and logged either way.
pub async fn pass(
    store: &dyn EventStore,
    clock: &dyn Clock,
    retention: Retention,
    stats: &RetentionStats,
) -> Result<RetentionReport, StoreError> {
    let began = std::time::Instant::now();
    let max_age_s = retention.max_age.map(|a| a.as_secs());
    match store.apply_retention(retention, clock.now()).await {
        Ok(report) => {
            stats.finished(report, clock.now());
            tracing::info!(
                removed = report.removed,
                took_ms = began.elapsed().as_millis() as u64,
                max_age_s,
                max_events = retention.max_events,
                "retention pass finished"
            );
            Ok(report)
        }
        Err(e) => {
            stats.failed();
            tracing::warn!(error = %e, "retention pass failed; trying again at the next interval");
            Err(e)
        }
    }
}

/// Runs a pass now and then every `policy.interval` until `stop` completes. A pass under way
/// when `stop` completes is finished first (it holds the store's write lock and flushes), so the
/// store is never left to a pass cut short.
pub async fn run(
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
    stats: RetentionStats,
    stop: impl Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(policy.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => return,
            _ = ticks.tick() => {
                // Counted and logged inside; the next tick tries again.
                let _ = pass(store.as_ref(), clock.as_ref(), policy.retention, &stats).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::SyntheticProvider;
    use chrono::TimeZone;
    use tributary_core::{Cursor, ManualClock, Provider, SourceId};
    use tributary_store::{Filter, SledStore, SourceRecord};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    /// A store whose tenant `t` holds `n` merged events, 1 to 399 ms apart from `t0()`.
    async fn store_with(n: u64) -> SledStore {
        let store = SledStore::temporary().unwrap();
        let id = SourceId::new("s1").unwrap();
        let source = store
            .put_source(SourceRecord {
                id: id.clone(),
                tenant: "t".into(),
                incarnation: 0,
                provider: "synthetic".into(),
                config: serde_json::json!({}),
                credentials: serde_json::json!({}),
                paused: false,
                created_at: t0(),
            })
            .await
            .unwrap();
        let page = SyntheticProvider::new(id, 7, t0(), n, n)
            .poll(None)
            .await
            .unwrap();
        store.ingest(&source, page).await.unwrap();
        store
            .merge("t", t0() + chrono::Duration::days(1))
            .await
            .unwrap();
        store
    }

    async fn remaining(store: &SledStore) -> usize {
        store
            .read("t", None::<&Cursor>, 1_000, &Filter::default())
            .await
            .unwrap()
            .events
            .len()
    }

    #[tokio::test]
    async fn a_pass_removes_what_max_events_and_max_age_exclude_and_counts_it() {
        let store = store_with(50).await;
        let clock = ManualClock::new(t0() + chrono::Duration::days(2));
        let stats = RetentionStats::default();
        assert_eq!(stats.snapshot(), RetentionSnapshot::default());

        let by_count = Retention {
            max_age: None,
            max_events: Some(20),
        };
        let report = pass(&store, &clock, by_count, &stats).await.unwrap();
        assert_eq!(report.removed, 30);
        assert_eq!(remaining(&store).await, 20);
        assert_eq!(
            stats.snapshot(),
            RetentionSnapshot {
                passes: 1,
                failed_passes: 0,
                removed: 30,
                last_pass: Some(clock.now()),
            }
        );

        // Every event is two days old: a one-day limit removes the rest.
        clock.advance(Duration::from_secs(60));
        let by_age = Retention {
            max_age: Some(Duration::from_secs(24 * 3600)),
            max_events: None,
        };
        assert_eq!(
            pass(&store, &clock, by_age, &stats).await.unwrap().removed,
            20
        );
        assert_eq!(remaining(&store).await, 0);
        let snapshot = stats.snapshot();
        assert_eq!((snapshot.passes, snapshot.removed), (2, 50));
        assert_eq!(snapshot.last_pass, Some(clock.now()));
    }

    #[tokio::test]
    async fn a_refused_pass_is_counted_as_failed_and_changes_nothing() {
        let store = store_with(5).await;
        // A `max_age` longer than chrono can hold: the store cannot turn it into a cut-off.
        let clock = ManualClock::new(t0());
        let stats = RetentionStats::default();
        let absurd = Retention {
            max_age: Some(Duration::MAX),
            max_events: None,
        };
        assert!(pass(&store, &clock, absurd, &stats).await.is_err());
        assert_eq!(
            stats.snapshot(),
            RetentionSnapshot {
                failed_passes: 1,
                ..RetentionSnapshot::default()
            }
        );
        assert_eq!(remaining(&store).await, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_runs_at_once_then_every_interval_and_stops_when_told() {
        let store = Arc::new(store_with(10).await);
        let clock = Arc::new(ManualClock::new(t0() + chrono::Duration::days(2)));
        let stats = RetentionStats::default();
        let policy = RetentionPolicy {
            retention: Retention {
                max_age: None,
                max_events: Some(8),
            },
            interval: Duration::from_secs(600),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(run(store.clone(), clock, policy, stats.clone(), async {
            let _ = stopped.await;
        }));
        // Time is paused and moves only while every task waits; a pass on the blocking pool
        // holds it still. So the time at which `passes` sees a pass is within a second of it.
        let passes = |n| {
            let stats = stats.clone();
            async move {
                while stats.snapshot().passes < n {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                tokio::time::Instant::now()
            }
        };
        let began = tokio::time::Instant::now();
        let first = passes(1).await;
        assert!(
            first - began < Duration::from_secs(600),
            "{:?}",
            first - began
        );
        assert_eq!(stats.snapshot().removed, 2);
        let second = passes(2).await;
        assert!(
            second - began >= Duration::from_secs(600),
            "{:?}",
            second - began
        );
        assert_eq!(stats.snapshot().removed, 2, "nothing more to remove");
        stop.send(()).unwrap();
        running.await.unwrap();
        assert_eq!(remaining(&store).await, 8);
    }
}
