//! The engine: runs every source on its own adaptive schedule, commits what each poll finds,
//! and merges the sources into the unified log under their watermarks.
//!
//! - [`runner`]: one poll of one source: checkpoint in, page out, ingested atomically.
//! - [`frontier`]: how far the merge may go.
//! - [`runtime`]: the [`Engine`]: schedules, concurrency cap, merging, status, shutdown.

pub mod clock;
pub mod frontier;
pub mod runner;
pub mod runtime;

pub use clock::TokioClock;
pub use runtime::{Engine, EngineConfig, EngineError, EngineStats, MergeListener, SourceStatus};

#[cfg(test)]
mod tests;
