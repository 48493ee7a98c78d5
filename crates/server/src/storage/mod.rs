//! Keeping the server answering when its disk fills or its store stops answering.
//!
//! - [`health`]: [`StoreHealth`], what is known of the store: a write failure not yet healed,
//!   the writes in flight (a stuck one), the data directory's free space; and why ingest is held
//!   back ([`StorageBlock`]: `store_unavailable` or `storage_low`).
//! - [`guard`]: [`GuardedStore`], the store as the engine and the API use it: writes reported and
//!   bounded in time, reads kept off the runtime and bounded while the store is failing.
//! - [`monitor`]: the free-space guard and the write probe (`[storage] min_free_bytes`,
//!   `check_interval`), and the [`Watchdog`] that ends the process when the store is past saving
//!   (`exit_after`).
//!
//! The engine pauses polling while [`StoreHealth::blocked`] says so; `/readyz` answers `503`
//! while the store is unavailable; `/metrics` reports `tributary_storage_*`.

pub mod guard;
pub mod health;
pub mod monitor;

pub use guard::GuardedStore;
pub use health::{HealthSnapshot, StorageBlock, StoreHealth};
pub use monitor::{EXIT_STORE_FAILED, FreeSpace, OnFatal, Statvfs, Watchdog};

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
