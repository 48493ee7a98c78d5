//! Removing old events from the oldest end of each tenant's log.

use crate::StoreError;
use crate::key;
use crate::sled_store::{SledStore, TenantLog};
use crate::store::{Retention, RetentionReport};
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Entries removed per transaction.
const RETENTION_BATCH: usize = 4_096;

impl SledStore {
    /// The deduplication index keeps the ids of removed events, so a provider that replays old
    /// pages after retention still cannot bring them back. Each tenant's log is pruned on its
    /// own: `max_events` counts one tenant's entries.
    pub(crate) fn retention_blocking(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let _writer = self.write_lock();
        let cutoff_ms = match retention.max_age {
            Some(age) => Some(
                (now - chrono::Duration::from_std(age).map_err(|e| StoreError::Invalid {
                    what: "retention max_age",
                    reason: e.to_string(),
                })?)
                .timestamp_millis(),
            ),
            None => None,
        };
        let tenants: Vec<Arc<TenantLog>> = self.catalog().tenants.values().cloned().collect();
        let mut removed = 0;
        for log in tenants {
            removed += self.prune(&log, retention.max_events, cutoff_ms)?;
        }
        Ok(RetentionReport { removed })
    }

    fn prune(
        &self,
        log: &TenantLog,
        max_events: Option<u64>,
        cutoff_ms: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        loop {
            let next = log.next_seq.load(Ordering::Acquire);
            let oldest = log.retained_from.load(Ordering::Acquire).min(next);
            let mut over_count = max_events.map_or(0, |max| (next - oldest).saturating_sub(max));
            let mut batch = Vec::new();
            let range = key::pair(log.no, oldest)..key::pair(log.no, next);
            for entry in self.inner.log.range(range) {
                if batch.len() == RETENTION_BATCH {
                    break;
                }
                let (k, value) = entry.map_err(StoreError::storage("scanning the log"))?;
                let (inc, ms) = key::entry_header(&value)
                    .ok_or_else(|| StoreError::corrupt(format!("log entry {k:?}"), "no header"))?;
                let too_old = cutoff_ms.is_some_and(|c| ms < c);
                if over_count == 0 && !too_old {
                    break;
                }
                over_count = over_count.saturating_sub(1);
                let seq = key::need_num(&k, 1, "log")?;
                batch.push((k, key::pair(inc, seq), seq));
            }
            let Some(&(_, _, newest)) = batch.last() else {
                return Ok(removed);
            };
            let inner = &self.inner;
            (&inner.log, &inner.by_source).transaction(|(log_tree, by_source)| {
                for (log_key, index_key, _) in &batch {
                    log_tree.remove(log_key)?;
                    by_source.remove(&index_key[..])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            })?;
            removed += batch.len() as u64;
            log.retained_from.store(newest + 1, Ordering::Release);
        }
    }
}
