//! The watermark-gated k-way merge of the per-source pending queues into the unified log.
//!
//! Each source's queue is its pending batches in key order, each batch its frames in order (see
//! [`crate::pending`]). The merge repeatedly takes the queue head with the smallest
//! `(occurred_at, source)` while it is below the frontier, publishes it with the next position,
//! and commits up to [`MERGE_BATCH`] events per transaction: consumed batches are removed, a
//! partly consumed one is rewritten with its remaining frames.

use crate::StoreError;
use crate::key;
use crate::pending::{self, Frame};
use crate::sled_store::{META_LAST_TIME, META_NEXT_SEQ, SledStore, SourceEnd, sources_in};
use crate::store::MergeReport;
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use tributary_core::Seq;

/// At most this many events move in one transaction; a merge of more commits in steps.
pub(crate) const MERGE_BATCH: usize = 4_096;

/// The frontier in whole milliseconds, rounded up: an event (millisecond precision) is below
/// `frontier` exactly when its milliseconds are below this.
fn frontier_ms(frontier: DateTime<Utc>) -> i64 {
    let ms = frontier.timestamp_millis();
    if frontier.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms.saturating_add(1)
    }
}

/// One source's queue during a merge: its batches and where we are in the current one.
struct Queue {
    prefix: Vec<u8>,
    batches: sled::Iter,
    current: Option<(sled::IVec, sled::IVec)>,
    /// Byte offset of the next unconsumed frame in `current`.
    offset: usize,
    /// The source's last ordinal in the log index, once its first event is published.
    ordinal: Option<u64>,
}

impl Queue {
    /// The next frame, loading the next batch when the current one is used up.
    fn head(&mut self, done: &mut Vec<sled::IVec>) -> Result<Option<Frame<'_>>, StoreError> {
        loop {
            match &self.current {
                Some((_, value)) if self.offset < value.len() => break,
                Some((key, _)) => {
                    done.push(key.clone());
                    self.current = None;
                }
                None => {}
            }
            match self.batches.next() {
                None => return Ok(None),
                Some(entry) => {
                    self.current =
                        Some(entry.map_err(StoreError::storage("scanning pending events"))?);
                    self.offset = 0;
                }
            }
        }
        let Some((_, value)) = &self.current else {
            return Ok(None);
        };
        Ok(Some(pending::frame_at(value, self.offset)?.0))
    }
}

/// Writes a merge step commits.
#[derive(Default)]
struct Plan {
    /// `(seq, json, source index key, ordinal)` for the log and its index.
    published: Vec<(Seq, Vec<u8>, Vec<u8>, u64)>,
    /// Batches used up.
    consumed: Vec<sled::IVec>,
    /// Batches partly used: their key and remaining frames.
    rewritten: Vec<(sled::IVec, Vec<u8>)>,
    late: u64,
    last_time: Option<i64>,
}

impl SledStore {
    /// Merges what the frontier allows into the log and commits it, without showing it to
    /// readers: they read up to the mirrored end, which [`SledStore::publish`] moves once the
    /// merge is on disk, so a reader never sees a position that a crash could reassign. Returns
    /// the newest entry merged of each source, for `publish`.
    pub(crate) fn merge_blocking(
        &self,
        frontier: DateTime<Utc>,
    ) -> Result<(MergeReport, HashMap<Vec<u8>, SourceEnd>), StoreError> {
        let _writer = self.write_lock();
        let mut report = MergeReport::default();
        let mut ends = HashMap::new();
        loop {
            let next_seq = self.meta_u64(META_NEXT_SEQ, 1)?;
            let last_time = match self
                .inner
                .meta
                .get(META_LAST_TIME)
                .map_err(StoreError::storage("reading meta"))?
            {
                Some(v) => Some(crate::sled_store::decode_u64(&v, "last_time")? as i64),
                None => None,
            };
            let plan = self.plan_merge(frontier_ms(frontier), next_seq, last_time)?;
            let n = plan.published.len() as u64;
            if n > 0 {
                self.apply_merge(&plan, next_seq + n)?;
                for (seq, _, index_key, ordinal) in &plan.published {
                    if let Some((source, _)) = key::split_source_u64(index_key) {
                        let end = SourceEnd {
                            seq: seq.get(),
                            ordinal: *ordinal,
                        };
                        ends.insert(source.to_vec(), end);
                    }
                }
            }
            report.merged += n;
            report.late += plan.late;
            report.last = Seq(next_seq + n - 1);
            if n < MERGE_BATCH as u64 {
                return Ok((report, ends));
            }
        }
    }

    /// Picks up to [`MERGE_BATCH`] events in merge order below `frontier_ms`, assigning
    /// positions from `next_seq`.
    fn plan_merge(
        &self,
        frontier_ms: i64,
        next_seq: u64,
        mut last_time: Option<i64>,
    ) -> Result<Plan, StoreError> {
        let pending = &self.inner.pending;
        let mut plan = Plan::default();
        let mut queues = Vec::new();
        let mut heap: BinaryHeap<Reverse<(i64, Vec<u8>, usize)>> = BinaryHeap::new();

        for source in sources_in(pending, "scanning pending events")? {
            let mut prefix = source;
            prefix.push(key::SEP);
            let mut queue = Queue {
                batches: pending.scan_prefix(&prefix),
                prefix,
                current: None,
                offset: 0,
                ordinal: None,
            };
            if let Some(frame) = queue.head(&mut plan.consumed)? {
                heap.push(Reverse((
                    frame.occurred_ms,
                    queue.prefix.clone(),
                    queues.len(),
                )));
            }
            queues.push(queue);
        }

        while plan.published.len() < MERGE_BATCH {
            let Some(Reverse((ms, _, i))) = heap.pop() else {
                break;
            };
            if ms >= frontier_ms {
                // The smallest head is not below the frontier, so none is.
                break;
            }
            let queue = &mut queues[i];
            let Some((_, batch)) = &queue.current else {
                break;
            };
            let (frame, next) = pending::frame_at(batch, queue.offset)?;
            let seq = Seq(next_seq + plan.published.len() as u64);
            let late = last_time.is_some_and(|t| ms < t);
            plan.late += u64::from(late);
            last_time = Some(last_time.map_or(ms, |t| t.max(ms)));
            let mut index_key = queue.prefix.clone();
            index_key.extend_from_slice(&seq.to_be_bytes());
            let ordinal = match queue.ordinal {
                Some(n) => n + 1,
                None => self.last_ordinal(&queue.prefix)? + 1,
            };
            queue.ordinal = Some(ordinal);
            plan.published.push((
                seq,
                pending::log_json(&frame, seq, late),
                index_key,
                ordinal,
            ));
            queue.offset = next;
            if let Some(frame) = queue.head(&mut plan.consumed)? {
                heap.push(Reverse((frame.occurred_ms, queue.prefix.clone(), i)));
            }
        }
        for queue in &queues {
            if let Some((key, batch)) = &queue.current
                && queue.offset > 0
                && queue.offset < batch.len()
            {
                plan.rewritten
                    .push((key.clone(), batch[queue.offset..].to_vec()));
            }
        }
        plan.last_time = last_time;
        Ok(plan)
    }

    fn apply_merge(&self, plan: &Plan, next_seq: u64) -> Result<(), StoreError> {
        let inner = &self.inner;
        (&inner.pending, &inner.log, &inner.by_source, &inner.meta).transaction(
            |(pending, log, by_source, meta)| {
                for key in &plan.consumed {
                    pending.remove(key)?;
                }
                for (key, rest) in &plan.rewritten {
                    pending.insert(key, rest.as_slice())?;
                }
                for (seq, json, index_key, ordinal) in &plan.published {
                    log.insert(&key::seq_key(*seq), json.as_slice())?;
                    by_source.insert(index_key.as_slice(), &ordinal.to_be_bytes())?;
                }
                meta.insert(META_NEXT_SEQ, &next_seq.to_be_bytes())?;
                if let Some(t) = plan.last_time {
                    meta.insert(META_LAST_TIME, &(t as u64).to_be_bytes())?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            },
        )?;
        Ok(())
    }

    /// The ordinal of the source's newest entry in the log index (`prefix` is `source \0`), 0
    /// when it has none.
    fn last_ordinal(&self, prefix: &[u8]) -> Result<u64, StoreError> {
        let end = key::after_source(&prefix[..prefix.len() - 1]);
        match self
            .inner
            .by_source
            .range(prefix..end.as_slice())
            .next_back()
        {
            None => Ok(0),
            Some(entry) => {
                let (k, v) = entry.map_err(StoreError::storage("reading the source index"))?;
                key::ordinal(&k, &v)
            }
        }
    }

    /// Shows readers the log up to `last`, once the merge that wrote it is flushed: first each
    /// source's newest entry (`ends`), then the end itself, so a reader that sees the end also
    /// sees every source in it. Merges may finish out of order, so both only move forward.
    pub(crate) fn publish(&self, last: Seq, ends: HashMap<Vec<u8>, SourceEnd>) {
        if !ends.is_empty() {
            let mut logged = self
                .inner
                .logged_sources
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (source, end) in ends {
                let newest = logged.entry(source).or_insert(end);
                if end.seq > newest.seq {
                    *newest = end;
                }
            }
        }
        self.inner
            .next_seq
            .fetch_max(last.get() + 1, std::sync::atomic::Ordering::Release);
    }
}
