//! The Egnyte provider against the Egnyte simulator over real HTTP (127.0.0.1, port 0), polled
//! through the engine's `poll_once` into a real store. Time is the simulator's `ManualClock`,
//! shared with the provider; nothing sleeps. Every expectation is derived from the simulator's
//! ground truth (`sim.log()`) by `harness::expected`, or written out by hand.
//!
//! These are the **outcome half** of the provider's tests: what the store holds after the engine
//! ran (exact events, order, counts, gaps recorded, commits). The wire half (exact requests, the
//! `Page`, checkpoint and `Gap` values a poll returns, error classification and messages, answers
//! the simulator cannot produce) is in `crates/egnyte/tests/http.rs`; a rule is asserted in one
//! of the two, and a test with a counterpart names it in its doc comment.

mod auth;
mod faults;
mod filters;
mod gaps;
mod harness;
mod limits;
mod mapping;
mod paging;
