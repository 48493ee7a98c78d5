//! The time before which a source promises no more events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A source's promise: every event it will report from now on has `occurred_at` at or after this
/// time. The merge appends events below the smallest watermark of the active sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Watermark(#[serde(with = "crate::time::millis")] pub DateTime<Utc>);

impl Watermark {
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(crate::time::truncate(t))
    }

    /// The promise of a source that will never report another event.
    pub fn closed() -> Self {
        Self(crate::time::max())
    }

    pub fn time(self) -> DateTime<Utc> {
        self.0
    }
}
