//! Tributary's Jive provider. Jive has no event stream, so one is synthesized: each poll reads a
//! closed time window of `/contents` (by modification date) and of `/deletedObjects/contents`,
//! merges them in time order and tells each change apart by comparing what it sees with what the
//! source last knew of the object.
//!
//! - [`config`]: [`JiveConfig`], the source's settings, validated with clear messages.
//! - [`client`]: the HTTP calls and the wire types, nothing else.
//! - [`map`]: sightings → unified events (the table lives there).
//! - [`provider`]: [`JiveProvider`], the poll: the first position, merging a window's changes in
//!   time order, the dual checkpoint, the watermark.
//! - `window`: the closed time windows: sizing, halving a window that does not fit one page,
//!   overlap paging with shift repair for a one-millisecond window, the deletion-marker log.
//! - `auth`: the `Authorization` each request carries, the OAuth access token and its refresh.
//! - [`error`]: [`JiveError`] and its mapping to [`tributary_core::ProviderError`].
//!
//! It is not for scheduling, storage or retries: the engine owns those. The behaviour is
//! described in `docs/providers/jive.md`.

mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod factory;
pub mod map;
pub mod provider;
mod window;

pub use config::{ConfigError, Credentials, JiveConfig, Secret, StartPosition};
pub use error::JiveError;
pub use factory::JiveFactory;
pub use provider::{CheckpointV1, JiveCheckpoint, JiveProvider, JiveStats, Position};
