//! The watermark-gated k-way merge of one tenant's pending queues into that tenant's log.
//!
//! A tenant's queues are one contiguous range of the pending tree (`tenant | incarnation | n`),
//! so a merge reads only its own tenant's data: its cost does not grow with the number of
//! tenants. Each source's queue is its pending batches in key order, each batch its frames in order (see
//! [`crate::pending`]). The merge repeatedly takes the queue head with the smallest
//! `(occurred_at, source)` while it is below the frontier, publishes it with the next position,
//! and commits up to [`MERGE_BATCH`] events per transaction: consumed batches are removed, a
//! partly consumed one is rewritten with its remaining frames.

use crate::StoreError;
use crate::key;
use crate::pending::{self, Frame};
use crate::sled_store::{SledStore, SourceEnd, TenantLog, TenantRecord, encode_json};
use crate::store::MergeReport;
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
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
    incarnation: u64,
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

/// A queue's head in the merge's heap: `(occurred_at ms, source id, incarnation, queue index)`,
/// so ties break by the source id readers see.
type Head = (i64, Arc<str>, u64, usize);

/// Writes a merge step commits.
#[derive(Default)]
struct Plan {
    /// `(seq, log value, incarnation, ordinal)` for the log and its index.
    published: Vec<(Seq, Vec<u8>, u64, u64)>,
    /// Batches used up.
    consumed: Vec<sled::IVec>,
    /// Batches partly used: their key and remaining frames.
    rewritten: Vec<(sled::IVec, Vec<u8>)>,
    late: u64,
    last_time: Option<i64>,
}

/// What a merge wrote, to show readers once it is on disk ([`Published::publish`]).
pub(crate) struct Published {
    log: Arc<TenantLog>,
    /// Each incarnation's newest entry merged.
    ends: HashMap<u64, SourceEnd>,
}

impl Published {
    /// Shows readers the tenant's log up to `last`, once the merge that wrote it is flushed:
    /// first each incarnation's newest entry, then the end itself, so a reader that sees the
    /// end also sees every source in it. Merges may finish out of order, so both only move
    /// forward.
    pub(crate) fn publish(self, last: Seq) {
        if !self.ends.is_empty() {
            let mut ends = self
                .log
                .ends
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for (inc, end) in self.ends {
                let newest = ends.entry(inc).or_insert(end);
                if end.seq > newest.seq {
                    *newest = end;
                }
            }
        }
        self.log
            .next_seq
            .fetch_max(last.get() + 1, std::sync::atomic::Ordering::Release);
    }
}

impl SledStore {
    /// The tenant's record as last committed (its log's next position and last time merged).
    fn tenant_record(&self, log: &TenantLog) -> TenantRecord {
        *log.committed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Merges what the frontier allows of the tenant's pending events into its log and commits
    /// it, without showing it to readers: they read up to the mirrored end, which
    /// [`Published::publish`] moves once the merge is on disk, so a reader never sees a position
    /// that a crash could reassign. A tenant without sources merges nothing.
    #[cfg(test)]
    pub(crate) fn merge_blocking(
        &self,
        tenant: &str,
        frontier: DateTime<Utc>,
    ) -> Result<(MergeReport, Option<Published>), StoreError> {
        let mut merged = self.merge_many_blocking(&[(tenant.to_owned(), frontier)])?;
        Ok(merged.pop().unwrap_or_default())
    }

    /// [`SledStore::merge_blocking`] for several tenants, one result per tenant in the order
    /// given. Their steps share transactions of up to [`MERGE_BATCH`] events, so merging a
    /// few events of each of many tenants costs about what merging as many events of one does.
    pub(crate) fn merge_many_blocking(
        &self,
        frontiers: &[(String, DateTime<Utc>)],
    ) -> Result<Vec<(MergeReport, Option<Published>)>, StoreError> {
        let _writer = self.write_lock();
        let mut out = Vec::with_capacity(frontiers.len());
        // Planned steps not yet committed, and their events.
        let mut steps: Vec<(Arc<TenantLog>, Plan, TenantRecord)> = Vec::new();
        let mut planned = 0usize;
        for (tenant, frontier) in frontiers {
            let Some(log) = self.tenant(tenant) else {
                out.push((MergeReport::default(), None));
                continue;
            };
            // A tenant named twice plans from what its first steps committed.
            if steps.iter().any(|(l, _, _)| l.no == log.no) {
                self.apply_merges(&steps)?;
                steps.clear();
                planned = 0;
            }
            let mut report = MergeReport::default();
            let mut ends = HashMap::new();
            loop {
                let mut record = self.tenant_record(&log);
                let next_seq = record.next_seq;
                let plan =
                    self.plan_merge(&log, frontier_ms(*frontier), next_seq, record.last_time)?;
                let n = plan.published.len();
                report.merged += n as u64;
                report.late += plan.late;
                report.last = Seq(next_seq + n as u64 - 1);
                if n > 0 {
                    record.next_seq = next_seq + n as u64;
                    record.last_time = plan.last_time.or(record.last_time);
                    for (seq, _, inc, ordinal) in &plan.published {
                        let end = SourceEnd {
                            seq: seq.get(),
                            ordinal: *ordinal,
                        };
                        ends.insert(*inc, end);
                    }
                    steps.push((Arc::clone(&log), plan, record));
                    planned += n;
                    // A full step must commit before this tenant plans its next one.
                    if n == MERGE_BATCH || planned >= MERGE_BATCH {
                        self.apply_merges(&steps)?;
                        steps.clear();
                        planned = 0;
                    }
                }
                if n < MERGE_BATCH {
                    break;
                }
            }
            out.push((report, Some(Published { log, ends })));
        }
        if !steps.is_empty() {
            self.apply_merges(&steps)?;
        }
        Ok(out)
    }

    /// Picks up to [`MERGE_BATCH`] events in merge order below `frontier_ms`, assigning
    /// positions from `next_seq`.
    fn plan_merge(
        &self,
        log: &TenantLog,
        frontier_ms: i64,
        next_seq: u64,
        mut last_time: Option<i64>,
    ) -> Result<Plan, StoreError> {
        let pending = &self.inner.pending;
        let mut plan = Plan::default();
        let mut queues = Vec::new();
        // Ties break by the source's id (what readers see), then by incarnation.
        let mut heap: BinaryHeap<Reverse<Head>> = BinaryHeap::new();
        let names = self.source_names(log);

        for inc in self.pending_incarnations(log.no)? {
            let name: Arc<str> = names
                .get(&inc)
                .cloned()
                .unwrap_or_else(|| Arc::from(format!("#{inc}")));
            let mut queue = Queue {
                batches: pending.scan_prefix(key::pair(log.no, inc)),
                incarnation: inc,
                current: None,
                offset: 0,
                ordinal: None,
            };
            if let Some(frame) = queue.head(&mut plan.consumed)? {
                heap.push(Reverse((frame.occurred_ms, name, inc, queues.len())));
            }
            queues.push(queue);
        }

        while plan.published.len() < MERGE_BATCH {
            let Some(Reverse((ms, name, _, i))) = heap.pop() else {
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
            let ordinal = match queue.ordinal {
                Some(n) => n + 1,
                None => self.committed_ordinal(queue.incarnation)? + 1,
            };
            queue.ordinal = Some(ordinal);
            let json = pending::log_json(&frame, seq, late);
            plan.published.push((
                seq,
                key::entry(queue.incarnation, ms, &json),
                queue.incarnation,
                ordinal,
            ));
            queue.offset = next;
            if let Some(frame) = queue.head(&mut plan.consumed)? {
                heap.push(Reverse((frame.occurred_ms, name, queue.incarnation, i)));
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

    /// Commits planned merge steps (of one or several tenants) in one transaction.
    fn apply_merges(
        &self,
        steps: &[(Arc<TenantLog>, Plan, TenantRecord)],
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let records = steps
            .iter()
            .map(|(_, _, record)| encode_json(record, "tenant"))
            .collect::<Result<Vec<_>, _>>()?;
        (&inner.pending, &inner.log, &inner.by_source, &inner.tenants).transaction(
            |(pending, log_tree, by_source, tenants)| {
                for ((log, plan, _), record) in steps.iter().zip(&records) {
                    for key in &plan.consumed {
                        pending.remove(key)?;
                    }
                    for (key, rest) in &plan.rewritten {
                        pending.insert(key, rest.as_slice())?;
                    }
                    for (seq, value, inc, ordinal) in &plan.published {
                        log_tree.insert(&key::log_key(log.no, *seq)[..], value.as_slice())?;
                        by_source
                            .insert(&key::pair(*inc, seq.get())[..], &ordinal.to_be_bytes())?;
                    }
                    tenants.insert(log.name.as_bytes(), record.as_slice())?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            },
        )?;
        // Committed: what the next merge plans from.
        let mut ordinals = self
            .inner
            .ordinals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (log, plan, record) in steps {
            *log.committed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = *record;
            for (_, _, inc, ordinal) in &plan.published {
                ordinals.insert(*inc, *ordinal);
            }
        }
        Ok(())
    }

    /// The ordinal of the incarnation's newest committed entry in the log index, 0 when it has
    /// none: from memory, or the index the first time.
    fn committed_ordinal(&self, incarnation: u64) -> Result<u64, StoreError> {
        let known = self
            .inner
            .ordinals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&incarnation)
            .copied();
        match known {
            Some(n) => Ok(n),
            None => {
                let n = self.last_ordinal(incarnation)?;
                self.inner
                    .ordinals
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(incarnation, n);
                Ok(n)
            }
        }
    }

    /// The ordinal of the incarnation's newest entry in the log index, 0 when it has none.
    pub(crate) fn last_ordinal(&self, incarnation: u64) -> Result<u64, StoreError> {
        match self
            .inner
            .by_source
            .scan_prefix(incarnation.to_be_bytes())
            .next_back()
        {
            None => Ok(0),
            Some(entry) => {
                let (k, v) = entry.map_err(StoreError::storage("reading the source index"))?;
                key::ordinal(&k, &v)
            }
        }
    }

    /// The incarnations of the tenant with pending batches, in key order: one seek each,
    /// skipping from one incarnation's batches to the next.
    fn pending_incarnations(&self, tenant: u64) -> Result<Vec<u64>, StoreError> {
        let mut found = Vec::new();
        let end = key::pair(tenant.saturating_add(1), 0);
        let mut from = key::pair(tenant, 0).to_vec();
        while let Some((k, _)) = self
            .inner
            .pending
            .range(from.as_slice()..&end[..])
            .next()
            .transpose()
            .map_err(StoreError::storage("scanning pending events"))?
        {
            let inc = key::need_num(&k, 1, "pending")?;
            found.push(inc);
            match inc.checked_add(1) {
                Some(next) => from = key::pair(tenant, next).to_vec(),
                None => break,
            }
        }
        Ok(found)
    }

    /// The tenant's live sources' ids, by incarnation.
    fn source_names(&self, log: &TenantLog) -> HashMap<u64, Arc<str>> {
        log.names
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, &inc)| (inc, Arc::from(id.as_str())))
            .collect()
    }
}
