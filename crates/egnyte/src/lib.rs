//! Tributary's Egnyte provider: polls the Egnyte Events API (`/pubapi/{v1,v2}/events`) and turns
//! its file-system and note events into unified [`tributary_core::Event`]s, up to
//! `max_pages_per_poll` pages per poll (one commit), with a versioned checkpoint, a watermark, and
//! a [`tributary_core::Gap`] whenever Egnyte lost events before we could read them.
//!
//! - [`config`]: [`EgnyteConfig`], the source's settings, validated with clear messages.
//! - [`client`]: the HTTP calls and the wire types, nothing else.
//! - [`map`]: wire events → unified events (the mapping table lives there).
//! - [`provider`]: [`EgnyteProvider`], paging, checkpoints, gaps, the cursor check, the watermark.
//! - [`credential`]: [`RateLimiters`], one rate limiter (and quota, and OAuth token) per credential,
//!   shared by every source using it.
//! - [`error`]: [`EgnyteError`] and its mapping to [`tributary_core::ProviderError`].
//!
//! It is not for scheduling, storage or retries: the engine owns those, and is told what to do
//! through `Page::more`, the watermark and the error kinds (`RateLimited { retry_after }`, `Auth`,
//! `Transient`, `Fatal`). The behaviour is described in `docs/providers/egnyte.md`.

mod auth;
pub mod client;
pub mod config;
pub mod credential;
pub mod error;
pub mod factory;
pub mod map;
pub mod provider;

pub use config::{
    ApiVersion, ConfigError, Credentials, EgnyteConfig, Secret, StartPosition, Suppress,
};
pub use credential::{CredentialFingerprint, RateLimiters};
pub use error::EgnyteError;
pub use factory::EgnyteFactory;
pub use provider::{CheckpointV1, EgnyteCheckpoint, EgnyteProvider, EgnyteStats};
