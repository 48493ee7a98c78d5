//! The Egnyte provider against the Egnyte simulator over real HTTP (127.0.0.1, port 0), polled
//! through the engine's `poll_once` into a real store. Time is the simulator's `ManualClock`,
//! shared with the provider; nothing sleeps. Every expectation is derived from the simulator's
//! ground truth (`sim.log()`) by `harness::expected`, or written out by hand.

mod auth;
mod faults;
mod filters;
mod gaps;
mod harness;
mod limits;
mod mapping;
mod paging;
