//! Tributary's durable state, on sled.
//!
//! This crate is for keeping events safe and in order: [`EventStore::ingest`] commits a page's
//! events with its checkpoint in one transaction (a crash never loses or doubles an event);
//! [`EventStore::merge`] moves a tenant's pending events into that tenant's log in time order
//! under the watermark frontier; [`EventStore::read`] pages a tenant's log by
//! [`Cursor`](tributary_core::Cursor); retention, sources (named per tenant, stored per
//! incarnation), subscriptions, delivery positions and created API keys live here too. Secrets
//! (sources' credentials, subscriptions' signing secrets) are sealed at rest under a
//! [`SecretKey`] (see `sealed`).
//!
//! It is not for deciding *when* to poll or merge (the server's scheduler does), nor for talking
//! to any upstream (providers do).

mod api_key;
mod baseline;
mod error;
mod filter;
mod ingest;
mod key;
mod log;
mod merge;
mod pending;
mod records;
mod retention;
mod sealed;
mod secret_key;
mod sled_store;
mod source;
mod store;
mod subscription;
mod upgrade;

pub use api_key::ApiKeyRecord;
pub use baseline::RawRead;
pub use error::{FailureKind, StoreError};
pub use filter::Filter;
pub use log::MAX_SCAN;
pub use sealed::SealError;
pub use secret_key::{
    DEFAULT_KEY_FILE, KEY_LEN, KeyId, SecretKey, SecretKeyError, SecretKeys, default_key_file,
};
pub use sled_store::Resealed;
pub use sled_store::{INLINE_SCAN, SledStore};
pub use source::{SourceRecord, SourceRef, SourceState};
pub use store::{
    EventStore, IngestReport, MergeReport, ReadPage, Retention, RetentionReport, StoredEvent,
};
pub use subscription::{
    DEFAULT_MAX_BATCH, DeliveryAttempt, DeliveryMode, DeliveryState, Disabled, MAX_ATTEMPTS_KEPT,
    PendingBatch, PreviousSecret, SigningSecrets, SubscriptionRecord,
};

#[cfg(test)]
mod tests;
