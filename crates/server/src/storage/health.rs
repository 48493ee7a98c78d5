//! What the server knows of its store's health: the write failure not yet recovered from, the
//! writes in flight (so a stuck one is seen), and the free space of the data directory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tributary_store::{FailureKind, StoreError};

/// Why ingest is held back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageBlock {
    /// Store writes fail (or one is stuck): `store_unavailable`.
    StoreUnavailable { reason: String },
    /// The data directory's free space is under `[storage] min_free_bytes`: `storage_low`.
    LowSpace {
        free_bytes: u64,
        min_free_bytes: u64,
    },
}

impl StorageBlock {
    /// The stable word a source's status and the API show.
    pub fn code(&self) -> &'static str {
        match self {
            StorageBlock::StoreUnavailable { .. } => "store_unavailable",
            StorageBlock::LowSpace { .. } => "storage_low",
        }
    }

    /// What it means, for a person.
    pub fn message(&self) -> String {
        match self {
            StorageBlock::StoreUnavailable { reason } => {
                format!("ingest is paused: the store is unavailable ({reason})")
            }
            StorageBlock::LowSpace {
                free_bytes,
                min_free_bytes,
            } => format!(
                "ingest is paused: {free_bytes} bytes free in the data directory, under \
                 [storage] min_free_bytes = {min_free_bytes}; it resumes when space returns"
            ),
        }
    }
}

/// A store write failure not yet recovered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub disk_full: bool,
    /// When the first failure of this run of failures happened.
    pub since: Instant,
}

/// What `/metrics` reports of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthSnapshot {
    /// The free space last measured; `None` before the first check (or when it failed).
    pub free_bytes: Option<u64>,
    pub min_free_bytes: u64,
    /// Ingest is held back (low space or a failing store).
    pub ingest_paused: bool,
    /// A store write failed and no write succeeded since, or one is stuck.
    pub failing: bool,
    /// Store writes that failed on a storage error (not on their input), since start.
    pub write_failures: u64,
    /// Store calls that did not answer within their timeout, since start.
    pub timeouts: u64,
    /// Times ingest paused for low space, since start.
    pub low_space_pauses: u64,
}

#[derive(Debug, Default)]
struct State {
    failure: Option<Failure>,
    free_bytes: Option<u64>,
    low_space: bool,
    /// Writes in flight, by ticket number: when each started.
    writes: BTreeMap<u64, Instant>,
    write_failures: u64,
    timeouts: u64,
    low_space_pauses: u64,
}

/// Shared by the guarded store (which reports every write), the engine (which pauses ingest),
/// the API (`/readyz`, `/metrics`, sources' status) and the watchdog.
#[derive(Debug)]
pub struct StoreHealth {
    min_free_bytes: u64,
    /// A write in flight longer than this counts as stuck: reads stop waiting on the store.
    stuck_after: Duration,
    state: Mutex<State>,
    next_ticket: AtomicU64,
}

/// Marks a write as in flight until dropped.
#[derive(Debug)]
pub struct WriteTicket {
    health: Arc<StoreHealth>,
    number: u64,
}

impl Drop for WriteTicket {
    fn drop(&mut self) {
        self.health.lock().writes.remove(&self.number);
    }
}

impl StoreHealth {
    /// A healthy store; ingest pauses under `min_free_bytes` free (0: never), and a write in
    /// flight for `stuck_after` or longer counts as stuck.
    pub fn new(min_free_bytes: u64, stuck_after: Duration) -> Arc<Self> {
        Arc::new(Self {
            min_free_bytes,
            stuck_after,
            state: Mutex::new(State::default()),
            next_ticket: AtomicU64::new(0),
        })
    }

    /// How long a read may wait on the store (`[storage] read_timeout`), which is also how
    /// long a write may be in flight before it counts as stuck.
    pub fn read_timeout(&self) -> Duration {
        self.stuck_after
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why ingest is held back now, if it is: a failing or stuck store first, then low space.
    pub fn blocked(&self) -> Option<StorageBlock> {
        if let Some(reason) = self.unavailable() {
            return Some(StorageBlock::StoreUnavailable { reason });
        }
        let state = self.lock();
        match (state.low_space, state.free_bytes) {
            (true, Some(free_bytes)) => Some(StorageBlock::LowSpace {
                free_bytes,
                min_free_bytes: self.min_free_bytes,
            }),
            _ => None,
        }
    }

    /// Why the store is unavailable, if it is: a write failed and none succeeded since, or a
    /// write has been in flight longer than the stuck bound.
    pub fn unavailable(&self) -> Option<String> {
        let state = self.lock();
        if let Some(failure) = &state.failure {
            return Some(failure.reason.clone());
        }
        let oldest = state.writes.values().min()?;
        let age = oldest.elapsed();
        (age >= self.stuck_after)
            .then(|| format!("a store write has been in flight for {}s", age.as_secs()))
    }

    /// A write in flight longer than the stuck bound: the store may not answer reads either.
    pub fn stuck(&self) -> bool {
        self.oldest_write()
            .is_some_and(|age| age >= self.stuck_after)
    }

    /// How long the oldest write in flight has been running.
    pub fn oldest_write(&self) -> Option<Duration> {
        self.lock().writes.values().min().map(Instant::elapsed)
    }

    /// The failure not yet recovered from.
    pub fn failure(&self) -> Option<Failure> {
        self.lock().failure.clone()
    }

    /// Marks a write as in flight until the ticket is dropped.
    pub fn write_started(self: &Arc<Self>) -> WriteTicket {
        let number = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.lock().writes.insert(number, Instant::now());
        WriteTicket {
            health: Arc::clone(self),
            number,
        }
    }

    /// A write committed: the store takes writes again.
    pub fn write_succeeded(&self) {
        let recovered = self.lock().failure.take();
        if let Some(failure) = recovered {
            tracing::warn!(
                failed_for_s = failure.since.elapsed().as_secs(),
                "the store takes writes again; ingest resumes"
            );
        }
    }

    /// A write failed. Failures of the call (its input) say nothing of the store and are ignored.
    pub fn write_failed(&self, what: &str, error: &StoreError) {
        let disk_full = match error.kind() {
            FailureKind::Call => return,
            FailureKind::DiskFull => true,
            FailureKind::Storage => false,
        };
        let mut state = self.lock();
        state.write_failures += 1;
        if state.failure.is_none() {
            tracing::error!(
                write = what,
                error = %error,
                disk_full,
                "a store write failed; ingest pauses until the store takes writes again"
            );
            state.failure = Some(Failure {
                reason: if disk_full {
                    format!("the disk is full ({what}: {error})")
                } else {
                    format!("{what}: {error}")
                },
                disk_full,
                since: Instant::now(),
            });
        }
    }

    /// A call did not answer within `limit`. A write that times out marks the store failing.
    pub fn timed_out(&self, what: &str, limit: Duration, write: bool) {
        let mut state = self.lock();
        state.timeouts += 1;
        if write && state.failure.is_none() {
            tracing::error!(
                write = what,
                limit_ms = limit.as_millis() as u64,
                "a store write did not finish in time; ingest pauses until the store takes writes again"
            );
            state.failure = Some(Failure {
                reason: format!("{what} did not finish within {}s", limit.as_secs_f32()),
                disk_full: false,
                since: Instant::now(),
            });
        }
    }

    /// Records the data directory's free space: under the minimum, ingest pauses (logged once);
    /// at or above it, ingest resumes (logged once).
    pub fn set_free_space(&self, free_bytes: u64) {
        let low = free_bytes < self.min_free_bytes;
        let mut state = self.lock();
        state.free_bytes = Some(free_bytes);
        if low && !state.low_space {
            state.low_space = true;
            state.low_space_pauses += 1;
            tracing::warn!(
                free_bytes,
                min_free_bytes = self.min_free_bytes,
                "free space in the data directory is under [storage] min_free_bytes: ingest pauses"
            );
        } else if !low && state.low_space {
            state.low_space = false;
            tracing::warn!(
                free_bytes,
                min_free_bytes = self.min_free_bytes,
                "free space in the data directory is back over [storage] min_free_bytes: ingest resumes"
            );
        }
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let failing = self.unavailable().is_some();
        let state = self.lock();
        HealthSnapshot {
            free_bytes: state.free_bytes,
            min_free_bytes: self.min_free_bytes,
            ingest_paused: failing || state.low_space,
            failing,
            write_failures: state.write_failures,
            timeouts: state.timeouts,
            low_space_pauses: state.low_space_pauses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enospc() -> StoreError {
        StoreError::Storage {
            context: "flushing to disk",
            source: Box::new(std::io::Error::from_raw_os_error(28)),
        }
    }

    #[test]
    fn low_space_pauses_and_resumes_at_the_minimum() {
        let health = StoreHealth::new(1000, Duration::from_secs(5));
        assert_eq!(health.blocked(), None);
        health.set_free_space(999);
        assert_eq!(
            health.blocked(),
            Some(StorageBlock::LowSpace {
                free_bytes: 999,
                min_free_bytes: 1000
            })
        );
        assert_eq!(health.blocked().unwrap().code(), "storage_low");
        health.set_free_space(998);
        health.set_free_space(1000);
        assert_eq!(health.blocked(), None);
        let snapshot = health.snapshot();
        assert_eq!(snapshot.free_bytes, Some(1000));
        assert_eq!(snapshot.low_space_pauses, 1);
        assert!(!snapshot.ingest_paused);
    }

    #[test]
    fn a_failed_write_blocks_until_one_succeeds_and_call_errors_do_not() {
        let health = StoreHealth::new(0, Duration::from_secs(5));
        health.write_failed(
            "ingest",
            &StoreError::UnknownSource {
                source_id: "s".into(),
            },
        );
        assert_eq!(health.blocked(), None);
        health.write_failed("ingest", &enospc());
        let failure = health.failure().unwrap();
        assert!(failure.disk_full);
        assert_eq!(health.blocked().unwrap().code(), "store_unavailable");
        assert!(health.snapshot().failing);
        health.write_succeeded();
        assert_eq!(health.blocked(), None);
        assert_eq!(health.snapshot().write_failures, 1);
    }

    #[test]
    fn a_write_in_flight_past_the_bound_is_stuck() {
        let health = StoreHealth::new(0, Duration::ZERO);
        let ticket = health.write_started();
        assert!(health.stuck());
        assert!(health.unavailable().unwrap().contains("in flight"));
        drop(ticket);
        assert!(!health.stuck());
        assert_eq!(health.blocked(), None);
    }
}
