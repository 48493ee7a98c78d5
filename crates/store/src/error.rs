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
    /// The store did not answer in time, or is known to be failing: nothing was read or
    /// written by this call. Said by a guard in front of the store (the server's), never by
    /// sled itself.
    #[error("the store is unavailable: {reason}")]
    Unavailable { reason: String },
}

/// What kind of failure a [`StoreError`] is, for deciding what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The disk (or a quota) is full: freeing space may help, retrying at once will not.
    DiskFull,
    /// Any other failure of the storage itself (I/O, sled, a worker thread, a timeout): the
    /// store may not be usable until it recovers or the process restarts.
    Storage,
    /// A failure of the call (its input, a cursor, an unknown source, corrupt or unencodable
    /// data): says nothing of the store's health.
    Call,
}

impl StoreError {
    pub(crate) fn storage(context: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
        move |source| StoreError::Storage {
            context,
            source: Box::new(source),
        }
    }

    /// Whether this failure is of the storage (the disk, sled, the store's threads) rather than
    /// of the call, and whether the disk is full.
    pub fn kind(&self) -> FailureKind {
        match self {
            StoreError::Storage { source, .. } if is_disk_full(source.as_ref()) => {
                FailureKind::DiskFull
            }
            StoreError::DataDir { source, .. } if is_disk_full(source) => FailureKind::DiskFull,
            StoreError::Storage { .. }
            | StoreError::DataDir { .. }
            | StoreError::Worker(_)
            | StoreError::Unavailable { .. } => FailureKind::Storage,
            StoreError::Format { .. }
            | StoreError::Corrupt { .. }
            | StoreError::Encode { .. }
            | StoreError::SourceMismatch { .. }
            | StoreError::UnknownSource { .. }
            | StoreError::Cursor(_)
            | StoreError::CursorExpired { .. }
            | StoreError::CursorAhead { .. }
            | StoreError::Invalid { .. }
            | StoreError::Sealed { .. }
            | StoreError::Key(_) => FailureKind::Call,
        }
    }

    /// [`StoreError::kind`] is [`FailureKind::DiskFull`] or [`FailureKind::Storage`].
    pub fn is_storage_failure(&self) -> bool {
        self.kind() != FailureKind::Call
    }

    pub(crate) fn corrupt(what: impl Into<String>, detail: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            detail: detail.to_string(),
        }
    }
}

/// `ENOSPC` (no space left on the device) and `EDQUOT` (quota exceeded), as Linux numbers them.
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// Whether `error`, or an error it wraps (sled's own I/O error included), says the disk is full.
fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        let io = match e.downcast_ref::<sled::Error>() {
            Some(sled::Error::Io(io)) => Some(io),
            _ => e.downcast_ref::<std::io::Error>(),
        };
        if let Some(io) = io
            && (io.kind() == std::io::ErrorKind::StorageFull
                || io.kind() == std::io::ErrorKind::QuotaExceeded
                || matches!(io.raw_os_error(), Some(ENOSPC | EDQUOT)))
        {
            return true;
        }
        // sled sometimes keeps only the text of the error it met.
        if e.to_string().contains("No space left on device") {
            return true;
        }
        next = e.source();
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(source: sled::Error) -> StoreError {
        StoreError::storage("flushing to disk")(source)
    }

    #[test]
    fn enospc_from_sled_is_a_full_disk() {
        let full = storage(sled::Error::Io(std::io::Error::from_raw_os_error(ENOSPC)));
        assert_eq!(full.kind(), FailureKind::DiskFull);
        let quota = storage(sled::Error::Io(std::io::Error::from_raw_os_error(EDQUOT)));
        assert_eq!(quota.kind(), FailureKind::DiskFull);
        assert!(full.is_storage_failure());
    }

    #[test]
    fn other_io_errors_are_storage_failures_and_input_errors_are_not() {
        let eio = storage(sled::Error::Io(std::io::Error::from_raw_os_error(5)));
        assert_eq!(eio.kind(), FailureKind::Storage);
        let reported = storage(sled::Error::ReportableBug("x".into()));
        assert_eq!(reported.kind(), FailureKind::Storage);
        assert_eq!(
            StoreError::Worker("panicked".into()).kind(),
            FailureKind::Storage
        );
        let timeout = StoreError::Unavailable {
            reason: "a read took longer than 5s".into(),
        };
        assert_eq!(timeout.kind(), FailureKind::Storage);
        let unknown = StoreError::UnknownSource {
            source_id: "s".into(),
        };
        assert_eq!(unknown.kind(), FailureKind::Call);
        assert!(!unknown.is_storage_failure());
    }
}
