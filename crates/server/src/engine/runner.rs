//! One poll of one source: read the committed checkpoint, poll, ingest the page atomically; or,
//! while the upstream has more, several pages with each fetch overlapping the previous commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::{Clock, DailyCalls, InFlightObjects, PollOutcome, Provider, ProviderError};
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
    let checkpoint = match read_checkpoint(store, source) {
        Ok(checkpoint) => checkpoint,
        Err(step) => return step,
    };
    let mut page = match fetch(source, provider, checkpoint.as_ref()).await {
        Ok(page) => page,
        Err(step) => return step,
    };
    let more = page.more;
    let counter = stamp_calls(&mut page, provider, counting);
    match commit(store, source, page).await {
        Ok(report) => {
            note_committed(counting, counter);
            PollStep::Ingested { report, more }
        }
        Err(step) => step,
    }
}

/// At most this many pages one [`poll_pipelined`] commits before it hands back to the scheduler
/// (which polls again at once while the upstream has more), so status, pauses and shutdown are
/// heard between them.
pub const PIPELINE_PAGES: usize = 16;

/// Polls like [`poll_once_counted`], but while the upstream has more it fetches the next page
/// (from the checkpoint of the page being committed) while the store commits the previous one,
/// up to `max_pages` pages. Commits stay in order; a failed commit throws away what was fetched
/// after it, and the source resumes from its last committed checkpoint. The provider must read
/// its object memory through `objects`, which holds the changes of the page being committed
/// until it is.
pub async fn poll_pipelined(
    store: &dyn EventStore,
    source: &SourceRef,
    provider: &dyn Provider,
    objects: &InFlightObjects,
    counting: Option<(&AtomicU64, &dyn Clock)>,
    max_pages: usize,
) -> PollStep {
    let checkpoint = match read_checkpoint(store, source) {
        Ok(checkpoint) => checkpoint,
        Err(step) => return step,
    };
    objects.clear();
    let mut page = match fetch(source, provider, checkpoint.as_ref()).await {
        Ok(page) => page,
        Err(step) => return step,
    };
    let mut counter = stamp_calls(&mut page, provider, counting);
    let mut total = IngestReport::default();
    let mut pages = 1;
    loop {
        let more = page.more;
        if !more || pages >= max_pages.max(1) {
            return match commit(store, source, page).await {
                Ok(report) => {
                    note_committed(counting, counter);
                    total.accepted += report.accepted;
                    total.duplicates += report.duplicates;
                    PollStep::Ingested {
                        report: total,
                        more,
                    }
                }
                Err(step) => step,
            };
        }
        objects.push(&page.objects);
        let next_checkpoint = page.checkpoint.clone();
        let (committed, next) = tokio::join!(
            commit(store, source, page),
            fetch(source, provider, Some(&next_checkpoint)),
        );
        match committed {
            Ok(report) => {
                objects.pop_committed();
                note_committed(counting, counter);
                total.accepted += report.accepted;
                total.duplicates += report.duplicates;
            }
            Err(step) => {
                // What was fetched after the failed page is dropped with it.
                objects.clear();
                return step;
            }
        }
        page = match next {
            Ok(page) => page,
            Err(step) => return step,
        };
        counter = stamp_calls(&mut page, provider, counting);
        pages += 1;
    }
}

fn read_checkpoint(
    store: &dyn EventStore,
    source: &SourceRef,
) -> Result<Option<tributary_core::Checkpoint>, PollStep> {
    match store.source_state(source) {
        Ok(state) => Ok(state.map(|s| s.checkpoint)),
        Err(e) => {
            tracing::error!(source = %source, error = %e, "cannot read the source's checkpoint");
            Err(PollStep::Failed {
                error: e.to_string(),
            })
        }
    }
}

/// One provider poll, its failure as the step it comes to.
async fn fetch(
    source: &SourceRef,
    provider: &dyn Provider,
    checkpoint: Option<&tributary_core::Checkpoint>,
) -> Result<tributary_core::Page, PollStep> {
    match provider.poll(checkpoint).await {
        Ok(page) => {
            for gap in &page.gaps {
                tracing::warn!(source = %source, after = %gap.after, resumed_at = %gap.resumed_at, reason = %gap.reason, "upstream gap");
            }
            Ok(page)
        }
        Err(e @ ProviderError::RateLimited { retry_after, .. }) => {
            tracing::info!(source = %source, error = %e, "throttled");
            Err(PollStep::Throttled {
                retry_after,
                error: e.to_string(),
            })
        }
        Err(e @ ProviderError::Transient { .. }) => {
            tracing::warn!(source = %source, error = %e, "poll failed");
            Err(PollStep::Failed {
                error: e.to_string(),
            })
        }
        Err(e @ (ProviderError::Auth { .. } | ProviderError::Fatal { .. })) => {
            tracing::error!(source = %source, error = %e, "source stopped");
            Err(PollStep::Stopped {
                error: e.to_string(),
            })
        }
    }
}

/// Gives the page the upstream calls made since the last commit; answers the provider's counter
/// as read, to be recorded once the page commits.
fn stamp_calls(
    page: &mut tributary_core::Page,
    provider: &dyn Provider,
    counting: Option<(&AtomicU64, &dyn Clock)>,
) -> Option<u64> {
    let ((committed, clock), counter) = counting.zip(provider.upstream_calls())?;
    page.upstream_calls = Some(DailyCalls {
        day: clock.now().date_naive(),
        calls: counter.saturating_sub(committed.load(Ordering::Acquire)),
    });
    Some(counter)
}

fn note_committed(counting: Option<(&AtomicU64, &dyn Clock)>, counter: Option<u64>) {
    if let (Some((committed, _)), Some(counter)) = (counting, counter) {
        committed.store(counter, Ordering::Release);
    }
}

async fn commit(
    store: &dyn EventStore,
    source: &SourceRef,
    page: tributary_core::Page,
) -> Result<IngestReport, PollStep> {
    match store.ingest(source, page).await {
        Ok(report) => Ok(report),
        Err(
            e @ (StoreError::Invalid { .. }
            | StoreError::SourceMismatch { .. }
            | StoreError::UnknownSource { .. }),
        ) => {
            // The provider produced a page the store refuses: polling again gives the same page.
            tracing::error!(source = %source, error = %e, "source stopped: its page was refused");
            Err(PollStep::Stopped {
                error: e.to_string(),
            })
        }
        Err(e) => {
            tracing::error!(source = %source, error = %e, "cannot commit a page; it will be polled again");
            Err(PollStep::Failed {
                error: e.to_string(),
            })
        }
    }
}
