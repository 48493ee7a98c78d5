//! Black-box tests of tributary, one module per area, linked into one binary.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod egnyte;
mod jive;
mod process;
mod server;
mod sources;
