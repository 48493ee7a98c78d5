//! One poll of one source: read the committed checkpoint, poll, ingest the page atomically.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::{Clock, DailyCalls, PollOutcome, Provider, ProviderError};
use tributary_store::{EventStore, IngestReport, SourceRef, StoreError};

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
/// The page counts no upstream calls (see [`poll_once_counted`]).
pub async fn poll_once(
    store: &dyn EventStore,
    source: &SourceRef,
    provider: &dyn Provider,
) -> PollStep {
    poll(store, source, provider, None).await
}

/// [`poll_once`], with the page carrying the upstream calls since the last commit, so the
/// store counts the source's calls per day (the `clock`'s UTC day). `calls_committed` is the provider's request counter at the last commit: the page carries what
/// it gained since (this poll's requests and those of failed polls before it), and is updated when
/// the page commits.
pub async fn poll_once_counted(
    store: &dyn EventStore,
    source: &SourceRef,
    provider: &dyn Provider,
    calls_committed: &AtomicU64,
    clock: &dyn Clock,
) -> PollStep {
    poll(store, source, provider, Some((calls_committed, clock))).await
}

async fn poll(
    store: &dyn EventStore,
    source: &SourceRef,
    provider: &dyn Provider,
    counting: Option<(&AtomicU64, &dyn Clock)>,
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
    let mut page = match provider.poll(checkpoint.as_ref()).await {
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
    let counter = counting.zip(provider.upstream_calls());
    if let Some(((committed, clock), counter)) = counter {
        page.upstream_calls = Some(DailyCalls {
            day: clock.now().date_naive(),
            calls: counter.saturating_sub(committed.load(Ordering::Acquire)),
        });
    }
    for gap in &page.gaps {
        tracing::warn!(source = %source, after = %gap.after, resumed_at = %gap.resumed_at, reason = %gap.reason, "upstream gap");
    }
    match store.ingest(source, page).await {
        Ok(report) => {
            if let Some(((committed, _), counter)) = counter {
                committed.store(counter, Ordering::Release);
            }
            PollStep::Ingested { report, more }
        }
        Err(
            e @ (StoreError::Invalid { .. }
            | StoreError::SourceMismatch { .. }
            | StoreError::UnknownSource { .. }),
        ) => {
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
