//! Closed time windows `(after, before]` over `/contents` and `/deletedObjects/contents`.
//!
//! - **Span.** `before = min(after + span, now − skew)`. Contents come from
//!   `filter=modificationDate(before,after)` (inclusive, upper bound first) and deletions from
//!   `filter=since(after)&sort=eventDateAsc`, dropping markers after `before` (they belong to a
//!   later window: emitting them now would put the stream out of order).
//! - **Halving.** Jive cannot sort by modification date, and a window's members change while it
//!   is paged (an edited item leaves the window and every later item shifts left). A window whose
//!   first page comes back full is halved until it fits one page. The span that fitted is
//!   remembered (in memory) for the next window, doubled after a window that came back less than
//!   half full.
//! - **Overlap paging.** Only a window of one millisecond that still does not fit is paged, with
//!   one item of overlap between pages: a page that shares no item with what was already read
//!   means items shifted past it, and the scan steps back a page until it overlaps again
//!   ([`OverlapScan`]).
//! - **Deletions.** The marker list is an append-only log in `eventDate` order, so it is paged by
//!   offset; one short page that held every marker from `after` on is kept for the next windows.
//!
//! The pure rules are functions here (tested below); the requests they drive are
//! [`JiveProvider`] methods, each counted against `max_requests_per_window`.

use crate::client::{ContentsQuery, DeletedQuery, WireList};
use crate::error::JiveError;
use crate::provider::JiveProvider;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What windowing remembers between polls (in memory only) and counts.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    /// The window span (ms) that last fitted one page.
    span_hint: Mutex<Option<i64>>,
    /// Every deletion marker from some time on, as of a poll: see `deletions_through`.
    deletions_cache: Mutex<Option<DeletionsCache>>,
    /// Windows halved because their first page came back full.
    splits: AtomicU64,
    /// Pages re-read because items shifted while a one-millisecond window was paged.
    shift_repairs: AtomicU64,
}

impl Windows {
    pub fn splits(&self) -> u64 {
        self.splits.load(Ordering::Relaxed)
    }

    pub fn shift_repairs(&self) -> u64 {
        self.shift_repairs.load(Ordering::Relaxed)
    }
}

/// All deletion markers dated `from` or later that existed when the source's clock read
/// `complete_through + skew`.
#[derive(Debug)]
struct DeletionsCache {
    from: DateTime<Utc>,
    complete_through: DateTime<Utc>,
    markers: Vec<Value>,
}

/// The longest span (ms) one window may cover.
fn max_span(max_window_ms: u64) -> i64 {
    i64::try_from(max_window_ms).unwrap_or(i64::MAX / 4)
}

/// The span (ms) the window after `after` first tries: the remembered one, else the longest,
/// never past `horizon` and never under one millisecond.
fn first_span(
    hint: Option<i64>,
    max_span: i64,
    after: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> i64 {
    let room = (horizon - after).num_milliseconds().max(1);
    hint.unwrap_or(max_span).clamp(1, max_span).min(room)
}

/// The span to try after a full first page, `None` when the window is one millisecond already.
fn halved(span: i64) -> Option<i64> {
    (span > 1).then(|| (span / 2).max(1))
}

/// The span the next window tries, given that the fullest first page of this one held `most`
/// items: doubled when that was less than half a page.
fn next_span(span: i64, most: usize, page_size: u32, max_span: i64) -> i64 {
    let next = if most * 2 < page_size as usize {
        span.saturating_mul(2)
    } else {
        span
    };
    next.min(max_span)
}

/// Whether a list page is the last: it is empty (whatever its `links.next` says: an empty page
/// ends a list, notes §2.6; an empty first page that claimed more once made a window halve down
/// to one millisecond and then page nothing until the request budget ran out), or it is short
/// without a `links.next`.
fn is_last(page: &WireList, page_size: u32) -> bool {
    page.list.is_empty() || (page.list.len() < page_size as usize && page.next().is_none())
}

/// Whether a list page may have more after it.
fn is_full(page: &WireList, page_size: u32) -> bool {
    !is_last(page, page_size)
}

/// A marker's `eventDate`, when it has a readable one (an unreadable marker is reported where
/// it is parsed).
fn marker_date(raw: &Value) -> Option<DateTime<Utc>> {
    raw.get("eventDate")
        .and_then(Value::as_str)
        .and_then(crate::client::wire_time::parse)
}

/// Whether a marker belongs to `[after, before]` (an undated one is let through, to be reported).
fn in_window(raw: &Value, after: DateTime<Utc>, before: DateTime<Utc>) -> bool {
    marker_date(raw).is_none_or(|d| after <= d && d <= before)
}

/// A content item's `contentID`, a string or a number on the wire.
pub(crate) fn content_id(item: &Value) -> Option<String> {
    match item.get("contentID")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Paging one window that does not fit one page, with one item of overlap: a page sharing
/// nothing with what was read means items shifted left past it (some left the window), so the
/// scan steps back until it overlaps again. Items only ever leave a past window (an edit moves
/// `updated` to now), so stepping back always finds the seam.
#[derive(Debug)]
pub(crate) struct OverlapScan {
    page_size: u32,
    start: u32,
    seen: HashMap<String, Value>,
    order: Vec<String>,
}

/// What to do after a page of an [`OverlapScan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read the page at [`OverlapScan::start`].
    Next,
    /// Items shifted past the page just read: read the page at [`OverlapScan::start`], which
    /// stepped back.
    SteppedBack,
    /// Every item has been read.
    Done,
}

impl OverlapScan {
    /// Starts after the window's first page (read at offset 0), which came back full.
    pub fn new(page_size: u32, first: Vec<Value>) -> Self {
        let mut scan = Self {
            page_size,
            start: page_size - 1,
            seen: HashMap::new(),
            order: Vec::new(),
        };
        scan.add(first);
        scan
    }

    /// The offset of the next page to read.
    pub fn start(&self) -> u32 {
        self.start
    }

    /// Takes the page read at [`start`](Self::start).
    pub fn take(&mut self, page: WireList) -> Step {
        let p = self.page_size;
        let overlaps = page
            .list
            .iter()
            .filter_map(content_id)
            .any(|id| self.seen.contains_key(&id));
        let short = is_last(&page, p);
        if self.start > 0 && !overlaps {
            // Items left before this page: it lies past some not read yet. Its items are not
            // taken as read (they are read again from further back), so what counts as read stays
            // one unbroken run and a later page cannot "overlap" on an item beyond a gap.
            self.start = self.start.saturating_sub(p - 1);
            return Step::SteppedBack;
        }
        self.add(page.list);
        if short {
            return Step::Done;
        }
        self.start += p - 1;
        Step::Next
    }

    /// Every item read, each once (its latest copy), in the order first read.
    pub fn into_items(mut self) -> Vec<Value> {
        self.order
            .into_iter()
            .filter_map(|id| self.seen.remove(&id))
            .collect()
    }

    fn add(&mut self, list: Vec<Value>) {
        for item in list {
            if let Some(id) = content_id(&item)
                && self.seen.insert(id.clone(), item).is_none()
            {
                self.order.push(id);
            }
        }
    }
}

impl JiveProvider {
    /// Reads the contents of the window after `after`: halves it until each place's first page
    /// fits (or it is 1 ms wide), pages what still does not fit, and remembers the span. Returns
    /// the window's `before` and its items by `contentID`.
    pub(crate) async fn window_contents(
        &self,
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
        requests: &mut u32,
    ) -> Result<(DateTime<Utc>, HashMap<String, Value>), JiveError> {
        let windows = &self.windows;
        let max_span = max_span(self.config.max_window_ms);
        let hint = *windows.span_hint.lock().unwrap_or_else(|p| p.into_inner());
        let mut span = first_span(hint, max_span, after, horizon);
        let p = self.config.page_size;

        let (before, firsts) = loop {
            let before = after + TimeDelta::milliseconds(span);
            let mut firsts = Vec::new();
            let mut full = false;
            for place in self.places() {
                *requests += 1;
                let page = self.contents(&self.query(before, after, place, 0)).await?;
                full |= is_full(&page, p);
                firsts.push((place, page));
            }
            if full && let Some(half) = halved(span) {
                span = half;
                windows.splits.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            break (before, firsts);
        };
        let mut items: HashMap<String, Value> = HashMap::new();
        let mut most = 0usize;
        for (place, first) in firsts {
            most = most.max(first.list.len());
            let all = if is_full(&first, p) {
                self.page_through(before, after, place, first, requests)
                    .await?
            } else {
                first.list
            };
            for item in all {
                if let Some(id) = content_id(&item) {
                    items.insert(id, item);
                }
            }
        }
        *windows.span_hint.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(next_span(span, most, p, max_span));
        Ok((before, items))
    }

    fn query<'a>(
        &'a self,
        before: DateTime<Utc>,
        after: DateTime<Utc>,
        place: Option<&'a str>,
        start_index: u32,
    ) -> ContentsQuery<'a> {
        ContentsQuery {
            before,
            after: Some(after),
            types: &self.config.types,
            place,
            start_index,
            count: self.config.page_size,
        }
    }

    /// Every item of a one-millisecond window that does not fit one page: see [`OverlapScan`].
    async fn page_through(
        &self,
        before: DateTime<Utc>,
        after: DateTime<Utc>,
        place: Option<&str>,
        first: WireList,
        requests: &mut u32,
    ) -> Result<Vec<Value>, JiveError> {
        let mut scan = OverlapScan::new(self.config.page_size, first.list);
        loop {
            self.spend(requests, after, before)?;
            let page = self
                .contents(&self.query(before, after, place, scan.start()))
                .await?;
            match scan.take(page) {
                Step::Next => {}
                Step::SteppedBack => {
                    self.windows.shift_repairs.fetch_add(1, Ordering::Relaxed);
                    let start = scan.start();
                    tracing::debug!(source = %self.source, start, "items shifted while paging; stepping back");
                }
                Step::Done => return Ok(scan.into_items()),
            }
        }
    }

    /// Deletion markers from `after` (inclusive) through `before`. The list is an append-only log
    /// in `eventDate` order, so offset paging is safe; it stops at the first marker after
    /// `before`. When one short page held every marker from `after` on, the answer is kept: until
    /// `horizon` nothing else can appear (later markers are dated later), so the next windows up
    /// to it need no request of their own (a backfill's windows share one).
    pub(crate) async fn deletions_through(
        &self,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        horizon: DateTime<Utc>,
        requests: &mut u32,
    ) -> Result<Vec<Value>, JiveError> {
        let in_window = |raw: &&Value| in_window(raw, after, before);
        {
            let cache = self
                .windows
                .deletions_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(c) = cache.as_ref()
                && c.from <= after
                && before <= c.complete_through
            {
                return Ok(c.markers.iter().filter(in_window).cloned().collect());
            }
        }
        let p = self.config.page_size;
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            self.spend(requests, after, before)?;
            let page = self
                .deleted(&DeletedQuery {
                    since: after,
                    types: &self.config.types,
                    start_index: start,
                    count: p,
                })
                .await?;
            let short = is_last(&page, p);
            if short && start == 0 {
                let window = page.list.iter().filter(in_window).cloned().collect();
                *self
                    .windows
                    .deletions_cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(DeletionsCache {
                    from: after,
                    complete_through: horizon,
                    markers: page.list,
                });
                return Ok(window);
            }
            let past = page
                .list
                .iter()
                .any(|raw| marker_date(raw).is_some_and(|d| d > before));
            out.extend(page.list.iter().filter(in_window).cloned());
            if past || short {
                return Ok(out);
            }
            start += p;
        }
    }

    /// Counts one more request for the window `(after, before]`; past the budget the window is
    /// given up as still shifting (the next poll reads it again).
    fn spend(
        &self,
        requests: &mut u32,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<(), JiveError> {
        if *requests >= self.config.max_requests_per_window {
            return Err(JiveError::Unsettled {
                window: format!("{after} .. {before}"),
                requests: *requests,
            });
        }
        *requests += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::WireLinks;
    use proptest::prelude::*;
    use serde_json::json;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_714_554_900_000 + ms).unwrap()
    }

    fn item(id: u32) -> Value {
        json!({ "contentID": id.to_string(), "updated": "2024-05-01T09:15:02.511+0000" })
    }

    fn list(items: Vec<Value>, next: bool) -> WireList {
        WireList {
            list: items,
            links: next.then(|| WireLinks {
                next: Some("https://jive.example/api/core/v3/contents?startIndex=9".into()),
                previous: None,
            }),
            items_per_page: None,
            start_index: None,
        }
    }

    fn ids(items: &[Value]) -> Vec<String> {
        items.iter().filter_map(content_id).collect()
    }

    /// Answers `start..start + page_size` of `members` the way Jive pages a list.
    fn page_of(members: &[u32], start: u32, page_size: u32) -> WireList {
        let from = (start as usize).min(members.len());
        let to = (from + page_size as usize).min(members.len());
        list(
            members[from..to].iter().map(|&id| item(id)).collect(),
            false,
        )
    }

    #[test]
    fn first_span_is_the_hint_within_max_and_room() {
        assert_eq!(first_span(None, 1_000, at(0), at(10_000)), 1_000);
        assert_eq!(first_span(Some(250), 1_000, at(0), at(10_000)), 250);
        assert_eq!(first_span(Some(5_000), 1_000, at(0), at(10_000)), 1_000);
        assert_eq!(first_span(Some(0), 1_000, at(0), at(10_000)), 1);
        assert_eq!(first_span(None, 1_000, at(0), at(40)), 40);
    }

    #[test]
    fn first_span_is_one_millisecond_at_the_horizon() {
        assert_eq!(first_span(None, 1_000, at(10), at(10)), 1);
        assert_eq!(first_span(Some(300), 1_000, at(10), at(11)), 1);
    }

    #[test]
    fn halving_stops_at_one_millisecond() {
        assert_eq!(halved(1_000), Some(500));
        assert_eq!(halved(3), Some(1));
        assert_eq!(halved(2), Some(1));
        assert_eq!(halved(1), None);
    }

    #[test]
    fn next_span_doubles_only_after_a_window_under_half_full() {
        assert_eq!(next_span(100, 49, 100, 10_000), 200);
        assert_eq!(next_span(100, 50, 100, 10_000), 100);
        assert_eq!(next_span(100, 0, 100, 150), 150);
        assert_eq!(next_span(i64::MAX / 2 + 1, 0, 100, i64::MAX), i64::MAX);
    }

    #[test]
    fn max_span_saturates() {
        assert_eq!(max_span(604_800_000), 604_800_000);
        assert_eq!(max_span(u64::MAX), i64::MAX / 4);
    }

    #[test]
    fn a_page_is_full_when_it_holds_page_size_items_or_links_a_next_one() {
        assert!(is_full(&list((0..3).map(item).collect(), false), 3));
        assert!(!is_full(&list((0..2).map(item).collect(), false), 3));
        assert!(is_full(&list((0..2).map(item).collect(), true), 3));
        assert!(!is_full(&list(Vec::new(), false), 3));
    }

    #[test]
    fn an_empty_page_is_the_last_whatever_its_links_next_says() {
        assert!(!is_full(&list(Vec::new(), true), 3));
        // Past the first page, an empty page may only mean that items left before it: the scan
        // steps back; at the first page, it ends the scan whatever its `links.next` says.
        let mut scan = OverlapScan::new(4, (1..=4).map(item).collect());
        assert_eq!(scan.take(list(Vec::new(), true)), Step::SteppedBack);
        assert_eq!(scan.start(), 0);
        assert_eq!(scan.take(list(Vec::new(), true)), Step::Done);
        assert_eq!(ids(&scan.into_items()), ["1", "2", "3", "4"]);
    }

    #[test]
    fn markers_at_both_bounds_are_in_the_window() {
        let marker = |date: &str| json!({ "id": "1", "eventDate": date });
        let (after, before) = (
            crate::client::wire_time::parse("2024-05-01T09:15:02.511+0000").unwrap(),
            crate::client::wire_time::parse("2024-05-01T09:15:03.000+0000").unwrap(),
        );
        assert!(in_window(
            &marker("2024-05-01T09:15:02.511+0000"),
            after,
            before
        ));
        assert!(in_window(
            &marker("2024-05-01T09:15:03.000+0000"),
            after,
            before
        ));
        assert!(!in_window(
            &marker("2024-05-01T09:15:02.510+0000"),
            after,
            before
        ));
        assert!(!in_window(
            &marker("2024-05-01T09:15:03.001+0000"),
            after,
            before
        ));
        assert!(in_window(&json!({ "id": "2" }), after, before));
    }

    #[test]
    fn content_ids_are_strings_or_numbers() {
        assert_eq!(
            content_id(&json!({ "contentID": "5003" })),
            Some("5003".into())
        );
        assert_eq!(
            content_id(&json!({ "contentID": 5003 })),
            Some("5003".into())
        );
        assert_eq!(content_id(&json!({ "contentID": null })), None);
        assert_eq!(content_id(&json!({ "id": "1" })), None);
    }

    #[test]
    fn pages_with_one_item_of_overlap() {
        // Ten items updated in the same millisecond straddle pages of four.
        let members: Vec<u32> = (1..=10).collect();
        let mut scan = OverlapScan::new(4, page_of(&members, 0, 4).list);
        let mut starts = Vec::new();
        loop {
            starts.push(scan.start());
            let page = page_of(&members, scan.start(), 4);
            if scan.take(page) == Step::Done {
                break;
            }
        }
        assert_eq!(starts, vec![3, 6, 9]);
        assert_eq!(
            ids(&scan.into_items()),
            (1..=10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn steps_back_when_items_shift_past_a_page() {
        let mut members: Vec<u32> = (1..=10).collect();
        let mut scan = OverlapScan::new(4, page_of(&members, 0, 4).list);
        // Items 2..=5 are edited (they leave the window): 6 moves to offset 1.
        members.retain(|id| !(2..=5).contains(id));
        assert_eq!(scan.start(), 3);
        assert_eq!(scan.take(page_of(&members, 3, 4)), Step::SteppedBack);
        assert_eq!(scan.start(), 0);
        assert_eq!(scan.take(page_of(&members, 0, 4)), Step::Next);
        while scan.take(page_of(&members, scan.start(), 4)) != Step::Done {}
        let mut got = ids(&scan.into_items());
        got.sort_by_key(|id| id.parse::<u32>().unwrap());
        // 2..=4 were read before they left; 5 left unread (its edit lands in a later window).
        let want: Vec<String> = [1, 2, 3, 4, 6, 7, 8, 9, 10]
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_short_page_with_a_next_link_is_not_the_end() {
        let mut scan = OverlapScan::new(3, (1..=3).map(item).collect());
        assert_eq!(scan.take(list(vec![item(3), item(4)], true)), Step::Next);
        assert_eq!(scan.start(), 4);
        assert_eq!(scan.take(list(vec![item(4)], false)), Step::Done);
        assert_eq!(ids(&scan.into_items()), vec!["1", "2", "3", "4"]);
    }

    #[test]
    fn keeps_the_latest_copy_of_an_item_read_twice() {
        let mut scan = OverlapScan::new(2, vec![item(1), item(2)]);
        let again = json!({ "contentID": "2", "subject": "second read" });
        assert_eq!(scan.take(list(vec![again.clone()], false)), Step::Done);
        assert_eq!(scan.into_items(), vec![item(1), again]);
    }

    proptest! {
        /// Whichever items leave the window while it is paged, any number between two requests
        /// (edits move them out; they never come back into a past window), every item that stays
        /// is read exactly once, and the scan ends within a bounded number of pages.
        #[test]
        fn overlap_paging_reads_every_item_that_stays_exactly_once(
            page_size in 2u32..6,
            len in 0usize..40,
            leaves in proptest::collection::vec((0usize..12, 0usize..40), 0..12),
        ) {
            let mut members: Vec<u32> = (1..=len as u32).collect();
            let mut scan = OverlapScan::new(page_size, page_of(&members, 0, page_size).list);
            let mut pages = 0usize;
            loop {
                // Before each request, any number of items may leave the window (page_size 3,
                // 29 items, two leaving before the 10th request and two before the 11th once made
                // the scan skip item 24: a page that did not overlap counted as read).
                let leaving = leaves.iter().filter(|(before, _)| *before == pages);
                for &(_, which) in leaving {
                    if !members.is_empty() {
                        members.remove(which % members.len());
                    }
                }
                pages += 1;
                prop_assert!(pages <= 4 * len + 16, "the scan did not end");
                let page = page_of(&members, scan.start(), page_size);
                if scan.take(page) == Step::Done {
                    break;
                }
            }
            let got = ids(&scan.into_items());
            let mut unique = got.clone();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), got.len(), "an item was returned twice");
            for id in &members {
                prop_assert!(got.contains(&id.to_string()), "item {} was missed", id);
            }
        }

        /// A window's span always stays within one millisecond and the longest span, and a
        /// halved span is at least one millisecond and smaller than what it halved.
        #[test]
        fn spans_stay_within_bounds(
            hint in proptest::option::of(-10i64..2_000_000),
            max in 1i64..1_000_000,
            after in 0i64..1_000_000,
            room in 0i64..1_000_000,
            most in 0usize..200,
            page_size in 2u32..=100,
        ) {
            let span = first_span(hint, max, at(after), at(after + room));
            prop_assert!(1 <= span && span <= max && span <= room.max(1));
            if let Some(half) = halved(span) {
                prop_assert!(1 <= half && half < span);
            } else {
                prop_assert_eq!(span, 1);
            }
            let next = next_span(span, most, page_size, max);
            prop_assert!(span.min(max) <= next && next <= max);
        }
    }
}
