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
//! - **The second key.** A window of one millisecond that still does not fit is read by
//!   creation date, the order the list is sorted by (`dateCreatedAsc`), which Jive does promise
//!   between different dates: every item created before the last `published` of a full page was
//!   on that page, so the next request asks `filter=creationDate(null,<that published>)` from
//!   offset 0 ([`keyset_step`]). No offset is trusted, so items that leave the window meanwhile
//!   shift nothing out of sight.
//! - **Ties.** Items that share the `updated` millisecond *and* the `published` millisecond have
//!   no promised order: when they fill a page, they are read by offset in passes until two
//!   passes give the same set of `(contentID, updated)` (the kit's
//!   [`read_until_stable`](tributary_provider_kit::window::read_until_stable)); every item any
//!   pass read is kept. When [`MAX_TIE_PASSES`] passes never agree, the items read are emitted
//!   and a [`Gap`] says which window may miss some: never a silent loss.
//! - **Deletions.** The marker list is an append-only log in `eventDate` order, paged by offset
//!   up to the first marker after `before`. One short page that held every marker from `after`
//!   on is whole, and kept for the next windows. Jive promises no order among markers of the
//!   same `eventDate`, so more than a page is read in passes until two give the same set of
//!   `(id, eventDate)`, as ties are; passes that never agree emit what they read with a [`Gap`].
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
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use tributary_core::Gap;
use tributary_provider_kit::window::{Pass, Whole, WindowError, read_until_stable};

/// Passes over one group of tied items before it is given up with a gap.
pub(crate) const MAX_TIE_PASSES: u32 = 4;

/// What windowing remembers between polls (in memory only) and counts.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    /// The window span (ms) that last fitted one page.
    span_hint: Mutex<Option<i64>>,
    /// Every deletion marker from some time on, as of a poll: see `deletions_through`.
    deletions_cache: Mutex<Option<DeletionsCache>>,
    /// Windows halved because their first page came back full.
    splits: AtomicU64,
    /// Passes over tied items that disagreed with the pass before them.
    shift_repairs: AtomicU64,
    /// Passes over groups of tied items (see [`MAX_TIE_PASSES`]).
    tie_passes: AtomicU64,
    /// Tie groups whose passes never agreed (each one a gap).
    unstable: AtomicU64,
}

impl Windows {
    pub fn splits(&self) -> u64 {
        self.splits.load(Ordering::Relaxed)
    }

    pub fn shift_repairs(&self) -> u64 {
        self.shift_repairs.load(Ordering::Relaxed)
    }

    pub fn tie_passes(&self) -> u64 {
        self.tie_passes.load(Ordering::Relaxed)
    }

    pub fn unstable(&self) -> u64 {
        self.unstable.load(Ordering::Relaxed)
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

/// A content item's `published`, when it has a readable one.
fn published(item: &Value) -> Option<DateTime<Utc>> {
    item.get("published")
        .and_then(Value::as_str)
        .and_then(crate::client::wire_time::parse)
}

/// Every item the passes over a group of ties read, once each by its key, in order of first
/// reading: what is emitted, whether the passes agreed or not.
#[derive(Debug, Default)]
struct ReadSoFar {
    order: Vec<(String, String)>,
    items: HashMap<(String, String), Value>,
}

impl ReadSoFar {
    fn add(&mut self, items: &[Value], key: fn(&Value) -> (String, String)) {
        for item in items {
            let k = key(item);
            if self.items.insert(k.clone(), item.clone()).is_none() {
                self.order.push(k);
            }
        }
    }

    fn into_items(mut self) -> Vec<Value> {
        let items = &mut self.items;
        self.order.iter().filter_map(|k| items.remove(k)).collect()
    }
}

/// An item's version: its `contentID` and `updated` as sent.
fn version(item: &Value) -> (String, String) {
    let updated = item
        .get("updated")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (content_id(item).unwrap_or_default(), updated.to_owned())
}

/// A marker's key among its ties: its own `id` (the marker's UUID: an item deleted, restored and
/// deleted again in one millisecond has two markers with one `objectId`), else the deleted
/// item's `objectId` (a string or a number on the wire), and the `eventDate` as sent.
fn marker_key(raw: &Value) -> (String, String) {
    let id = match raw.get("id").or_else(|| raw.get("objectId")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let date = raw
        .get("eventDate")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (id, date.to_owned())
}

/// What a page of a one-millisecond window read by creation date settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The page was the last: the window is read.
    Done,
    /// Every item created before this `published` is read; read on from it (inclusive: more
    /// items created at it may follow).
    From(DateTime<Utc>),
    /// The page is full and every item on it was created at this `published` (`None`: the page
    /// has no readable `published` at all): these ties are read in passes.
    Ties(Option<DateTime<Utc>>),
}

/// The rule of reading by creation date: the list is sorted by `published`, so a full page
/// whose items span several creation dates holds every item created before the latest of them.
pub(crate) fn keyset_step(page: &WireList, page_size: u32) -> Step {
    if is_last(page, page_size) {
        return Step::Done;
    }
    let dates = page.list.iter().filter_map(published);
    match (dates.clone().min(), dates.max()) {
        (Some(first), Some(last)) if first < last => Step::From(last),
        (Some(first), Some(_)) => Step::Ties(Some(first)),
        _ => Step::Ties(None),
    }
}

impl JiveProvider {
    /// Reads the contents of the window after `after`: halves it until each place's first page
    /// fits (or it is 1 ms wide), pages what still does not fit, and remembers the span. Returns
    /// the window's `before`, its items by `contentID`, and the gaps of tie groups that could
    /// not be read whole.
    pub(crate) async fn window_contents(
        &self,
        after: DateTime<Utc>,
        horizon: DateTime<Utc>,
        requests: &mut u32,
    ) -> Result<(DateTime<Utc>, HashMap<String, Value>, Vec<Gap>), JiveError> {
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
        let mut gaps = Vec::new();
        let mut most = 0usize;
        for (place, first) in firsts {
            most = most.max(first.list.len());
            let all = if is_full(&first, p) {
                self.read_by_creation((after, before), place, first, requests, &mut gaps)
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
        Ok((before, items, gaps))
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
            created_after: None,
            created_before: None,
            start_index,
            count: self.config.page_size,
        }
    }

    /// Every item of a one-millisecond window whose first page came back full, read by
    /// creation date (see [`keyset_step`]); groups of ties that fill a page are read in passes,
    /// and a gap is added to `gaps` for one whose passes never agreed.
    async fn read_by_creation(
        &self,
        window: (DateTime<Utc>, DateTime<Utc>),
        place: Option<&str>,
        first: WireList,
        requests: &mut u32,
        gaps: &mut Vec<Gap>,
    ) -> Result<Vec<Value>, JiveError> {
        let (after, before) = window;
        let p = self.config.page_size;
        let mut out = Vec::new();
        let mut page = first;
        loop {
            let step = keyset_step(&page, p);
            out.extend(page.list);
            let from = match step {
                Step::Done => return Ok(out),
                Step::From(t) => t,
                Step::Ties(at) => {
                    out.extend(self.read_ties(window, place, at, requests, gaps).await?);
                    match at {
                        Some(t) => t + TimeDelta::milliseconds(1),
                        // Without dates the passes read the whole window.
                        None => return Ok(out),
                    }
                }
            };
            self.spend(requests, after, before)?;
            let q = ContentsQuery {
                created_after: Some(from),
                ..self.query(before, after, place, 0)
            };
            page = self.contents(&q).await?;
        }
    }

    /// The items of the window created at `at` (`None`: the whole window), read by offset in
    /// passes until two agree; every item any pass read. Passes that never agree add a gap.
    async fn read_ties(
        &self,
        window: (DateTime<Utc>, DateTime<Utc>),
        place: Option<&str>,
        at: Option<DateTime<Utc>>,
        requests: &mut u32,
        gaps: &mut Vec<Gap>,
    ) -> Result<Vec<Value>, JiveError> {
        let (after, before) = window;
        let p = self.config.page_size;
        // Shared by the passes (each a future of its own): what was spent and read so far.
        let spent = AtomicU32::new(*requests);
        let read: Mutex<ReadSoFar> = Mutex::default();
        let passes = AtomicU32::new(0);
        let (spent_ref, read_ref, passes_ref) = (&spent, &read, &passes);
        let pass = || async move {
            passes_ref.fetch_add(1, Ordering::Relaxed);
            let mut items = Vec::new();
            let mut pages = 0u32;
            let mut start = 0u32;
            loop {
                let mut n = spent_ref.load(Ordering::Relaxed);
                self.spend(&mut n, after, before)?;
                spent_ref.store(n, Ordering::Relaxed);
                pages += 1;
                let q = ContentsQuery {
                    created_after: at,
                    created_before: at,
                    ..self.query(before, after, place, start)
                };
                let page = self.contents(&q).await?;
                let last = is_last(&page, p);
                items.extend(page.list);
                if last {
                    break;
                }
                start = start.saturating_add(p);
            }
            read_ref
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&items, version);
            Ok(Pass {
                items,
                requests: pages,
            })
        };
        let result = read_until_stable(MAX_TIE_PASSES, version, pass).await;
        *requests = spent.into_inner();
        let passes = u64::from(passes.into_inner());
        self.windows.tie_passes.fetch_add(passes, Ordering::Relaxed);
        let all = read
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_items();
        let read = all.len();
        self.settle_passes(result, window, gaps, |passes| {
            let created = at.map_or_else(
                || "with no readable creation date".to_owned(),
                |t| format!("created at {}", crate::client::wire_time::format(t)),
            );
            format!(
                "/contents items updated from {} through {} and {created} do not fit one page, and {passes} passes over them never listed the same items (Jive promises no order among ties, or they kept changing); the {read} items read were emitted, others may be missing",
                crate::client::wire_time::format(after),
                crate::client::wire_time::format(before),
            )
        })?;
        Ok(all)
    }

    /// Counts how passes over ties ended and, when they never agreed, adds a gap for the window
    /// to `gaps` with the reason `reason(passes)` gives. An upstream error is returned.
    fn settle_passes(
        &self,
        result: Result<Whole<Value>, WindowError<JiveError, Value>>,
        window: (DateTime<Utc>, DateTime<Utc>),
        gaps: &mut Vec<Gap>,
        reason: impl FnOnce(u32) -> String,
    ) -> Result<(), JiveError> {
        let (after, before) = window;
        match result {
            Ok(whole) => {
                // Two passes agree at best; each pass more followed one that disagreed.
                let repairs = u64::from(whole.passes.saturating_sub(2));
                self.windows
                    .shift_repairs
                    .fetch_add(repairs, Ordering::Relaxed);
                Ok(())
            }
            Err(WindowError::Upstream(e)) => Err(e),
            Err(WindowError::Unstable { passes, .. }) => {
                self.windows
                    .shift_repairs
                    .fetch_add(u64::from(passes.saturating_sub(1)), Ordering::Relaxed);
                self.windows.unstable.fetch_add(1, Ordering::Relaxed);
                let reason = reason(passes);
                tracing::warn!(source = %self.source, %after, %before, passes, %reason, "ties never read the same twice; recording a gap");
                gaps.push(Gap {
                    detected_at: self.clock.now(),
                    after: crate::client::wire_time::format(after),
                    resumed_at: crate::client::wire_time::format(before),
                    reason,
                });
                Ok(())
            }
        }
    }

    /// Deletion markers from `after` (inclusive) through `before`, read by offset in
    /// `eventDate` order up to the first marker after `before`.
    ///
    /// When one short page held every marker from `after` on, the answer is whole (nothing can
    /// move between pages when there is one) and kept: until `horizon` nothing else can appear
    /// (later markers are dated later), so the next windows up to it need no request of their
    /// own (a backfill's windows share one). More than a page is read in passes until two agree
    /// ([`Self::read_markers`]); passes that never agree add a gap to `gaps`.
    pub(crate) async fn deletions_through(
        &self,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        horizon: DateTime<Utc>,
        requests: &mut u32,
        gaps: &mut Vec<Gap>,
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
        self.spend(requests, after, before)?;
        let first = self.deleted(&self.deleted_query(after, 0)).await?;
        if is_last(&first, self.config.page_size) {
            let window = first.list.iter().filter(in_window).cloned().collect();
            *self
                .windows
                .deletions_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(DeletionsCache {
                from: after,
                complete_through: horizon,
                markers: first.list,
            });
            return Ok(window);
        }
        self.read_markers((after, before), first, requests, gaps)
            .await
    }

    fn deleted_query(&self, since: DateTime<Utc>, start_index: u32) -> DeletedQuery<'_> {
        DeletedQuery {
            since,
            types: &self.config.types,
            start_index,
            count: self.config.page_size,
        }
    }

    /// The markers of the window when they do not fit one page (`first` is the full page 0
    /// already read). Jive promises the `eventDate` order, not an order among markers of the
    /// same date: two that swap places between the requests for two pages would make one read
    /// twice and the other never. So the pages are read in passes (from offset 0 to a short
    /// page or a marker after `before`) until two passes give the same set of
    /// `(id, eventDate)` ([`read_until_stable`]); every marker any pass read is kept. A
    /// first page that already reaches past `before` is a pass of one request, whole alone.
    /// When [`MAX_TIE_PASSES`] passes never agree, the markers read are returned and a gap is
    /// added to `gaps`.
    async fn read_markers(
        &self,
        window: (DateTime<Utc>, DateTime<Utc>),
        first: WireList,
        requests: &mut u32,
        gaps: &mut Vec<Gap>,
    ) -> Result<Vec<Value>, JiveError> {
        let (after, before) = window;
        let p = self.config.page_size;
        // Shared by the passes (each a future of its own): the first page (the first pass's),
        // what was spent and what was read so far.
        let first = Mutex::new(Some(first));
        let spent = AtomicU32::new(*requests);
        let read: Mutex<ReadSoFar> = Mutex::default();
        let passes = AtomicU32::new(0);
        let (first_ref, spent_ref, read_ref, passes_ref) = (&first, &spent, &read, &passes);
        let pass = || async move {
            passes_ref.fetch_add(1, Ordering::Relaxed);
            let mut markers = Vec::new();
            let mut pages = 0u32;
            let mut start = 0u32;
            loop {
                let taken = first_ref.lock().unwrap_or_else(|p| p.into_inner()).take();
                let page = match taken {
                    Some(page) => page,
                    None => {
                        let mut n = spent_ref.load(Ordering::Relaxed);
                        self.spend(&mut n, after, before)?;
                        spent_ref.store(n, Ordering::Relaxed);
                        self.deleted(&self.deleted_query(after, start)).await?
                    }
                };
                pages += 1;
                let past = page
                    .list
                    .iter()
                    .any(|raw| marker_date(raw).is_some_and(|d| d > before));
                let last = is_last(&page, p);
                // Only the window's markers count: later ones (new deletions among them) would
                // make passes differ that agree on the window.
                markers.extend(
                    page.list
                        .into_iter()
                        .filter(|raw| in_window(raw, after, before)),
                );
                if past || last {
                    break;
                }
                start = start.saturating_add(p);
            }
            read_ref
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .add(&markers, marker_key);
            Ok(Pass {
                items: markers,
                requests: pages,
            })
        };
        let result = read_until_stable(MAX_TIE_PASSES, marker_key, pass).await;
        *requests = spent.into_inner();
        let passes = passes.into_inner();
        if passes > 1 {
            self.windows
                .tie_passes
                .fetch_add(u64::from(passes), Ordering::Relaxed);
        }
        let all = read
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_items();
        let read = all.len();
        self.settle_passes(result, window, gaps, |passes| {
            format!(
                "/deletedObjects/contents markers dated from {} through {} do not fit one page, and {passes} passes over them never listed the same markers (Jive promises no order among markers of the same eventDate, or they kept changing); the {read} markers read were emitted, others may be missing",
                crate::client::wire_time::format(after),
                crate::client::wire_time::format(before),
            )
        })?;
        Ok(all)
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
        assert_eq!(keyset_step(&list(Vec::new(), true), 3), Step::Done);
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

    fn created(id: u32, ms: i64) -> Value {
        let t = crate::client::wire_time::format(at(ms));
        json!({ "contentID": id.to_string(), "published": t, "updated": "2024-05-01T09:15:02.511+0000" })
    }

    #[test]
    fn a_full_page_over_several_creation_dates_reads_on_from_the_latest() {
        let page = list(vec![created(1, 0), created(2, 5), created(3, 5)], false);
        assert_eq!(keyset_step(&page, 3), Step::From(at(5)));
        // The order inside the page does not matter: the latest date is the bound.
        let page = list(vec![created(3, 5), created(1, 0), created(2, 5)], false);
        assert_eq!(keyset_step(&page, 3), Step::From(at(5)));
    }

    #[test]
    fn a_full_page_of_one_creation_date_is_a_group_of_ties() {
        let page = list(vec![created(1, 7), created(2, 7), created(3, 7)], false);
        assert_eq!(keyset_step(&page, 3), Step::Ties(Some(at(7))));
        let undated = list((1..=3).map(item).collect(), false);
        assert_eq!(keyset_step(&undated, 3), Step::Ties(None));
    }

    #[test]
    fn a_short_page_ends_the_read_unless_it_links_a_next_one() {
        assert_eq!(
            keyset_step(&list(vec![created(1, 0)], false), 3),
            Step::Done
        );
        assert_eq!(
            keyset_step(&list(vec![created(1, 0), created(2, 1)], true), 3),
            Step::From(at(1))
        );
    }

    #[test]
    fn markers_are_keyed_by_their_own_id_and_event_date() {
        let date = "2024-05-01T09:15:02.511+0000";
        let first = json!({ "id": "a1", "objectId": "5003", "eventDate": date });
        let again = json!({ "id": "b2", "objectId": "5003", "eventDate": date });
        assert_eq!(marker_key(&first), ("a1".to_owned(), date.to_owned()));
        assert_ne!(
            marker_key(&first),
            marker_key(&again),
            "an item deleted twice in one millisecond has two markers"
        );
        assert_eq!(
            marker_key(&json!({ "objectId": 5003, "eventDate": date })),
            ("5003".to_owned(), date.to_owned())
        );
    }

    #[test]
    fn what_passes_read_is_kept_once_each_in_order_of_first_reading() {
        let mut read = ReadSoFar::default();
        read.add(&[item(1), item(2)], version);
        read.add(&[item(2), item(3), item(1)], version);
        assert_eq!(ids(&read.into_items()), ["1", "2", "3"]);
    }

    #[test]
    fn versions_are_the_id_and_updated_as_sent() {
        assert_eq!(
            version(&created(5, 0)),
            ("5".to_owned(), "2024-05-01T09:15:02.511+0000".to_owned())
        );
    }

    proptest! {
        /// Reading by creation date from any sorted list, with any number of items per date and
        /// any page size: every item is read, and each request starts past what was settled.
        #[test]
        fn reading_by_creation_date_reads_every_item(
            page_size in 2u32..6,
            dates in proptest::collection::vec(0i64..8, 0..40),
        ) {
            let mut members: Vec<(u32, i64)> =
                dates.iter().enumerate().map(|(i, d)| (i as u32, *d)).collect();
            members.sort_by_key(|m| m.1);
            let query = |from: Option<i64>, only: Option<i64>, start: usize| {
                let m: Vec<Value> = members
                    .iter()
                    .filter(|(_, d)| from.is_none_or(|f| *d >= f) && only.is_none_or(|o| *d == o))
                    .skip(start)
                    .take(page_size as usize)
                    .map(|(id, d)| created(*id, *d))
                    .collect();
                list(m, false)
            };
            let mut got = std::collections::BTreeSet::new();
            let mut page = query(None, None, 0);
            let mut requests = 0;
            loop {
                requests += 1;
                prop_assert!(requests <= 200, "the read did not end");
                let step = keyset_step(&page, page_size);
                got.extend(ids(&page.list));
                let from = match step {
                    Step::Done => break,
                    Step::From(t) => t,
                    Step::Ties(Some(t)) => {
                        let ms = (t - at(0)).num_milliseconds();
                        let mut start = 0;
                        loop {
                            let tied = query(None, Some(ms), start);
                            let last = is_last(&tied, page_size);
                            got.extend(ids(&tied.list));
                            if last { break; }
                            start += page_size as usize;
                        }
                        t + TimeDelta::milliseconds(1)
                    }
                    Step::Ties(None) => unreachable!("every item is dated"),
                };
                page = query(Some((from - at(0)).num_milliseconds()), None, 0);
            }
            let want: std::collections::BTreeSet<String> =
                members.iter().map(|(id, _)| id.to_string()).collect();
            prop_assert_eq!(got, want);
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
