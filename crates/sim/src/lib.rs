//! Faithful simulators of the upstream APIs tributary polls, for tests, demos and benchmarks.
//!
//! Each simulator serves one upstream account in memory over real HTTP, as the real service
//! answers (status codes, headers, quirks), with a seeded workload generator and fault injection
//! driven by a control API under `/_sim/`. A simulator is written from the shared protocol notes
//! on its own: it never imports a provider's wire types, so a misreading cannot hide by being
//! mirrored on both sides.
//!
//! It is not a mock of tributary's own traits, and not a general-purpose Egnyte or Jive server:
//! only what the providers call is served.
//!
//! - [`egnyte`]: the Egnyte Events API (`/pubapi/v1|v2/events`, OAuth, rate limits).
//! - [`jive`]: the Jive REST API v3 (`/api/core/v3/contents`, `/deletedObjects/contents`,
//!   Basic auth and OAuth 2.0, the JSON security prefix, app throttling).
//! - [`tls`]: HTTPS with a self-signed certificate, for clients that only speak `https://`.
//!
//! What both simulators do the same way is written once, in private modules: `server` (serving
//! with graceful shutdown and the live-workload ticker), `cli` (binding `--listen`, printing the
//! base URL, Ctrl-C), `control` (the control API's error answer and JSON body), `oauth` (RFC 6749
//! grant errors) and `random` (seeded UUIDs and tokens). What only looks alike (wire formats,
//! routes, faults) stays with each simulator.

mod cli;
mod control;
pub mod egnyte;
#[cfg(test)]
mod harness;
pub mod jive;
mod oauth;
mod random;
mod server;
pub mod tls;

pub use cli::BindError;
