//! What can go wrong in the store.

use tributary_core::{Cursor, CursorError, Seq, SourceId};

/// A store failure, saying what failed and on which input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure ({context}): {source}")]
    Storage {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the store at {path} was written by an unknown format version {found} (this build reads version {expected})"
    )]
    Format {
        path: String,
        found: String,
        expected: u32,
    },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("could not encode {what} as JSON: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("event {event_id:?} names source {found:?} but was ingested for source {expected:?}")]
    SourceMismatch {
        expected: SourceId,
        found: SourceId,
        event_id: String,
    },
    /// The tenant has no source with this id (or the incarnation was deleted). Says nothing of
    /// other tenants.
    #[error("no source {source_id:?}")]
    UnknownSource { source_id: String },
    #[error(transparent)]
    Cursor(#[from] CursorError),
    #[error(
        "cursor has expired: the events after it were removed by retention; resume from the oldest valid cursor {oldest}"
    )]
    CursorExpired { oldest: Cursor },
    #[error("cursor points past the end of the log (position {cursor} > last position {last})")]
    CursorAhead { cursor: Seq, last: Seq },
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    /// A sealed secret that does not open: the store was started with another key.
    #[error("{what}: {source}")]
    Sealed {
        what: String,
        #[source]
        source: crate::SealError,
    },
    #[error(transparent)]
    Key(#[from] crate::SecretKeyError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the store's worker thread failed: {0}")]
    Worker(String),
}

impl StoreError {
    pub(crate) fn storage(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Storage {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(source) => StoreError::Storage {
                context: "transaction",
                source: Box::new(source),
            },
        }
    }
}
