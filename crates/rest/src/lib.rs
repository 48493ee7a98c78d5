//! Tributary's config-driven REST poller (`provider = "rest"`): any JSON list API whose items
//! carry an id and an updated date becomes an event stream, by configuration alone.
//!
//! Each poll reads one time window `(after, before]` of every configured resource (a URL with
//! the window's bounds in it, a JSON pointer to the list, a paging mode, the id and date fields)
//! and turns what changed into `add`, `update` and (from an optional deleted list) `delete`
//! events. Cloud Elements / SAP Open Connectors polling configurations
//! (`event.poller.configuration`, `${gmtDate:…}` placeholders, `datesConfiguration` with Java
//! date patterns) are read as they are. See `docs/providers/rest.md`.
//!
//! Not for: APIs with an event stream or a change cursor of their own (write a provider that
//! reads it), nor lists without an updated date (nothing tells a change from no change).
//!
//! - `pattern.rs`: Java `SimpleDateFormat` patterns, epoch numbers, time zones.
//! - `template.rs`: the URL with its window placeholders.
//! - `config.rs`: the source config and its checks; `schema.rs`: its JSON Schema.
//! - `client.rs`, `auth.rs`: the HTTP call and its credentials (the kit's `Exchange`, token
//!   cache and failure reading).
//! - `map.rs`: items to events; `provider.rs`: windows, ties, checkpoints.

mod auth;
mod client;
pub mod config;
mod error;
mod factory;
mod map;
mod paging;
pub mod pattern;
mod provider;
mod schema;
pub mod template;

pub use config::{ConfigError, Credentials, RestConfig};
pub use error::RestError;
pub use factory::RestFactory;
pub use map::{Known, PROVIDER};
pub use provider::{RestCheckpoint, RestProvider, RestStats};
