//! The watermark-gated k-way merge of the per-source pending queues into the unified log.

use crate::StoreError;
use crate::key;
use crate::sled_store::{META_LAST_TIME, META_NEXT_SEQ, SledStore, decode_json, encode_json};
use crate::store::MergeReport;
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tributary_core::{Event, Seq};

/// At most this many events move in one transaction; a merge of more commits in steps.
pub(crate) const MERGE_BATCH: usize = 4_096;

/// One source's queue during a merge.
struct Queue {
    prefix: Vec<u8>,
    iter: sled::Iter,
}

/// A queue's head: ordered by `(occurred_at, source)`, then by queue index (equal sources cannot
/// occur, so the index only keeps the order total).
type Head = Reverse<(DateTime<Utc>, Vec<u8>, usize)>;

struct Move {
    pending_key: sled::IVec,
    index_key: Vec<u8>,
    seq: Seq,
    json: Vec<u8>,
}

impl SledStore {
    pub(crate) fn merge_blocking(
        &self,
        frontier: DateTime<Utc>,
    ) -> Result<MergeReport, StoreError> {
        let _writer = self.write_lock();
        let mut report = MergeReport::default();
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
            let (moves, late, new_last_time) = self.plan_merge(frontier, next_seq, last_time)?;
            let n = moves.len();
            if n > 0 {
                self.apply_merge(&moves, next_seq + n as u64, new_last_time)?;
            }
            report.merged += n as u64;
            report.late += late;
            report.last = Seq(next_seq + n as u64 - 1);
            if n < MERGE_BATCH {
                return Ok(report);
            }
        }
    }

    /// Picks up to [`MERGE_BATCH`] events in merge order, assigning positions from `next_seq`.
    fn plan_merge(
        &self,
        frontier: DateTime<Utc>,
        next_seq: u64,
        mut last_time: Option<i64>,
    ) -> Result<(Vec<Move>, u64, Option<i64>), StoreError> {
        let pending = &self.inner.pending;
        let mut queues = Vec::new();
        let mut heap: BinaryHeap<Head> = BinaryHeap::new();
        let mut heads: Vec<Option<(sled::IVec, Event)>> = Vec::new();

        // Find every source with pending events by skipping from one source's keys to the next.
        let mut from = Vec::new();
        while let Some((k, _)) = pending
            .range(from.as_slice()..)
            .next()
            .transpose()
            .map_err(StoreError::storage("scanning pending events"))?
        {
            let (source, _) = key::split_source_u64(&k)
                .ok_or_else(|| StoreError::corrupt("pending key", format!("{k:?}")))?;
            let mut prefix = source.to_vec();
            prefix.push(key::SEP);
            from = key::after_source(source);
            let mut queue = Queue {
                iter: pending.scan_prefix(&prefix),
                prefix,
            };
            let head = next_head(&mut queue)?;
            if let Some((_, event)) = &head {
                heap.push(Reverse((
                    event.occurred_at,
                    queue.prefix.clone(),
                    queues.len(),
                )));
            }
            heads.push(head);
            queues.push(queue);
        }

        let mut moves = Vec::new();
        let mut late = 0;
        while moves.len() < MERGE_BATCH {
            let Some(Reverse((time, _, i))) = heap.pop() else {
                break;
            };
            if time >= frontier {
                // The smallest head is not below the frontier, so none is.
                break;
            }
            let Some((pending_key, mut event)) = heads[i].take() else {
                break;
            };
            let seq = Seq(next_seq + moves.len() as u64);
            let millis = time.timestamp_millis();
            event.seq = Some(seq);
            event.late = last_time.is_some_and(|t| millis < t);
            late += u64::from(event.late);
            last_time = Some(last_time.map_or(millis, |t| t.max(millis)));
            let mut index_key = queues[i].prefix.clone();
            index_key.extend_from_slice(&seq.to_be_bytes());
            moves.push(Move {
                pending_key,
                index_key,
                seq,
                json: encode_json(&event, "event")?,
            });

            heads[i] = next_head(&mut queues[i])?;
            if let Some((_, event)) = &heads[i] {
                heap.push(Reverse((event.occurred_at, queues[i].prefix.clone(), i)));
            }
        }
        Ok((moves, late, last_time))
    }

    fn apply_merge(
        &self,
        moves: &[Move],
        next_seq: u64,
        last_time: Option<i64>,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        (&inner.pending, &inner.log, &inner.by_source, &inner.meta).transaction(
            |(pending, log, by_source, meta)| {
                for m in moves {
                    pending.remove(&m.pending_key)?;
                    log.insert(&key::seq_key(m.seq), m.json.as_slice())?;
                    by_source.insert(m.index_key.as_slice(), &[][..])?;
                }
                meta.insert(META_NEXT_SEQ, &next_seq.to_be_bytes())?;
                if let Some(t) = last_time {
                    meta.insert(META_LAST_TIME, &(t as u64).to_be_bytes())?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            },
        )?;
        Ok(())
    }
}

fn next_head(queue: &mut Queue) -> Result<Option<(sled::IVec, Event)>, StoreError> {
    match queue.iter.next() {
        None => Ok(None),
        Some(entry) => {
            let (k, v) = entry.map_err(StoreError::storage("scanning pending events"))?;
            let event = decode_json(&v, || format!("pending event {k:?}"))?;
            Ok(Some((k, event)))
        }
    }
}
