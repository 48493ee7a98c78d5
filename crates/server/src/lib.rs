//! The tributary engine and its HTTP API.
//!
//! This crate is for running sources: the [`engine`] schedules polls, commits pages, merges the
//! sources in time order; [`api`] serves the unified log over HTTP (tenant-scoped pages and a
//! live event stream) and manages sources through the [`control`] service; [`retention`] trims
//! the tenants' logs; [`storage`] keeps it answering when the disk fills or the store fails; [`serve`] starts them over one store as the [`config`] says. It is not for talking to any particular upstream
//! (provider crates do), nor for storage (the store crate does), nor for the command line (the
//! cli crate parses arguments, runs the demo against the simulators and the benchmarks).

pub mod api;
pub mod config;
pub mod control;
pub mod engine;
pub mod metrics;
pub mod registry;
pub mod retention;
pub mod rotation;
pub mod secrets;
pub mod serve;
pub mod storage;
#[cfg(test)]
mod synthetic;
pub mod webhooks;

/// The providers the server's own tests build: Egnyte and Jive (the binary lists its own).
#[cfg(test)]
pub(crate) fn test_providers() -> registry::Providers {
    registry::Providers::new(vec![
        Box::new(tributary_egnyte::EgnyteFactory::new()),
        Box::new(tributary_jive::JiveFactory),
    ])
    .expect("two distinct providers")
}
