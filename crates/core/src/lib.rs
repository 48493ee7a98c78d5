//! The vocabulary every part of tributary shares.
//!
//! This crate is for the *model*: the unified [`Event`] and its parts, the ids and positions that
//! must not be swapped ([`SourceId`], [`EventId`], [`Seq`]), the [`Provider`] trait that upstream
//! connectors implement, the opaque [`Checkpoint`] and [`Watermark`] a poll returns, the adaptive
//! [`PollPolicy`], the API [`Cursor`] encoding and the [`Clock`] that everything time-dependent takes.
//!
//! It is not for I/O: no HTTP, no storage, no runtime. Providers depend on this crate and on
//! `tributary-http` (the HTTP client and checks they share), on no other tributary crate.

mod checkpoint;
mod clock;
mod credential_writer;
mod cursor;
mod event;
#[cfg(test)]
mod examples;
mod id;
mod object_state;
mod poll_policy;
mod provider;
mod secret;
pub mod time;
mod watermark;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use credential_writer::{
    CredentialWriteError, CredentialWriter, NoCredentialWriter, RotatedRefreshToken,
};
pub use cursor::{Cursor, CursorError};
pub use event::{Actor, Event, EventType, Object, ObjectKind, ParseEventTypeError, Upstream};
pub use id::{EventId, IdError, Seq, SourceId};
pub use object_state::{
    InFlightObjects, MemoryObjectState, ObjectChange, ObjectStateError, ObjectStateRead,
};
pub use poll_policy::{PollOutcome, PollPolicy, PollPolicyError, PollPolicyPatch, PollSchedule};
pub use provider::{DailyCalls, Gap, Page, Provider, ProviderError};
pub use secret::Secret;
pub use watermark::Watermark;
