//! The storage work of reading a tenant's log with none of the store's own work: the baseline
//! that benchmarks (`tributary bench api`, the `read` bench) set the store's reads beside.
//!
//! These reads know the store's layout, so they live here rather than in a benchmark that would
//! open the store's database behind its back.

use crate::StoreError;
use crate::key::log_key;
use crate::sled_store::SledStore;
use tributary_core::Seq;

/// How much a raw read went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawRead {
    /// Log entries read.
    pub entries: u64,
    /// Their stored bytes (header and JSON).
    pub bytes: u64,
}

impl SledStore {
    /// Reads every entry of `tenant`'s log, as sled stores it (no header, JSON or filter work).
    /// Blocking: call it off the async runtime's workers.
    pub fn raw_log_scan(&self, tenant: &str) -> Result<RawRead, StoreError> {
        let Some(log) = self.tenant(tenant) else {
            return Ok(RawRead::default());
        };
        let mut read = RawRead::default();
        let range = log_key(log.no, Seq(0))..=log_key(log.no, Seq(u64::MAX));
        for entry in self.inner.log.range(range) {
            let (_, value) = entry.map_err(StoreError::storage("scanning the log"))?;
            read.entries += 1;
            read.bytes += value.len() as u64;
        }
        Ok(read)
    }

    /// Reads up to `page` entries of `tenant`'s log after each of `positions`, as sled stores
    /// them. Blocking: call it off the async runtime's workers.
    pub fn raw_log_pages(
        &self,
        tenant: &str,
        positions: &[u64],
        page: usize,
    ) -> Result<RawRead, StoreError> {
        let Some(log) = self.tenant(tenant) else {
            return Ok(RawRead::default());
        };
        let mut read = RawRead::default();
        let end = log_key(log.no, Seq(u64::MAX));
        for &p in positions {
            let start = log_key(log.no, Seq(p.saturating_add(1)));
            for entry in self.inner.log.range(start..=end).take(page) {
                let (_, value) = entry.map_err(StoreError::storage("reading a page of the log"))?;
                read.entries += 1;
                read.bytes += value.len() as u64;
            }
        }
        Ok(read)
    }
}
