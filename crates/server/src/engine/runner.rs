//! One poll of one source: read the committed checkpoint, poll, ingest the page atomically.

use std::time::Duration;
use tributary_core::{PollOutcome, Provider, ProviderError, SourceId};
use tributary_store::{EventStore, IngestReport, StoreError};

/// What a poll came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PollStep {
    /// The page was committed.
    Ingested { report: IngestReport, more: bool },
    /// The upstream throttled us.
    Throttled {
        retry_after: Option<Duration>,
        error: String,
    },
    /// A failure worth retrying (upstream or storage).
    Failed { error: String },
    /// A failure that retrying will not fix (credentials, configuration): the source stops.
    Stopped { error: String },
}

impl PollStep {
    /// How the schedule should see it.
    pub fn outcome(&self) -> Option<PollOutcome> {
        match self {
            PollStep::Ingested { report, more } if report.accepted > 0 || *more => {
                Some(PollOutcome::Events { more: *more })
            }
            PollStep::Ingested { .. } => Some(PollOutcome::Empty),
            PollStep::Throttled { retry_after, .. } => Some(PollOutcome::Throttled {
                retry_after: *retry_after,
            }),
            PollStep::Failed { .. } => Some(PollOutcome::Failed),
            PollStep::Stopped { .. } => None,
        }
    }
}

/// Polls `provider` once from the source's committed checkpoint and commits what it returns.
pub async fn poll_once(
    store: &dyn EventStore,
    source: &SourceId,
    provider: &dyn Provider,
) -> PollStep {
    let checkpoint = match store.source_state(source) {
        Ok(state) => state.map(|s| s.checkpoint),
        Err(e) => {
            tracing::error!(source = %source, error = %e, "cannot read the source's checkpoint");
            return PollStep::Failed {
                error: e.to_string(),
            };
        }
    };
    let page = match provider.poll(checkpoint.as_ref()).await {
        Ok(page) => page,
        Err(e @ ProviderError::RateLimited { retry_after, .. }) => {
            tracing::info!(source = %source, error = %e, "throttled");
            return PollStep::Throttled {
                retry_after,
                error: e.to_string(),
            };
        }
        Err(e @ ProviderError::Transient { .. }) => {
            tracing::warn!(source = %source, error = %e, "poll failed");
            return PollStep::Failed {
                error: e.to_string(),
            };
        }
        Err(e @ (ProviderError::Auth { .. } | ProviderError::Fatal { .. })) => {
            tracing::error!(source = %source, error = %e, "source stopped");
            return PollStep::Stopped {
                error: e.to_string(),
            };
        }
    };
    let more = page.more;
    for gap in &page.gaps {
        tracing::warn!(source = %source, after = %gap.after, resumed_at = %gap.resumed_at, reason = %gap.reason, "upstream gap");
    }
    match store.ingest(source, page).await {
        Ok(report) => PollStep::Ingested { report, more },
        Err(e @ (StoreError::Invalid { .. } | StoreError::SourceMismatch { .. })) => {
            // The provider produced a page the store refuses: polling again gives the same page.
            tracing::error!(source = %source, error = %e, "source stopped: its page was refused");
            PollStep::Stopped {
                error: e.to_string(),
            }
        }
        Err(e) => {
            tracing::error!(source = %source, error = %e, "cannot commit a page; it will be polled again");
            PollStep::Failed {
                error: e.to_string(),
            }
        }
    }
}
