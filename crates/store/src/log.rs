//! Reading a tenant's log by cursor.

use crate::key;
use crate::sled_store::{SledStore, TenantLog, stream_key};
use crate::store::{ReadPage, StoredEvent};
use crate::{Filter, StoreError};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tributary_core::{Cursor, CursorError, Seq};

/// A read examines at most this many log entries, so a filter that matches little still answers
/// quickly; its cursor then continues the scan.
pub const MAX_SCAN: usize = 10_000;

/// Where a tenant's log stands for a reader: its key, last position and oldest cursor position.
struct Bounds {
    key: u64,
    last: u64,
    oldest: u64,
}

impl Bounds {
    fn of(log: &TenantLog) -> Self {
        let next = log.next_seq.load(Ordering::Acquire);
        let retained = log.retained_from.load(Ordering::Acquire);
        Self {
            key: log.key,
            last: next - 1,
            oldest: retained.min(next) - 1,
        }
    }
}

impl SledStore {
    fn bounds(&self, tenant: &str) -> Bounds {
        match self.tenant(tenant) {
            Some(log) => Bounds::of(&log),
            None => Bounds {
                key: stream_key(self.inner.epoch, tenant),
                last: 0,
                oldest: 0,
            },
        }
    }

    pub(crate) fn latest_blocking(&self, tenant: &str) -> Cursor {
        let b = self.bounds(tenant);
        Cursor::new(b.key, Seq(b.last))
    }

    pub(crate) fn oldest_blocking(&self, tenant: &str) -> Cursor {
        let b = self.bounds(tenant);
        Cursor::new(b.key, Seq(b.oldest))
    }

    pub(crate) fn read_blocking(
        &self,
        tenant: &str,
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
        let log = self.tenant(tenant);
        // Read the end first: every entry up to it is already in the log and its index.
        let Bounds { key, last, oldest } = match &log {
            Some(log) => Bounds::of(log),
            None => self.bounds(tenant),
        };
        if let Some(c) = after
            && c.epoch != key
        {
            return Err(CursorError::Foreign { cursor: c.encode() }.into());
        }
        let from = after.map_or(oldest, |c| c.seq.get());
        if from < oldest {
            return Err(StoreError::CursorExpired {
                oldest: Cursor::new(key, Seq(oldest)),
            });
        }
        if from > last {
            return Err(StoreError::CursorAhead {
                cursor: Seq(from),
                last: Seq(last),
            });
        }
        // The filter's sources, as the live incarnations of this tenant.
        let mut incarnations = Vec::with_capacity(filter.sources.len());
        for id in &filter.sources {
            let inc = log.as_ref().and_then(|l| l.incarnation(id));
            match inc {
                Some(inc) => incarnations.push(inc),
                None => {
                    return Err(StoreError::UnknownSource {
                        source_id: id.to_string(),
                    });
                }
            }
        }
        let Some(log) = log else {
            // A tenant that never had a source: an empty log.
            return Ok(ReadPage {
                events: Vec::new(),
                cursor: Cursor::new(key, Seq(last)),
                remaining: 0,
            });
        };
        incarnations.sort_unstable();
        incarnations.dedup();

        let matcher = filter.matcher();
        let check_rest = !matcher.on_sources_only_or_nothing();
        let one = match incarnations.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let wanted: HashSet<u64> = incarnations.iter().copied().collect();
        let check_source = one.is_none() && !wanted.is_empty();
        let mut events = Vec::with_capacity(limit.min(1024));
        let mut examined = from;
        let mut exhausted = true;
        let mut take = |seq: Seq,
                        value: sled::IVec,
                        events: &mut Vec<StoredEvent>|
         -> Result<bool, StoreError> {
            examined = seq.get();
            let (inc, _) = key::entry_header(&value).ok_or_else(|| {
                StoreError::corrupt(format!("log entry {seq}"), "no entry header")
            })?;
            let json = value.subslice(key::ENTRY_HEADER, value.len() - key::ENTRY_HEADER);
            let keep = (!check_source || wanted.contains(&inc))
                && (!check_rest
                    || matcher
                        .matches(&json)
                        .map_err(|e| StoreError::corrupt(format!("log entry {seq}"), e))?);
            if keep {
                events.push(StoredEvent::shared(seq, json));
            }
            Ok(events.len() < limit)
        };
        let mut scanned = 0;
        // With one source, the ordinal of its first index entry after the page, if any.
        let mut next_ordinal = None;
        match one {
            Some(inc) => {
                // One source: walk its index instead of the whole log.
                let range = key::pair(inc, from + 1)..=key::pair(inc, last);
                let mut index = self.inner.by_source.range(range);
                while let Some(entry) = index.next() {
                    let (k, _) = entry.map_err(StoreError::storage("scanning the source index"))?;
                    let seq = Seq(key::need_num(&k, 1, "source index")?);
                    let Some(value) = self
                        .inner
                        .log
                        .get(key::log_key(log.no, seq))
                        .map_err(StoreError::storage("reading the log"))?
                    else {
                        // Removed by retention between the index and the log read.
                        continue;
                    };
                    scanned += 1;
                    if !take(seq, value, &mut events)? || scanned == max_scan {
                        exhausted = false;
                        // The walk's next entry, from the leaf it holds: no new lookup.
                        next_ordinal = Some(index_ordinal(index.next())?);
                        break;
                    }
                }
            }
            None => {
                // Up to `last` only: what a merge appends meanwhile is read next time.
                let range = key::log_key(log.no, Seq(from + 1))..=key::log_key(log.no, Seq(last));
                for entry in self.inner.log.range(range) {
                    let (k, value) = entry.map_err(StoreError::storage("scanning the log"))?;
                    let seq = Seq(key::need_num(&k, 1, "log")?);
                    scanned += 1;
                    if !take(seq, value, &mut events)? || scanned == max_scan {
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
        } else if incarnations.is_empty() {
            // The whole log: O(1).
            last - position
        } else {
            self.remaining_after(&log, &incarnations, position, last, next_ordinal)?
        };
        // Nothing of the filter's sources lies beyond: the next read starts at the end.
        let position = if remaining == 0 { last } else { position };
        Ok(ReadPage {
            events,
            cursor: Cursor::new(key, Seq(position)),
            remaining,
        })
    }

    /// The entries of `incarnations` in the tenant's log after `position` up to `last`: per
    /// incarnation, its newest entry's ordinal (kept in memory; see [`key::ordinal`]) less that
    /// of its first entry after `position` (`next_ordinal` for a one-source read, which found
    /// it while walking; else one index lookup), plus one.
    fn remaining_after(
        &self,
        log: &TenantLog,
        incarnations: &[u64],
        position: u64,
        last: u64,
        next_ordinal: Option<Option<u64>>,
    ) -> Result<u64, StoreError> {
        if last <= position {
            return Ok(0);
        }
        let ends = log.ends();
        let mut count = 0;
        for &inc in incarnations {
            let Some(&newest) = ends.get(&inc) else {
                continue;
            };
            if newest.seq <= position {
                continue;
            }
            let after = key::pair(inc, position + 1)..=key::pair(inc, last);
            let first = match next_ordinal {
                Some(found) => found,
                None => index_ordinal(self.inner.by_source.range(after.clone()).next())?,
            };
            let Some(first) = first else {
                continue;
            };
            // A merge published since this read took `last`: look its newest entry up.
            let newest = if newest.seq <= last {
                newest.ordinal
            } else {
                index_ordinal(self.inner.by_source.range(after).next_back())?.unwrap_or(first)
            };
            count += newest.saturating_sub(first) + 1;
        }
        Ok(count)
    }
}

/// The ordinal of an index entry an iterator gave, if any.
fn index_ordinal(
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
