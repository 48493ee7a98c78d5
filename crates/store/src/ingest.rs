//! Atomic ingest: a page's new events and its checkpoint, in one transaction.

use crate::SourceRef;
use crate::key;
use crate::pending;
use crate::sled_store::{SledStore, decode_json, encode_json};
use crate::store::IngestReport;
use crate::{SourceState, StoreError};
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::collections::HashSet;
use tributary_core::{Event, Gap, Page, time};

/// Positions must pair with the events and strictly increase: anything else would make the
/// store take a new event for one it has (a silent loss), so the page is refused instead.
fn check_positions(positions: &[u64], events: usize) -> Result<(), StoreError> {
    if positions.len() != events {
        return Err(StoreError::Invalid {
            what: "page",
            reason: format!("{} positions for {events} events", positions.len()),
        });
    }
    if let Some(w) = positions.windows(2).find(|w| w[0] >= w[1]) {
        return Err(StoreError::Invalid {
            what: "page",
            reason: format!(
                "positions must strictly increase, found {} then {}",
                w[0], w[1]
            ),
        });
    }
    Ok(())
}

/// Refuses times that RFC 3339 cannot express: stored, they could never be read back.
fn check_times(event: &Event) -> Result<(), StoreError> {
    let objects = std::iter::once(&event.object).chain(&event.previous);
    let times = [Some(event.occurred_at), Some(event.observed_at)]
        .into_iter()
        .chain(objects.map(|o| o.modified));
    match times.flatten().find(|t| !time::is_representable(t)) {
        None => Ok(()),
        Some(t) => Err(StoreError::Invalid {
            what: "event",
            reason: format!(
                "event {:?} has a time outside the years 0000-9999: {t}",
                event.id.as_str()
            ),
        }),
    }
}

impl SledStore {
    pub(crate) fn ingest_blocking(
        &self,
        source: &SourceRef,
        page: &Page,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, StoreError> {
        let inc = source.incarnation;
        for event in &page.events {
            if event.source != source.id {
                return Err(StoreError::SourceMismatch {
                    expected: source.id.clone(),
                    found: event.source.clone(),
                    event_id: event.id.to_string(),
                });
            }
            check_times(event)?;
        }
        if let Some(w) = page.watermark
            && !time::is_representable(&w.time())
        {
            return Err(StoreError::Invalid {
                what: "watermark",
                reason: format!("{} is outside the years 0000-9999", w.time()),
            });
        }
        let objects = page
            .objects
            .iter()
            .map(|c| {
                let value = c
                    .value
                    .as_ref()
                    .map(|v| encode_json(v, "object state"))
                    .transpose()?;
                Ok((key::num_str(inc, &c.key), value))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let gaps = page
            .gaps
            .iter()
            .map(|g| encode_json(g, "gap"))
            .collect::<Result<Vec<_>, _>>()?;

        if let Some(positions) = &page.positions {
            check_positions(positions, page.events.len())?;
        }
        let _writer = self.write_lock();
        // Under the writer lock: a delete cannot slip in between the check and the write.
        let tenant = self.live(source)?;
        let previous = self.source_state_blocking(inc)?;
        // Deduplicate before the transaction: under the writer lock nothing else writes. The
        // page's new events go into one pending batch, in page order.
        let mut batch = Vec::with_capacity(page.events.len() * 640);
        let mut fresh_ids = Vec::with_capacity(page.events.len());
        let mut accepted = 0u64;
        let mut max_position = previous.as_ref().and_then(|s| s.max_position);
        if let Some(positions) = &page.positions {
            // Ordered sources: anything at or below the highest committed position is stored.
            for (event, &position) in page.events.iter().zip(positions) {
                if max_position.is_some_and(|max| position <= max) {
                    continue;
                }
                pending::push(&mut batch, event)?;
                accepted += 1;
            }
            max_position = positions.last().copied().max(max_position);
        } else {
            let mut in_page = HashSet::with_capacity(page.events.len());
            for event in &page.events {
                let id_key = key::num_str(inc, event.id.as_str());
                let known = self
                    .inner
                    .ids
                    .get(&id_key)
                    .map_err(StoreError::storage("reading the dedup index"))?;
                if known.is_some() || !in_page.insert(event.id.as_str()) {
                    continue;
                }
                pending::push(&mut batch, event)?;
                fresh_ids.push(id_key);
                accepted += 1;
            }
        }
        let report = IngestReport {
            accepted,
            duplicates: page.events.len() as u64 - accepted,
        };
        let watermark = match (previous.as_ref().and_then(|s| s.watermark), page.watermark) {
            // A watermark is a promise: it never moves back.
            (Some(old), Some(new)) => Some(old.max(new)),
            (old, new) => new.or(old),
        };
        let base = previous.unwrap_or(SourceState {
            checkpoint: page.checkpoint.clone(),
            watermark: None,
            committed_at: now,
            events_ingested: 0,
            duplicates_absorbed: 0,
            gaps_recorded: 0,
            max_position: None,
            calls: None,
            next_pending: 0,
        });
        let calls = match (base.calls, page.upstream_calls) {
            (Some(old), Some(new)) => Some(old.then(new)),
            (old, new) => new.or(old),
        };
        let state_key = inc.to_be_bytes();
        let inner = &self.inner;
        let trees = (
            &inner.ids,
            &inner.pending,
            &inner.state,
            &inner.gaps,
            &inner.objects,
        );
        let batch_key = key::triple(tenant.no, inc, base.next_pending);
        trees.transaction(|(ids, pending, state, gap_tree, object_tree)| {
            for id_key in &fresh_ids {
                ids.insert(id_key.as_slice(), &[][..])?;
            }
            if !batch.is_empty() {
                pending.insert(&batch_key[..], batch.as_slice())?;
            }
            for (i, gap) in gaps.iter().enumerate() {
                gap_tree.insert(
                    &key::pair(inc, base.gaps_recorded + i as u64)[..],
                    gap.as_slice(),
                )?;
            }
            for (object_key, value) in &objects {
                match value {
                    Some(v) => object_tree.insert(object_key.as_slice(), v.as_slice())?,
                    None => object_tree.remove(object_key.as_slice())?,
                };
            }
            let new_state = SourceState {
                checkpoint: page.checkpoint.clone(),
                watermark,
                committed_at: now,
                events_ingested: base.events_ingested + report.accepted,
                duplicates_absorbed: base.duplicates_absorbed + report.duplicates,
                gaps_recorded: base.gaps_recorded + gaps.len() as u64,
                max_position,
                calls,
                next_pending: base.next_pending + u64::from(!batch.is_empty()),
            };
            let bytes = encode_json(&new_state, "source state")
                .map_err(ConflictableTransactionError::Abort)?;
            state.insert(&state_key[..], bytes)?;
            Ok(())
        })?;
        Ok(report)
    }

    /// The incarnation's committed state.
    pub(crate) fn source_state_blocking(
        &self,
        incarnation: u64,
    ) -> Result<Option<SourceState>, StoreError> {
        self.inner
            .state
            .get(incarnation.to_be_bytes())
            .map_err(StoreError::storage("reading a source's state"))?
            .map(|v| decode_json(&v, || format!("state of source #{incarnation}")))
            .transpose()
    }

    pub(crate) fn pending_len_blocking(&self, source: &SourceRef) -> Result<u64, StoreError> {
        let Some(tenant) = self.tenant(&source.tenant) else {
            return Ok(0);
        };
        let mut n = 0;
        for batch in self
            .inner
            .pending
            .scan_prefix(key::pair(tenant.no, source.incarnation))
            .values()
        {
            n += pending::count(&batch.map_err(StoreError::storage("scanning pending events"))?)?;
        }
        Ok(n)
    }

    pub(crate) fn gaps_blocking(&self, source: &SourceRef) -> Result<Vec<Gap>, StoreError> {
        self.inner
            .gaps
            .scan_prefix(source.incarnation.to_be_bytes())
            .values()
            .map(|v| {
                let v = v.map_err(StoreError::storage("scanning gaps"))?;
                decode_json(&v, || format!("gap of source {source}"))
            })
            .collect()
    }
}
