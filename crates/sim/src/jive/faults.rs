//! Injected faults on the `/api/core/v3/` endpoints, and Jive's app throttling.

use super::config::AppThrottle;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// One injected fault, applied to the next `next` authenticated `/api/core/v3/` calls
/// (`POST /_sim/jive/faults` takes it as JSON: `{"kind": "status", "status": 503, "next": 2}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JiveFault {
    /// Answer with `status` (500, 502, 503, 429, …) and Jive's JSON error envelope, without
    /// handling the call; with `Retry-After: retry_after` when given.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        #[serde(default = "one")]
        next: u32,
    },
    /// Wait `ms` (wall time) before handling the call.
    Delay {
        ms: u64,
        #[serde(default = "one")]
        next: u32,
    },
    /// A 200 whose JSON is cut in half (after the prefix).
    MalformedJson {
        #[serde(default = "one")]
        next: u32,
    },
    /// `404` with an HTML body (`text/html`), as a proxy or a missing servlet answers.
    Html404 {
        #[serde(default = "one")]
        next: u32,
    },
}

fn one() -> u32 {
    1
}

impl JiveFault {
    /// `status` on the next `next` calls, with an optional `Retry-After` in seconds.
    pub fn status(status: u16, retry_after: Option<u64>, next: u32) -> Self {
        Self::Status {
            status,
            retry_after,
            next,
        }
    }

    fn remaining(&mut self) -> &mut u32 {
        match self {
            Self::Status { next, .. }
            | Self::Delay { next, .. }
            | Self::MalformedJson { next }
            | Self::Html404 { next } => next,
        }
    }
}

/// What to do to one call, decided when it arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallFaults {
    pub delay_ms: u64,
    /// `(status, retry_after)`.
    pub status: Option<(u16, Option<u64>)>,
    pub html_404: bool,
    pub malformed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Vec<JiveFault>,
}

impl Faults {
    pub fn inject(&mut self, fault: JiveFault) {
        self.active.push(fault);
    }

    pub fn clear(&mut self) {
        self.active.clear();
    }

    pub fn active(&self) -> &[JiveFault] {
        &self.active
    }

    /// Takes one use of each kind of active fault (the oldest of each kind).
    pub fn on_call(&mut self) -> CallFaults {
        let mut out = CallFaults::default();
        for fault in &mut self.active {
            let used = match *fault {
                JiveFault::Status {
                    status,
                    retry_after,
                    ..
                } if out.status.is_none() && !out.html_404 => {
                    out.status = Some((status, retry_after));
                    true
                }
                JiveFault::Delay { ms, .. } if out.delay_ms == 0 => {
                    out.delay_ms = ms;
                    true
                }
                JiveFault::MalformedJson { .. } if !out.malformed => {
                    out.malformed = true;
                    true
                }
                JiveFault::Html404 { .. } if out.status.is_none() && !out.html_404 => {
                    out.html_404 = true;
                    true
                }
                _ => false,
            };
            if used {
                let n = fault.remaining();
                *n = n.saturating_sub(1);
            }
        }
        self.active.retain_mut(|f| *f.remaining() > 0);
        out
    }
}

/// The length of the app-throttling window.
const WINDOW: chrono::Duration = chrono::Duration::seconds(10);

/// App throttling: every call (refused ones too) is counted per credential over the last 10 s.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    pub mode: Option<AppThrottle>,
    calls: HashMap<String, (VecDeque<DateTime<Utc>>, bool)>,
}

impl Throttle {
    pub fn new(mode: Option<AppThrottle>) -> Self {
        Self {
            mode,
            calls: HashMap::new(),
        }
    }

    /// Counts a call; `true` when it must be refused with `503`.
    pub fn refuse(&mut self, credential: &str, now: DateTime<Utc>) -> bool {
        let Some(AppThrottle { lower, upper }) = self.mode else {
            return false;
        };
        let (calls, throttled) = self.calls.entry(credential.to_owned()).or_default();
        while calls.front().is_some_and(|t| *t <= now - WINDOW) {
            calls.pop_front();
        }
        let before = calls.len();
        if *throttled && before < lower as usize {
            *throttled = false;
        }
        calls.push_back(now);
        if calls.len() > upper as usize {
            *throttled = true;
        }
        *throttled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn faults_are_spent_one_per_call() {
        let mut f = Faults::default();
        f.inject(JiveFault::status(503, Some(2), 2));
        f.inject(JiveFault::MalformedJson { next: 1 });
        let first = f.on_call();
        assert_eq!(
            (first.status, first.malformed),
            (Some((503, Some(2))), true)
        );
        assert_eq!(f.on_call().status, Some((503, Some(2))));
        assert_eq!(f.on_call(), CallFaults::default());
        assert!(f.active().is_empty());
    }

    #[test]
    fn throttling_holds_until_the_count_drops_below_lower() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut t = Throttle::new(Some(AppThrottle { lower: 2, upper: 4 }));
        let refused: Vec<bool> = (0..6).map(|_| t.refuse("a", t0)).collect();
        assert_eq!(refused, [false, false, false, false, true, true]);
        assert!(!t.refuse("b", t0), "counted per credential");
        let later = t0 + chrono::Duration::seconds(11);
        assert!(!t.refuse("a", later));
    }
}
