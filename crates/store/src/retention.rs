//! Removing old events from the oldest end of the unified log.

use crate::StoreError;
use crate::key;
use crate::sled_store::SledStore;
use crate::store::{Retention, RetentionReport};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sled::Transactional;
use tributary_core::SourceId;

/// Entries removed per transaction.
const RETENTION_BATCH: usize = 4_096;

#[derive(Deserialize)]
struct RetentionView {
    source: SourceId,
    #[serde(with = "tributary_core::time::millis")]
    occurred_at: DateTime<Utc>,
}

impl SledStore {
    /// The deduplication index (`ids`) keeps the ids of removed events, so a provider that
    /// replays old pages after retention still cannot bring them back.
    pub(crate) fn retention_blocking(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, StoreError> {
        let _writer = self.write_lock();
        let cutoff = match retention.max_age {
            Some(age) => Some(
                now - chrono::Duration::from_std(age).map_err(|e| StoreError::Invalid {
                    what: "retention max_age",
                    reason: e.to_string(),
                })?,
            ),
            None => None,
        };
        let mut removed = 0;
        loop {
            let oldest = self.oldest_blocking()?.seq.get();
            let last = self.latest_blocking()?.seq.get();
            let mut over_count = match retention.max_events {
                Some(max) => (last - oldest).saturating_sub(max),
                None => 0,
            };
            let mut batch = Vec::new();
            for entry in self.inner.log.iter() {
                if batch.len() == RETENTION_BATCH {
                    break;
                }
                let (k, json) = entry.map_err(StoreError::storage("scanning the log"))?;
                let view: RetentionView = serde_json::from_slice(&json)
                    .map_err(|e| StoreError::corrupt(format!("log entry {k:?}"), e))?;
                let too_old = cutoff.is_some_and(|c| view.occurred_at < c);
                if over_count == 0 && !too_old {
                    break;
                }
                over_count = over_count.saturating_sub(1);
                let seq = key::seq_from_key(&k)
                    .ok_or_else(|| StoreError::corrupt("log key", format!("{k:?}")))?;
                batch.push((k, key::source_u64(&view.source, seq.get())));
            }
            if batch.is_empty() {
                return Ok(RetentionReport {
                    removed,
                    oldest: self.oldest_blocking()?,
                });
            }
            let inner = &self.inner;
            (&inner.log, &inner.by_source).transaction(|(log, by_source)| {
                for (log_key, index_key) in &batch {
                    log.remove(log_key)?;
                    by_source.remove(index_key.as_slice())?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(())
            })?;
            removed += batch.len() as u64;
            if let Some(seq) = batch.last().and_then(|(k, _)| key::seq_from_key(k)) {
                self.inner
                    .retained_from
                    .store(seq.get() + 1, std::sync::atomic::Ordering::Release);
            }
        }
    }
}
