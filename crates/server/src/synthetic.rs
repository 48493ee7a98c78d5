//! A provider that makes up a reproducible stream of file events, for the engine's and the
//! metrics' tests (compiled only for tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{
    Actor, Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, Provider,
    ProviderError, SourceId, Upstream, Watermark,
};

/// Where a synthetic source resumes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "version")]
enum SyntheticCheckpoint {
    V1 { next: u64 },
}

/// `total` events, spread over time from `start` with seeded random gaps, served `page_size` at a
/// time. Event `n` is the same on every run with the same seed, so replays deduplicate.
#[derive(Debug, Clone)]
pub struct SyntheticProvider {
    source: SourceId,
    seed: u64,
    start: DateTime<Utc>,
    total: u64,
    page_size: u64,
}

const USERS: [&str; 3] = ["ada", "grace", "linus"];
const FOLDERS: [&str; 3] = ["/Shared/Reports", "/Shared/Design", "/Private/Notes"];

impl SyntheticProvider {
    pub fn new(
        source: SourceId,
        seed: u64,
        start: DateTime<Utc>,
        total: u64,
        page_size: u64,
    ) -> Self {
        Self {
            source,
            seed,
            start,
            total,
            page_size: page_size.max(1),
        }
    }

    /// The time of event `n`: `n × 200 ms` plus a seeded jitter below 200 ms, so each event comes
    /// 1 to 399 ms after the one before.
    fn time(&self, n: u64) -> DateTime<Utc> {
        let jitter =
            fastrand::Rng::with_seed(self.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407)).u64(0..200);
        let offset = n.saturating_mul(200).saturating_add(jitter);
        self.start + chrono::Duration::milliseconds(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    fn event(&self, n: u64, occurred_at: DateTime<Utc>) -> Result<Event, ProviderError> {
        let mut rng = fastrand::Rng::with_seed(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let event_type = EventType::ALL[rng.usize(..EventType::ALL.len())];
        let folder = FOLDERS[rng.usize(..FOLDERS.len())];
        let file = rng.u32(1..=40);
        let mut object = Object::new(
            format!("{}-f{file}", self.source),
            ObjectKind::File,
            format!("file-{file}.txt"),
        );
        object.path = Some(format!("{folder}/file-{file}.txt"));
        object.size = Some(rng.u64(100..1_000_000));
        object.modified = Some(occurred_at);
        let previous = matches!(
            event_type,
            EventType::Move | EventType::Rename | EventType::Copy
        )
        .then(|| {
            let mut before = object.clone();
            before.path = Some(format!(
                "{}/old-{file}.txt",
                FOLDERS[rng.usize(..FOLDERS.len())]
            ));
            before.name = format!("old-{file}.txt");
            before
        });
        let fatal = |e: tributary_core::IdError| ProviderError::Fatal {
            message: e.to_string(),
        };
        Ok(Event {
            id: EventId::new(n.to_string()).map_err(fatal)?,
            seq: None,
            source: self.source.clone(),
            provider: self.name().to_owned(),
            event_type,
            occurred_at,
            observed_at: tributary_core::time::truncate(Utc::now()),
            object,
            previous,
            actor: Some(Actor {
                id: USERS[rng.usize(..USERS.len())].to_owned(),
                name: None,
                email: None,
                via: None,
            }),
            upstream: Upstream {
                id: n.to_string(),
                action: event_type.as_str().to_owned(),
                raw: None,
            },
            late: false,
        })
    }
}

#[async_trait::async_trait]
impl Provider for SyntheticProvider {
    fn name(&self) -> &str {
        "synthetic"
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        let next = match checkpoint {
            None => 0,
            Some(c) => match c.decode::<SyntheticCheckpoint>() {
                Ok(SyntheticCheckpoint::V1 { next }) => next,
                Err(e) => {
                    return Err(ProviderError::Fatal {
                        message: e.to_string(),
                    });
                }
            },
        };
        let end = (next + self.page_size).min(self.total);
        let events = (next..end)
            .map(|n| self.event(n, self.time(n)))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoint =
            Checkpoint::encode(&SyntheticCheckpoint::V1 { next: end }).map_err(|e| {
                ProviderError::Fatal {
                    message: e.to_string(),
                }
            })?;
        // The next event's time is the promise; once exhausted, nothing more will ever come.
        let watermark = if end < self.total {
            Watermark::new(self.time(end))
        } else {
            Watermark::closed()
        };
        Ok(Page::new(
            events,
            checkpoint,
            Some(watermark),
            end < self.total,
        ))
    }
}
