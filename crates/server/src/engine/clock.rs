//! A wall clock that follows tokio's clock, so tests with paused time see coherent times.

use chrono::{DateTime, Utc};
use tributary_core::Clock;

/// `start` plus the tokio time elapsed since this clock was made. Under `tokio::time::pause`
/// it moves only when the runtime's time does.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            start: tributary_core::time::truncate(start),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed =
            chrono::Duration::from_std(self.origin.elapsed()).unwrap_or(chrono::Duration::MAX);
        tributary_core::time::truncate(self.start + elapsed)
    }
}
