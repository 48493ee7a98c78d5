//! Reading the unified log by cursor.

use crate::filter::Matcher;
use crate::key;
use crate::sled_store::{SledStore, SourceEnd};
use crate::store::{ReadPage, StoredEvent};
use crate::{Filter, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use tributary_core::{Cursor, CursorError, Seq, SourceId};

/// A read examines at most this many log entries, so a filter that matches little still answers
/// quickly; its cursor then continues the scan.
pub const MAX_SCAN: usize = 10_000;

impl SledStore {
    fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.inner.next_seq.load(Ordering::Acquire) - 1)
    }

    /// The position just before the oldest retained event.
    fn oldest_seq(&self) -> Result<u64, StoreError> {
        let next = self.inner.next_seq.load(Ordering::Acquire);
        Ok(self.inner.retained_from.load(Ordering::Acquire).min(next) - 1)
    }

    pub(crate) fn latest_blocking(&self) -> Result<Cursor, StoreError> {
        Ok(Cursor::new(self.inner.epoch, Seq(self.last_seq()?)))
    }

    pub(crate) fn oldest_blocking(&self) -> Result<Cursor, StoreError> {
        Ok(Cursor::new(self.inner.epoch, Seq(self.oldest_seq()?)))
    }

    pub(crate) fn read_blocking(
        &self,
        after: Option<&Cursor>,
        limit: usize,
        filter: &Filter,
        max_scan: usize,
    ) -> Result<ReadPage, StoreError> {
        let max_scan = max_scan.clamp(1, MAX_SCAN);
        if limit == 0 {
            return Err(StoreError::Invalid {
                what: "page size",
                reason: "must be at least 1".into(),
            });
        }
        let epoch = self.inner.epoch;
        if let Some(c) = after
            && c.epoch != epoch
        {
            return Err(CursorError::ForeignStore { cursor: c.encode() }.into());
        }
        // Read the end first: every entry up to it is already in the log and its index.
        let last = self.last_seq()?;
        let oldest = self.oldest_seq()?;
        let from = after.map_or(oldest, |c| c.seq.get());
        if from < oldest {
            return Err(StoreError::CursorExpired {
                oldest: Cursor::new(epoch, Seq(oldest)),
            });
        }
        if from > last {
            return Err(StoreError::CursorAhead {
                cursor: Seq(from),
                last: Seq(last),
            });
        }

        // What is left to check per entry once the scan itself has chosen the source (or not).
        let residual = match filter.sources.as_slice() {
            [_] => Filter {
                sources: Vec::new(),
                ..filter.clone()
            },
            _ => filter.clone(),
        };
        let matcher = residual.matcher();
        // Checked once, for the check per entry and for `remaining`: a filter on sources alone
        // that names every source in the log (a single tenant's server) matches every entry.
        let covers_log = self.names_every_logged_source(&filter.sources, &matcher);
        let names_all = matcher.on_sources_only() && covers_log;
        let check = !residual.is_empty() && !names_all;
        let mut events = Vec::with_capacity(limit.min(1024));
        let mut examined = from;
        let mut exhausted = true;
        let mut take = |seq: Seq,
                        json: sled::IVec,
                        events: &mut Vec<StoredEvent>|
         -> Result<bool, StoreError> {
            examined = seq.get();
            let keep = !check
                || matcher
                    .matches(&json)
                    .map_err(|e| StoreError::corrupt(format!("log entry {seq}"), e))?;
            if keep {
                events.push(StoredEvent::new(seq, json));
            }
            Ok(events.len() < limit)
        };
        let mut scanned = 0;
        // With one source, the ordinal of its first index entry after the page, if any.
        let mut next_ordinal = None;
        match filter.sources.as_slice() {
            [only] => {
                // One source: walk its index instead of the whole log.
                let prefix = key::source_prefix(only);
                let range = key::source_u64(only, from + 1)..=key::source_u64(only, last);
                let mut index = self.inner.by_source.range(range);
                while let Some(entry) = index.next() {
                    let (k, _) = entry.map_err(StoreError::storage("scanning the source index"))?;
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    let (_, n) = key::split_source_u64(&k)
                        .ok_or_else(|| StoreError::corrupt("index key", format!("{k:?}")))?;
                    let seq = Seq(n);
                    let Some(json) = self
                        .inner
                        .log
                        .get(key::seq_key(seq))
                        .map_err(StoreError::storage("reading the log"))?
                    else {
                        // Removed by retention between the index and the log read.
                        continue;
                    };
                    scanned += 1;
                    if !take(seq, json, &mut events)? || scanned == max_scan {
                        exhausted = false;
                        // The walk's next entry, from the leaf it holds: no new lookup.
                        next_ordinal = Some(self.index_ordinal(index.next())?);
                        break;
                    }
                }
            }
            _ => {
                // Up to `last` only: what a merge appends meanwhile (maybe of a source the
                // check above did not see) is read next time.
                let range = key::seq_key(Seq(from + 1))..=key::seq_key(Seq(last));
                for entry in self.inner.log.range(range) {
                    let (k, json) = entry.map_err(StoreError::storage("scanning the log"))?;
                    let seq = key::seq_from_key(&k)
                        .ok_or_else(|| StoreError::corrupt("log key", format!("{k:?}")))?;
                    scanned += 1;
                    if !take(seq, json, &mut events)? || scanned == max_scan {
                        exhausted = false;
                        break;
                    }
                }
            }
        }
        // A scan that reached the end has seen everything up to `last`.
        let position = if exhausted {
            examined.max(last)
        } else {
            examined
        };
        let remaining = if exhausted {
            0
        } else {
            self.remaining_after(&filter.sources, covers_log, position, last, next_ordinal)?
        };
        // Nothing of the filter's sources lies beyond: the next read starts at the end.
        let position = if remaining == 0 { last } else { position };
        Ok(ReadPage {
            events,
            cursor: Cursor::new(epoch, Seq(position)),
            remaining,
        })
    }

    /// The entries of `sources` in the log after `position` up to `last`, before any other
    /// filter: exact, and blind to other tenants' entries. A read whose sources cover the log
    /// (`covers_log`) takes the difference of positions. Otherwise each named source's count is
    /// its newest entry's ordinal (kept in memory; see [`key::ordinal`]) less that of its first
    /// entry after `position` (`next_ordinal` for a one-source read, which found it while
    /// walking; else one index lookup), plus one.
    fn remaining_after(
        &self,
        sources: &[SourceId],
        covers_log: bool,
        position: u64,
        last: u64,
        next_ordinal: Option<Option<u64>>,
    ) -> Result<u64, StoreError> {
        let all = last.saturating_sub(position);
        if all == 0 || covers_log {
            return Ok(all);
        }
        let logged = self
            .inner
            .logged_sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut count = 0;
        let mut counted = HashSet::new();
        for source in sources {
            let Some(&newest) = logged.get(source.as_str().as_bytes()) else {
                continue;
            };
            if newest.seq <= position || !counted.insert(source) {
                continue;
            }
            let after = key::source_u64(source, position + 1)..=key::source_u64(source, last);
            let first = match next_ordinal {
                Some(found) => found,
                None => self.index_ordinal(self.inner.by_source.range(after.clone()).next())?,
            };
            let Some(first) = first else {
                continue;
            };
            // A merge published since this read took `last`: look its newest entry up.
            let newest = if newest.seq <= last {
                newest.ordinal
            } else {
                self.index_ordinal(self.inner.by_source.range(after).next_back())?
                    .unwrap_or(first)
            };
            count += newest.saturating_sub(first) + 1;
        }
        Ok(count)
    }

    /// The ordinal of an index entry an iterator gave, if any.
    fn index_ordinal(
        &self,
        entry: Option<sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Result<Option<u64>, StoreError> {
        match entry {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry.map_err(StoreError::storage("reading the source index"))?;
                key::ordinal(&k, &v).map(Some)
            }
        }
    }

    /// True when `sources` (every source when empty) include every source that has entries in
    /// the log; `matcher` admits them when there are two or more.
    fn names_every_logged_source(&self, sources: &[SourceId], matcher: &Matcher<'_>) -> bool {
        let logged = self
            .inner
            .logged_sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match sources {
            [] => true,
            // Fewer names than sources in the log cannot cover it.
            _ if sources.len() < logged.len() => false,
            [only] => admits_every(&logged, |s| s == only.as_str()),
            _ => admits_every(&logged, |s| matcher.admits_source(s)),
        }
    }
}

/// True when `admits` takes every source in `logged`.
fn admits_every(logged: &HashMap<Vec<u8>, SourceEnd>, admits: impl Fn(&str) -> bool) -> bool {
    logged
        .keys()
        .all(|s| std::str::from_utf8(s).is_ok_and(&admits))
}
