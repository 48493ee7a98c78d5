//! What serving looks like for every simulator: axum with graceful shutdown on any listener
//! (plain TCP, or [`TlsListener`](crate::tls::TlsListener) for HTTPS), and a ticker that applies
//! the live workload at a steady rate while it serves.

use axum::Router;
use std::future::Future;
use std::time::Duration;

/// How often the live workload applies its share.
const RATE_TICK: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes; while serving, calls `generate(n)`
/// so that `rate` operations per second are applied (none for a rate of 0).
pub(crate) async fn serve<L>(
    listener: L,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    rate: f64,
    generate: impl Fn(usize) + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let workload = spawn_workload(rate, generate);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = workload {
        task.abort();
    }
    result
}

/// Calls `generate(n)` so that `rate` operations per second are applied on average, in steps of
/// [`RATE_TICK`]; `None` (nothing spawned) for a rate of 0. Abort the task to stop it.
fn spawn_workload(
    rate: f64,
    generate: impl Fn(usize) + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    (rate > 0.0).then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RATE_TICK);
            let mut due = 0.0_f64;
            loop {
                tick.tick().await;
                due += rate * RATE_TICK.as_secs_f64();
                let n = due.floor();
                if n >= 1.0 {
                    due -= n;
                    // `n` is a small positive whole number here.
                    generate(n as usize);
                }
            }
        })
    })
}
