//! The tributary engine and its binary's commands.
//!
//! This crate is for running sources: the [`engine`] schedules polls, commits pages, merges the
//! sources in time order; [`api`] serves the unified log over HTTP (tenant-scoped pages and a
//! live event stream) and manages sources through the [`control`] service; [`demo`] shows it running the Egnyte and Jive simulators. It is not for
//! talking to any particular upstream (provider crates do) nor for storage (the store crate does).

pub mod api;
pub mod bench;
pub mod config;
pub mod control;
pub mod demo;
pub mod engine;
pub mod metrics;
pub mod registry;
pub mod serve;
pub mod synthetic;
pub mod tail;
