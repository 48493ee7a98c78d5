//! The trait every upstream connector implements, and what one poll returns.

use crate::{Checkpoint, Event, ObjectChange, Watermark};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one poll found: events in upstream order, the checkpoint that follows them, the source's
/// watermark, and what else the engine commits with them. See [`Provider`] for the contract as a
/// whole; each field below says what the engine does with it.
///
/// **A page commits whole or not at all.** The store writes its new events, `checkpoint`,
/// `watermark`, `gaps`, `objects` and `upstream_calls` in one transaction (`EventStore::ingest`),
/// flushed before the engine goes on. A page the store refuses (an event naming another source,
/// a time RFC 3339 cannot express, positions that do not pair with the events or do not strictly
/// increase) is refused whole, and the source stops: polling again would give the same page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// New events, in the upstream's order (which the merge never changes within a source).
    /// Every event names this source ([`Event::source`]) and this provider
    /// ([`Event::provider`]). An event whose id the source already stored is absorbed (not
    /// stored again, counted as a duplicate): repeating events is safe, but an event that reuses
    /// the id of a *different* stored event is lost.
    pub events: Vec<Event>,
    /// Where the next poll resumes. Committed only with `events`: the engine hands it back to
    /// the next [`Provider::poll`] only after this page is durable, and hands the previous one
    /// back again when this page is not (a crash, a failed commit).
    pub checkpoint: Checkpoint,
    /// The promise that every event this source reports from now on has
    /// [`Event::occurred_at`] at or after this time. The tenant's merge moves pending events dated
    /// before the smallest watermark of its sources into the log; an event reported later with a
    /// time below an earlier watermark is appended out of order, marked `late`. The store keeps
    /// the largest watermark committed (a smaller one is ignored, so the promise never moves
    /// back); `None` keeps the previous one in force, for a source that cannot promise anything
    /// yet (still draining a backlog). A source without a watermark holds its tenant's merge back
    /// for at most `merge_max_delay`.
    pub watermark: Option<Watermark>,
    /// True while the upstream has more to give right now: the engine polls again at once
    /// (a provider built by the registry has its next page fetched from this page's checkpoint
    /// while this one commits), instead of waiting out the poll interval. `false` says the source
    /// is caught up for now; the schedule then waits its interval (longer after empty polls).
    pub more: bool,
    /// Positions the upstream lost before we read them (an expired cursor, a reset upstream
    /// store); committed with the page and listed in the source's status, never silent. A gap is
    /// a record, not a request: nothing is re-read because of it.
    pub gaps: Vec<Gap>,
    /// Changes to the source's object memory (see [`crate::ObjectStateRead`]), committed with the
    /// page, applied in order: the memory the provider reads never runs ahead of or behind the
    /// committed events.
    pub objects: Vec<ObjectChange>,
    /// The events' positions in their source, parallel to `events` and strictly increasing, for a
    /// provider whose upstream ids are ordered (Egnyte's event ids). The store then recognises an
    /// event it already has by its position (at or below the highest it committed) instead of
    /// keeping an index entry per event id, which makes ingest much cheaper. Positions strictly
    /// increase within a page and across pages: a *new* event at or below the highest committed
    /// position is taken for one already stored and silently dropped. A source gives positions on
    /// every page or on none.
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

/// Why a poll failed, told apart so the scheduler can react: wait, retry, or stop. A failed poll
/// commits nothing: the next poll gets the same checkpoint again (and the same object memory), so
/// whatever the failed poll read is read again; nothing is lost by failing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The upstream throttled us. The schedule waits at least `retry_after` (when the upstream
    /// said; else its growing back-off) before the next poll. A provider returns this rather
    /// than sleeping through a long `Retry-After` itself, so the source's status shows it and
    /// shutdown is not held up.
    #[error("rate limited by upstream{}: {message}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    /// Credentials were refused or expired beyond refresh: an operator must act. The source
    /// stops until it is resumed.
    #[error("upstream refused the credentials: {message}")]
    Auth { message: String },
    /// A failure that may pass: a timeout, a 5xx, a malformed answer, a poll budget spent.
    /// Retried with the schedule's growing back-off.
    #[error("transient upstream failure: {message}")]
    Transient { message: String },
    /// A failure that will not pass by retrying (bad configuration, a checkpoint from another
    /// source). The source stops until it is fixed and resumed.
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
/// the engine owns persistence, ordering and shutdown. This is the contract between the two;
/// `tributary_provider_kit::conformance` checks a provider against it over its simulator.
///
/// # What the engine does
///
/// For each source the engine (`crates/server/src/engine/runner.rs`) reads the committed
/// checkpoint, calls [`poll`](Provider::poll) with it (`None` on the source's first poll), and
/// hands the [`Page`] to the store, which commits it atomically: new events, checkpoint,
/// watermark, gaps and object changes together, or nothing. Then:
///
/// - `more`: it polls again at once (a provider built by the registry has its next page fetched
///   from the page's checkpoint while the page commits, reading its object memory through
///   [`InFlightObjects`](crate::InFlightObjects)); otherwise it waits the poll interval.
/// - an error: nothing is committed and the schedule reacts to its kind (see
///   [`ProviderError`]): `RateLimited` waits at least `retry_after`, `Transient` backs off,
///   `Auth` and `Fatal` stop the source until an operator resumes it.
/// - a page the store refuses stops the source (polling again would give the same page).
///
/// The engine never runs two polls of one source at once, but may poll a provider built afresh
/// (after a restart, a config change) from any committed checkpoint.
///
/// # What a provider promises
///
/// - **Replays give the same events.** Polled again from the same checkpoint with the same
///   object memory (after a crash, a failed commit, a refused pipelined page), a provider gives
///   the same events again: same [`Event::id`] for the same upstream change, whatever the page
///   boundaries. The store absorbs the repeats (by id, or by position), so a crash at any point
///   followed by a replay leaves exactly the stream a run without crashes leaves. Ids are unique
///   within the source: two different changes never share an id (the second would be absorbed,
///   that is lost).
/// - **The checkpoint** is versioned JSON ([`Checkpoint`]) that says everything needed to
///   resume: the provider keeps nothing between polls that the next poll needs for correctness
///   (a cache that only saves requests is fine), as the next poll may be a rebuilt provider's.
///   It is handed back only once the page it came with is durable.
/// - **The watermark** ([`Page::watermark`]) promises that no event reported later has
///   `occurred_at` before it; it never moves back (the store ignores a smaller one, and an event
///   dated below a committed watermark is merged out of order, marked `late`). `None` while the
///   provider cannot promise (draining a backlog).
/// - **Positions** ([`Page::positions`]), when given, pair with the events and strictly
///   increase within and across pages, on every page of the source.
/// - **Gaps** ([`Page::gaps`]) record what the upstream lost before we read it; never silent.
/// - **Object memory**: a provider that must remember objects reads the
///   [`ObjectStateRead`](crate::ObjectStateRead) it was built with and changes it only through
///   [`Page::objects`], so memory and events commit together.
/// - **Every event names its source** ([`Event::source`], the id it was built for) and its
///   provider ([`Event::provider`] == [`Provider::name`]); the store refuses a page with an event
///   of another source.
/// - **Every upstream action maps** to a unified [`EventType`](crate::EventType); one that has no
///   unified meaning is still published (as `update`, with the raw action in `upstream`) and
///   counted in [`Provider::unmapped`].
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name, as in [`Event::provider`]: `egnyte`, `jive`, ...
    fn name(&self) -> &str;

    /// Requests this provider has sent upstream since it was built, when it counts them (for the
    /// source's status and `/metrics`).
    fn upstream_calls(&self) -> Option<u64> {
        None
    }

    /// Upstream actions this provider has seen since it was built that have no unified
    /// [`EventType`](crate::EventType) (published as `update` with the raw action kept), when
    /// its upstream has actions it could fail to map; `None` when it does not count them (or
    /// every upstream change maps by construction, as when events are synthesized from state).
    fn unmapped(&self) -> Option<u64> {
        None
    }

    /// Reads what follows `checkpoint` (the last committed one; `None` on the source's first
    /// poll) and returns it as a [`Page`], or why it could not.
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
