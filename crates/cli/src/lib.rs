//! The `tributary` binary's commands: `demo`, `serve`, `events tail`, `sim` and `bench`.
//!
//! This crate is for the command line: it parses arguments, starts simulators for the demo and
//! the benchmarks, and prints. It is not for the engine or the API (the server crate runs
//! sources and serves them, and compiles no simulator, argument parser or benchmark), nor for
//! any upstream (provider crates) or storage (the store crate).

pub mod bench;
pub mod command;
pub mod demo;
pub mod providers;
pub mod receiver;
pub mod serve;
pub mod signal;
pub mod tail;
