//! The free-space guard and the write probe ([`monitor`], on the runtime), and the [`Watchdog`]
//! (a thread of its own, so it works even when every runtime thread is blocked on the store).

use super::health::StoreHealth;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tributary_store::EventStore;

/// The exit status of a process that gave up on its store (`EX_IOERR`): a supervisor restarts
/// it; every write it acknowledged is on disk.
pub const EXIT_STORE_FAILED: i32 = 74;

/// How long measuring the free space may take before the check is given up (and logged).
const MEASURE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the free space of the data directory comes from: the file system ([`Statvfs`]), or a
/// test's numbers.
pub trait FreeSpace: Send + Sync + 'static {
    /// Bytes an unprivileged writer may still use.
    fn free_bytes(&self) -> std::io::Result<u64>;
}

/// The free space of the file system holding a directory, from `statvfs(3)`: blocks available
/// to unprivileged users times the fragment size.
#[derive(Debug, Clone)]
pub struct Statvfs {
    pub path: PathBuf,
}

impl FreeSpace for Statvfs {
    #[cfg(unix)]
    fn free_bytes(&self) -> std::io::Result<u64> {
        let stat = rustix::fs::statvfs(&self.path)?;
        Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
    }

    #[cfg(not(unix))]
    fn free_bytes(&self) -> std::io::Result<u64> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "free space is measured on Unix only",
        ))
    }
}

/// Until `stop` completes, every `interval`: measures the free space (ingest pauses under the
/// minimum and resumes over it), and while the store is failing (and no write is stuck), probes
/// whether it takes a write again. The first check runs at once.
pub async fn monitor(
    store: Arc<dyn EventStore>,
    health: Arc<StoreHealth>,
    space: Arc<dyn FreeSpace>,
    interval: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => check(store.as_ref(), &health, &space).await,
        }
    }
}

/// One round of [`monitor`].
pub async fn check(store: &dyn EventStore, health: &StoreHealth, space: &Arc<dyn FreeSpace>) {
    let measure = {
        let space = Arc::clone(space);
        tokio::task::spawn_blocking(move || space.free_bytes())
    };
    match tokio::time::timeout(MEASURE_TIMEOUT, measure).await {
        Ok(Ok(Ok(free))) => health.set_free_space(free),
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "cannot measure the data directory's free space")
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "measuring the free space failed"),
        Err(_) => tracing::warn!(
            timeout_s = MEASURE_TIMEOUT.as_secs(),
            "measuring the data directory's free space did not finish in time"
        ),
    }
    if health.failure().is_some() && !health.stuck() {
        // Heals the health on success (the guarded store reports it); a failure is counted.
        if let Err(e) = store.probe_write().await {
            tracing::debug!(error = %e, "the store still refuses writes");
        }
    }
}

/// What the watchdog calls, once, when the store is past saving: the process's
/// [`exit_process`] in `serve`, something observable in tests.
pub type OnFatal = Arc<dyn Fn(String) + Send + Sync>;

/// Logs `message` and exits with [`EXIT_STORE_FAILED`]. Nothing acknowledged is lost: every store
/// write is flushed to disk before it is acknowledged.
pub fn exit_process(message: String) {
    tracing::error!(
        status = EXIT_STORE_FAILED,
        "{message}; exiting for a supervisor to restart the process (nothing committed is lost)"
    );
    eprintln!(
        "tributary: {message}; exiting with status {EXIT_STORE_FAILED} (nothing committed is lost)"
    );
    std::process::exit(EXIT_STORE_FAILED);
}

/// Watches the store from a thread of its own: when a write has been in flight for
/// `exit_after`, or writes have failed for `exit_after` without one succeeding, calls `on_fatal`
/// once and stops. Stops when dropped.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(
        health: Arc<StoreHealth>,
        exit_after: Duration,
        on_fatal: OnFatal,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let every = (exit_after / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let thread = std::thread::Builder::new()
            .name("store-watchdog".into())
            .spawn(move || {
                while !stopped.load(Ordering::Acquire) {
                    if let Some(message) = verdict(&health, exit_after) {
                        on_fatal(message);
                        return;
                    }
                    std::thread::park_timeout(every);
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Why the store is past saving, if it is.
fn verdict(health: &StoreHealth, exit_after: Duration) -> Option<String> {
    if let Some(age) = health.oldest_write()
        && age >= exit_after
    {
        return Some(format!(
            "a store write has been stuck for {}s ([storage] exit_after = {}s)",
            age.as_secs(),
            exit_after.as_secs()
        ));
    }
    let failure = health.failure()?;
    let failing_for = failure.since.elapsed();
    (failing_for >= exit_after).then(|| {
        format!(
            "store writes have failed for {}s ([storage] exit_after = {}s): {}",
            failing_for.as_secs(),
            exit_after.as_secs(),
            failure.reason
        )
    })
}
