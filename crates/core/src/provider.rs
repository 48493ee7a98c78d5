//! The trait every upstream connector implements, and what one poll returns.

use crate::{Checkpoint, Event, ObjectChange, Watermark};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one poll found: events in upstream order, the checkpoint that follows them, and the
/// source's watermark. The engine commits `events` and `checkpoint` together, atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// New events, in the upstream's order (which the merge never changes within a source).
    pub events: Vec<Event>,
    /// Where the next poll resumes. Committed only with `events`.
    pub checkpoint: Checkpoint,
    /// `None` while the source cannot promise anything yet (not caught up); the previous
    /// watermark then stays in force.
    pub watermark: Option<Watermark>,
    /// True while the upstream has more to give right now: poll again at once.
    pub more: bool,
    /// Positions the upstream lost before we read them (an expired cursor); recorded, never silent.
    pub gaps: Vec<Gap>,
    /// Changes to the source's object memory (see [`crate::ObjectStateRead`]), committed with the page.
    pub objects: Vec<ObjectChange>,
    /// The events' positions in their source, parallel to `events` and strictly increasing, for a
    /// provider whose upstream ids are ordered (Egnyte's event ids). The store then recognises an
    /// event it already has by its position (at or below the highest it committed) instead of
    /// keeping an index entry per event id, which makes ingest much cheaper. A source gives
    /// positions on every page or on none.
    pub positions: Option<Vec<u64>>,
    /// Requests sent upstream since the last committed page (this poll's, and those of polls
    /// that failed since), and the UTC day they count toward, so the store keeps the source's
    /// calls per day durably. Set by the engine from [`Provider::upstream_calls`] and its clock;
    /// providers leave it `None`.
    pub upstream_calls: Option<DailyCalls>,
}

/// Upstream requests counted toward one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCalls {
    pub day: NaiveDate,
    pub calls: u64,
}

impl DailyCalls {
    /// `self` with `more` added: `more` alone when it is of a later day, else summed on `self`'s
    /// day (calls dated before it, by a clock set back, count toward it: a count never goes back
    /// a day).
    pub fn then(self, more: DailyCalls) -> DailyCalls {
        if more.day > self.day {
            more
        } else {
            DailyCalls {
                day: self.day,
                calls: self.calls + more.calls,
            }
        }
    }
}

impl Page {
    /// A page with no gaps.
    pub fn new(
        events: Vec<Event>,
        checkpoint: Checkpoint,
        watermark: Option<Watermark>,
        more: bool,
    ) -> Self {
        Self {
            events,
            checkpoint,
            watermark,
            more,
            gaps: Vec::new(),
            objects: Vec::new(),
            positions: None,
            upstream_calls: None,
        }
    }
}

/// Events the upstream no longer had when we asked for them (Egnyte answers 404 for an event id
/// that was garbage-collected; we restart from the oldest it keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    #[serde(with = "crate::time::millis")]
    pub detected_at: DateTime<Utc>,
    /// The last upstream position we had read.
    pub after: String,
    /// The first upstream position we could read again.
    pub resumed_at: String,
    /// Why, in words: `event id 1234 expired upstream`.
    pub reason: String,
}

/// Why a poll failed, told apart so the scheduler can react: wait, re-authenticate, retry, stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The upstream throttled us; wait at least `retry_after` when it says.
    #[error("rate limited by upstream{}: {message}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Credentials were refused or expired beyond refresh: an operator must act.
    #[error("upstream refused the credentials: {message}")]
    Auth { message: String },
    /// A failure that may pass: a timeout, a 5xx, a malformed answer. Retried with backoff.
    #[error("transient upstream failure: {message}")]
    Transient { message: String },
    /// A failure that will not pass by retrying (bad configuration, a checkpoint from another
    /// source). The source stops until it is fixed.
    #[error("fatal source error: {message}")]
    Fatal { message: String },
}

impl ProviderError {
    /// Whether the scheduler should try again by itself.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. } | ProviderError::Transient { .. }
        )
    }
}

/// An upstream connector: a pure poller. It reads from the upstream and returns what it found;
/// the engine owns persistence, ordering and shutdown, and hands back the last committed
/// checkpoint (`None` on a source's first poll). A provider that must remember objects is given
/// an [`ObjectStateRead`](crate::ObjectStateRead) for its source when it is built, and changes it
/// through [`Page::objects`]. The engine never runs two polls of one source at once.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name, as in [`Event::provider`]: `egnyte`, `jive`, ...
    fn name(&self) -> &str;

    /// Requests this provider has sent upstream since it was built, when it counts them (for the
    /// source's status and `/metrics`).
    fn upstream_calls(&self) -> Option<u64> {
        None
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: "ERR_403_DEVELOPER_OVER_QPS".into(),
        };
        assert_eq!(
            e.to_string(),
            "rate limited by upstream (retry after 3s): ERR_403_DEVELOPER_OVER_QPS"
        );
        assert!(e.is_retryable());
        assert!(
            ProviderError::Transient {
                message: "502".into()
            }
            .is_retryable()
        );
        assert!(
            !ProviderError::Auth {
                message: "401".into()
            }
            .is_retryable()
        );
        assert!(
            !ProviderError::Fatal {
                message: "bad folder".into()
            }
            .is_retryable()
        );
    }
}
