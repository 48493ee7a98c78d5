//! How far the merge may go: the smallest promise of the sources, but never further behind now
//! than `max_delay`, so an idle, failing or throttled source cannot hold the stream back.

use chrono::{DateTime, Utc};
use std::time::Duration;
use tributary_core::Watermark;

/// `max(min(watermarks), now − max_delay)`. A source without a watermark yet counts as lagging.
/// With no sources at all, everything pending may go.
pub fn frontier(
    watermarks: impl IntoIterator<Item = Option<Watermark>>,
    now: DateTime<Utc>,
    max_delay: Duration,
) -> DateTime<Utc> {
    let floor = now - chrono::Duration::from_std(max_delay).unwrap_or(chrono::Duration::MAX);
    let mut any = false;
    let mut lowest = tributary_core::time::max();
    for w in watermarks {
        any = true;
        lowest = lowest.min(w.map_or(tributary_core::time::min(), Watermark::time));
    }
    if !any {
        return tributary_core::time::max();
    }
    lowest.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, s).unwrap()
    }

    #[test]
    fn is_the_smallest_watermark_but_never_older_than_max_delay() {
        let d = Duration::from_secs(10);
        let w = |s| Some(Watermark::new(t(s)));
        assert_eq!(frontier([w(50), w(40)], t(55), d), t(45));
        assert_eq!(frontier([w(50), w(48)], t(55), d), t(48));
        assert_eq!(frontier([w(50), None], t(55), d), t(45));
        assert_eq!(frontier([], t(55), d), tributary_core::time::max());
    }
}
