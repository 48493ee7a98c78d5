//! The adaptive polling interval: back off while idle, reset on activity, drain at once while the
//! upstream has more, never sooner than a throttling upstream asked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A policy that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollPolicyError {
    #[error("poll policy: min_interval_ms must be at least 1")]
    ZeroMin,
    #[error("poll policy: max_interval_ms ({max}) must be at least min_interval_ms ({min})")]
    MaxBelowMin { min: u64, max: u64 },
    #[error("poll policy: multiplier must be a number >= 1.0, got {0}")]
    Multiplier(f64),
    #[error("poll policy: jitter must be a fraction in [0, 1), got {0}")]
    Jitter(f64),
}

/// How often a source is polled. Configured per source; durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollPolicy {
    /// The interval after a poll that found events, and the first step of the back-off.
    pub min_interval_ms: u64,
    /// The longest wait between two polls of an idle or failing source.
    pub max_interval_ms: u64,
    /// How much the wait grows after each empty or failed poll.
    pub multiplier: f64,
    /// Each wait is spread uniformly over `wait × (1 ± jitter)`, so sources started together drift apart.
    pub jitter: f64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            min_interval_ms: 5_000,
            max_interval_ms: 300_000,
            multiplier: 2.0,
            jitter: 0.1,
        }
    }
}

impl PollPolicy {
    pub fn validate(&self) -> Result<(), PollPolicyError> {
        if self.min_interval_ms == 0 {
            return Err(PollPolicyError::ZeroMin);
        }
        if self.max_interval_ms < self.min_interval_ms {
            return Err(PollPolicyError::MaxBelowMin {
                min: self.min_interval_ms,
                max: self.max_interval_ms,
            });
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return Err(PollPolicyError::Multiplier(self.multiplier));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(PollPolicyError::Jitter(self.jitter));
        }
        Ok(())
    }

    fn min(&self) -> Duration {
        Duration::from_millis(self.min_interval_ms)
    }

    fn max(&self) -> Duration {
        Duration::from_millis(self.max_interval_ms)
    }
}

/// A poll policy as a user writes it: any of its fields, the others taken from a base (the
/// source's current policy, or its provider's defaults) by [`PollPolicyPatch::over`]. Unknown
/// fields are refused by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollPolicyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
}

impl PollPolicyPatch {
    /// The fields given here, the others from `base`. Not validated: call
    /// [`PollPolicy::validate`] on the result.
    pub fn over(&self, base: &PollPolicy) -> PollPolicy {
        PollPolicy {
            min_interval_ms: self.min_interval_ms.unwrap_or(base.min_interval_ms),
            max_interval_ms: self.max_interval_ms.unwrap_or(base.max_interval_ms),
            multiplier: self.multiplier.unwrap_or(base.multiplier),
            jitter: self.jitter.unwrap_or(base.jitter),
        }
    }
}

impl PollPolicy {
    /// Reads a policy of which any field may be missing, filling the missing ones from
    /// `defaults`: for a provider config's `poll` field
    /// (`#[serde(deserialize_with = …)]` around its own defaults).
    pub fn deserialize_over<'de, D>(
        deserializer: D,
        defaults: &PollPolicy,
    ) -> Result<Self, D::Error>
    where
        D: serde::Deserializer<'de>,
    {
        PollPolicyPatch::deserialize(deserializer).map(|patch| patch.over(defaults))
    }
}

/// How a poll went, as far as scheduling cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// The poll returned events; `more` when the upstream has further pages right now.
    Events { more: bool },
    /// Nothing new.
    Empty,
    /// The upstream throttled us, asking us to wait `retry_after` when it said.
    Throttled { retry_after: Option<Duration> },
    /// The poll failed in a way worth retrying.
    Failed,
}

/// One source's schedule: the policy plus where it stands in its back-off. Pure: it is told the
/// outcome and the current time, and answers when to poll next.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    policy: PollPolicy,
    /// The wait to use after the next empty or failed poll (before jitter).
    backoff: Duration,
    rng: fastrand::Rng,
}

impl PollSchedule {
    /// A schedule at the start of its back-off. `seed` makes the jitter reproducible.
    pub fn new(policy: PollPolicy, seed: u64) -> Result<Self, PollPolicyError> {
        policy.validate()?;
        Ok(Self {
            backoff: policy.min(),
            policy,
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    pub fn policy(&self) -> &PollPolicy {
        &self.policy
    }

    /// The wait that an empty poll would cause now, before jitter.
    pub fn current_interval(&self) -> Duration {
        self.backoff
    }

    /// Records a poll's outcome and returns how long to wait before the next poll.
    pub fn next_delay(&mut self, outcome: PollOutcome) -> Duration {
        match outcome {
            PollOutcome::Events { more: true } => {
                self.backoff = self.policy.min();
                Duration::ZERO
            }
            PollOutcome::Events { more: false } => {
                self.backoff = self.policy.min();
                self.jittered(self.policy.min())
            }
            PollOutcome::Empty | PollOutcome::Failed => {
                let wait = self.jittered(self.backoff);
                self.grow();
                wait
            }
            PollOutcome::Throttled { retry_after } => {
                let wait = self.jittered(self.backoff);
                self.grow();
                wait.max(retry_after.unwrap_or_default())
            }
        }
    }

    /// Records a poll's outcome and returns when to poll next, by the caller's clock.
    pub fn next_poll_at(&mut self, now: DateTime<Utc>, outcome: PollOutcome) -> DateTime<Utc> {
        let delay = self.next_delay(outcome);
        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    fn grow(&mut self) {
        let next = self.backoff.mul_f64(self.policy.multiplier);
        self.backoff = next.min(self.policy.max());
    }

    fn jittered(&mut self, d: Duration) -> Duration {
        if self.policy.jitter == 0.0 {
            return d;
        }
        let factor = 1.0 + self.policy.jitter * (2.0 * self.rng.f64() - 1.0);
        d.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};
    use chrono::TimeZone;

    fn policy(jitter: f64) -> PollPolicy {
        PollPolicy {
            min_interval_ms: 1_000,
            max_interval_ms: 8_000,
            multiplier: 2.0,
            jitter,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backs_off_while_idle_up_to_max_and_resets_on_activity() {
        let mut s = PollSchedule::new(policy(0.0), 1).unwrap();
        let waits: Vec<_> = (0..6).map(|_| s.next_delay(PollOutcome::Empty)).collect();
        assert_eq!(
            waits,
            [secs(1), secs(2), secs(4), secs(8), secs(8), secs(8)]
        );
        assert_eq!(s.next_delay(PollOutcome::Events { more: false }), secs(1));
        assert_eq!(s.next_delay(PollOutcome::Empty), secs(1));
        assert_eq!(s.next_delay(PollOutcome::Empty), secs(2));
    }

    #[test]
    fn drains_immediately_while_more_pages_remain() {
        let mut s = PollSchedule::new(policy(0.5), 1).unwrap();
        s.next_delay(PollOutcome::Empty);
        s.next_delay(PollOutcome::Empty);
        assert_eq!(
            s.next_delay(PollOutcome::Events { more: true }),
            Duration::ZERO
        );
        assert_eq!(s.current_interval(), secs(1));
    }

    #[test]
    fn waits_at_least_retry_after_when_throttled() {
        let mut s = PollSchedule::new(policy(0.0), 1).unwrap();
        assert_eq!(
            s.next_delay(PollOutcome::Throttled {
                retry_after: Some(secs(30))
            }),
            secs(30)
        );
        // Without a Retry-After the back-off applies and keeps growing.
        assert_eq!(
            s.next_delay(PollOutcome::Throttled { retry_after: None }),
            secs(2)
        );
        assert_eq!(
            s.next_delay(PollOutcome::Throttled {
                retry_after: Some(Duration::from_millis(10))
            }),
            secs(4)
        );
    }

    #[test]
    fn failures_back_off_like_idle_polls() {
        let mut s = PollSchedule::new(policy(0.0), 1).unwrap();
        let waits: Vec<_> = (0..5).map(|_| s.next_delay(PollOutcome::Failed)).collect();
        assert_eq!(waits, [secs(1), secs(2), secs(4), secs(8), secs(8)]);
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_reproducible() {
        let mut a = PollSchedule::new(policy(0.25), 42).unwrap();
        let mut b = PollSchedule::new(policy(0.25), 42).unwrap();
        for _ in 0..1_000 {
            let wait = a.next_delay(PollOutcome::Events { more: false });
            assert!(
                wait >= Duration::from_millis(750) && wait <= Duration::from_millis(1250),
                "{wait:?}"
            );
            assert_eq!(wait, b.next_delay(PollOutcome::Events { more: false }));
        }
    }

    #[test]
    fn schedules_by_the_callers_clock() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap());
        let mut s = PollSchedule::new(policy(0.0), 7).unwrap();
        let mut next = s.next_poll_at(clock.now(), PollOutcome::Empty);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 1).unwrap());
        clock.set(next);
        next = s.next_poll_at(clock.now(), PollOutcome::Empty);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 3).unwrap());
        clock.advance(secs(10));
        next = s.next_poll_at(clock.now(), PollOutcome::Events { more: true });
        assert_eq!(next, clock.now());
    }

    #[test]
    fn a_patch_fills_missing_fields_from_its_base() {
        let base = policy(0.25);
        let patch: PollPolicyPatch = serde_json::from_str(r#"{"min_interval_ms": 2000}"#).unwrap();
        assert_eq!(
            patch.over(&base),
            PollPolicy {
                min_interval_ms: 2_000,
                max_interval_ms: 8_000,
                multiplier: 2.0,
                jitter: 0.25,
            }
        );
        assert_eq!(PollPolicyPatch::default().over(&base), base);
        let all: PollPolicyPatch = serde_json::from_str(
            r#"{"min_interval_ms": 1, "max_interval_ms": 2, "multiplier": 1.5, "jitter": 0.0}"#,
        )
        .unwrap();
        assert_eq!(
            all.over(&base),
            PollPolicy {
                min_interval_ms: 1,
                max_interval_ms: 2,
                multiplier: 1.5,
                jitter: 0.0,
            }
        );
    }

    #[test]
    fn a_patch_refuses_unknown_fields_by_name() {
        let err = serde_json::from_str::<PollPolicyPatch>(r#"{"min_interval": 2000}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown field `min_interval`"),
            "{err}"
        );
    }

    #[test]
    fn deserializes_over_defaults() {
        #[derive(Deserialize)]
        struct Config {
            #[serde(deserialize_with = "over_test_defaults")]
            poll: PollPolicy,
        }
        fn over_test_defaults<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<PollPolicy, D::Error> {
            PollPolicy::deserialize_over(d, &policy(0.0))
        }
        let c: Config = serde_json::from_str(r#"{"poll": {"jitter": 0.5}}"#).unwrap();
        assert_eq!(c.poll, policy(0.5));
    }

    #[test]
    fn refuses_policies_that_cannot_work() {
        let bad = |f: fn(&mut PollPolicy)| {
            let mut p = policy(0.0);
            f(&mut p);
            PollSchedule::new(p, 0).unwrap_err()
        };
        assert_eq!(bad(|p| p.min_interval_ms = 0), PollPolicyError::ZeroMin);
        assert_eq!(
            bad(|p| p.max_interval_ms = 10),
            PollPolicyError::MaxBelowMin { min: 1000, max: 10 }
        );
        assert_eq!(
            bad(|p| p.multiplier = 0.5),
            PollPolicyError::Multiplier(0.5)
        );
        assert!(matches!(
            bad(|p| p.multiplier = f64::NAN),
            PollPolicyError::Multiplier(_)
        ));
        assert_eq!(bad(|p| p.jitter = 1.0), PollPolicyError::Jitter(1.0));
    }
}
