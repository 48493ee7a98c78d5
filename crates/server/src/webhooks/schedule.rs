//! When a failed delivery is tried again: the retry schedule (Svix's by default), its jitter, and
//! a receiver's `Retry-After`.

use std::time::Duration;

/// What the dispatcher runs with (`[webhooks]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct DispatcherConfig {
    /// The n-th failure of a batch waits the n-th delay; past the end, the last one.
    pub retry_schedule: Vec<Duration>,
    /// Each delay moves by up to ± this fraction of itself (0 to 1).
    pub jitter: f64,
    /// How long one request may take, answer included.
    pub request_timeout: Duration,
    /// A subscription failing this long without a success is disabled.
    pub disable_after: Duration,
    /// Requests in flight at once, all subscriptions together.
    pub max_concurrent: usize,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

impl Default for DispatcherConfig {
    /// Svix's schedule (5s, 5m, 30m, 2h, 5h, 10h, 10h), ±20% jitter, 15s per request, disabled
    /// after 5 days of failures, 64 requests at once.
    fn default() -> Self {
        Self {
            retry_schedule: [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
            jitter: 0.2,
            request_timeout: Duration::from_secs(15),
            disable_after: Duration::from_secs(5 * 24 * HOUR),
            max_concurrent: 64,
        }
    }
}

impl DispatcherConfig {
    /// The schedule's delay after the `failures`-th failure of a batch (1 for the first), before
    /// jitter: the last step once the schedule is exhausted.
    pub fn step(&self, failures: u32) -> Duration {
        let i = (failures.max(1) - 1) as usize;
        self.retry_schedule
            .get(i)
            .or(self.retry_schedule.last())
            .copied()
            .unwrap_or(Duration::from_secs(5))
    }

    /// How long to wait after the `failures`-th failure: the receiver's `Retry-After` when it
    /// gave one, clamped to `[step, 2 × step]` (it may slow us down, not make us hammer it, nor
    /// park a subscription indefinitely); otherwise the step moved by the jitter, `unit` being a
    /// random number in `[0, 1)`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let step = self.step(failures);
        match retry_after {
            Some(asked) => asked.clamp(step, step.saturating_mul(2)),
            None => {
                let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
                step.mul_f64(factor.max(0.0))
            }
        }
    }
}

/// A random number in `[0, 1)` from the OS (0.5, no jitter, if it fails).
pub fn random_unit() -> f64 {
    match getrandom::u64() {
        Ok(n) => (n >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_svix_schedule_and_stays_on_its_last_step() {
        let c = DispatcherConfig::default();
        let secs: Vec<u64> = (1..=9).map(|n| c.step(n).as_secs()).collect();
        assert_eq!(
            secs,
            vec![5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000]
        );
    }

    #[test]
    fn jitter_moves_a_step_by_at_most_its_fraction() {
        let c = DispatcherConfig::default();
        assert_eq!(c.delay(2, None, 0.0), Duration::from_secs(240));
        assert_eq!(c.delay(2, None, 0.5), Duration::from_secs(300));
        assert!(c.delay(2, None, 0.999_999) <= Duration::from_secs(360));
        let exact = DispatcherConfig {
            jitter: 0.0,
            ..DispatcherConfig::default()
        };
        assert_eq!(exact.delay(1, None, 0.9), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_honoured_within_one_and_two_steps() {
        let c = DispatcherConfig::default();
        let d = |s| Some(Duration::from_secs(s));
        assert_eq!(c.delay(2, d(1), 0.5), Duration::from_secs(300));
        assert_eq!(c.delay(2, d(450), 0.5), Duration::from_secs(450));
        assert_eq!(c.delay(2, d(86_400), 0.5), Duration::from_secs(600));
    }
}
