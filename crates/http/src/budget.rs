//! What one poll may spend upstream: requests and time. A provider's client asks its budget
//! before every request (lists, cursor reads, token refreshes alike), so no answer an upstream
//! gives, however hostile, can make one poll loop: past a bound the poll ends with an error that
//! names it, and the engine backs off.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_core::Clock;

/// The default time one poll may take: 120 s.
pub const DEFAULT_MAX_POLL_TIME: Duration = Duration::from_secs(120);

/// The bounds of one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimits {
    /// Requests one poll may send (`max_requests_per_poll`).
    pub max_requests: u32,
    /// Time one poll may take, from its start (`max_poll_time_ms`).
    pub max_time: Duration,
}

/// A poll bound was reached; the poll ends here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollBoundExceeded {
    #[error(
        "the poll reached its limit of {limit} upstream requests (max_requests_per_poll) and ends here"
    )]
    Requests { limit: u32 },
    #[error(
        "the poll reached its time limit of {} ms (max_poll_time_ms) and ends here",
        limit.as_millis()
    )]
    Time { limit: Duration },
}

/// One source's poll budget: its limits, the clock it measures time with (the provider's, so
/// tests control it), and what the current poll spent. The engine never runs two polls of one
/// source at once, so one budget per source client is enough.
#[derive(Debug)]
pub struct PollBudget {
    limits: PollLimits,
    clock: Arc<dyn Clock>,
    spent: Mutex<Spent>,
}

#[derive(Debug, Clone, Copy)]
struct Spent {
    started: DateTime<Utc>,
    requests: u32,
}

impl PollBudget {
    pub fn new(limits: PollLimits, clock: Arc<dyn Clock>) -> Self {
        let started = clock.now();
        Self {
            limits,
            clock,
            spent: Mutex::new(Spent {
                started,
                requests: 0,
            }),
        }
    }

    pub fn limits(&self) -> PollLimits {
        self.limits
    }

    /// A poll begins: no request sent yet, its time counted from now.
    pub fn start(&self) {
        *self.lock() = Spent {
            started: self.clock.now(),
            requests: 0,
        };
    }

    /// Requests the current poll has sent (or was refused).
    pub fn requests(&self) -> u32 {
        self.lock().requests
    }

    /// The time on the budget's clock (the provider's): what an HTTP-date `Retry-After` is read
    /// against.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The time the current poll has left; an error once there is none.
    pub fn time_left(&self) -> Result<Duration, PollBoundExceeded> {
        let started = self.lock().started;
        self.left_since(started)
    }

    /// Counts one more request before it is sent: refused when the poll has sent
    /// `max_requests` already or has no time left; otherwise the time left, which caps the
    /// request's own timeout (and any wait before it), so the poll ends on time.
    pub fn spend(&self) -> Result<Duration, PollBoundExceeded> {
        let mut spent = self.lock();
        if spent.requests >= self.limits.max_requests {
            return Err(PollBoundExceeded::Requests {
                limit: self.limits.max_requests,
            });
        }
        let left = self.left_since(spent.started)?;
        spent.requests += 1;
        Ok(left)
    }

    fn left_since(&self, started: DateTime<Utc>) -> Result<Duration, PollBoundExceeded> {
        let elapsed = (self.clock.now() - started).to_std().unwrap_or_default();
        match self.limits.max_time.checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(PollBoundExceeded::Time {
                limit: self.limits.max_time,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.spent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tributary_core::ManualClock;

    fn budget(max_requests: u32, secs: u64) -> (Arc<ManualClock>, PollBudget) {
        let clock = Arc::new(ManualClock::new(
            tributary_core::time::parse("2026-01-05T09:00:00.000Z").unwrap(),
        ));
        let limits = PollLimits {
            max_requests,
            max_time: Duration::from_secs(secs),
        };
        (clock.clone(), PollBudget::new(limits, clock))
    }

    #[test]
    fn refuses_the_request_past_the_limit_until_the_next_poll() {
        let (_, b) = budget(3, 120);
        for _ in 0..3 {
            assert_eq!(b.spend().unwrap(), Duration::from_secs(120));
        }
        let e = b.spend().unwrap_err();
        assert_eq!(e, PollBoundExceeded::Requests { limit: 3 });
        assert_eq!(
            e.to_string(),
            "the poll reached its limit of 3 upstream requests (max_requests_per_poll) and ends here"
        );
        assert_eq!(b.requests(), 3);
        b.start();
        assert!(b.spend().is_ok());
    }

    #[test]
    fn time_is_counted_from_the_poll_start_on_the_given_clock() {
        let (clock, b) = budget(100, 120);
        clock.advance(Duration::from_secs(500)); // before the poll: not counted
        b.start();
        clock.advance(Duration::from_secs(50));
        assert_eq!(b.spend().unwrap(), Duration::from_secs(70));
        clock.advance(Duration::from_secs(70));
        let e = b.spend().unwrap_err();
        assert_eq!(
            e,
            PollBoundExceeded::Time {
                limit: Duration::from_secs(120)
            }
        );
        assert_eq!(
            e.to_string(),
            "the poll reached its time limit of 120000 ms (max_poll_time_ms) and ends here"
        );
        assert_eq!(b.requests(), 1);
        assert!(b.time_left().is_err());
    }
}
