//! The event log: strictly increasing ids, retention, garbage collection, id resets, and the
//! filtered reads behind `/pubapi/v{1,2}/events`.
//!
//! Besides the retained window (what the API serves) it keeps every event ever appended, the
//! ground truth that tests compare a client's output with.

use super::config::Retention;
use super::event::ActorSpec;
use super::event::{Change, EventKind, LoggedEvent, WireEvent, format_timestamp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// What `/pubapi/v{1,2}/events/cursor` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorInfo {
    pub timestamp: String,
    pub latest_event_id: i64,
    pub oldest_event_id: i64,
}

/// Which API version is asked: v1 never shows `permission_change` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

/// The `suppress` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Suppress {
    #[default]
    None,
    /// Hide events made through the caller's API client.
    App,
    /// Hide events made through the caller's API client by the caller's user.
    User,
}

/// A forced garbage collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gc {
    /// Drop every event whose id is below this.
    BeforeId(i64),
    /// Keep only the last this many events.
    KeepLast(usize),
}

/// A read of the list endpoint, already validated.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub after: i64,
    pub count: usize,
    /// A normalized folder path (no trailing `/`); `/` or `None` means everything.
    pub folder: Option<String>,
    pub types: Option<Vec<EventKind>>,
    pub suppress: Suppress,
    pub caller_client: String,
    pub caller_user: i64,
    pub version: ApiVersion,
}

/// The `id` of a read is older than the retained window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event id {requested} is no longer retained; the oldest is {oldest}")]
pub struct Gone {
    pub requested: i64,
    pub oldest: i64,
}

#[derive(Debug)]
pub(crate) struct EventLog {
    next_id: i64,
    /// The first id of the current epoch.
    epoch_first_id: i64,
    /// Whether an event of the current epoch has been dropped (by retention or GC).
    dropped: bool,
    epoch: u32,
    retention: Retention,
    retained: VecDeque<Arc<LoggedEvent>>,
    all: Vec<Arc<LoggedEvent>>,
    /// The time the cursor shows when the log is empty.
    quiet_since: DateTime<Utc>,
}

impl EventLog {
    pub fn new(first_id: i64, retention: Retention, now: DateTime<Utc>) -> Self {
        Self {
            next_id: first_id,
            epoch_first_id: first_id,
            dropped: false,
            epoch: 0,
            retention,
            retained: VecDeque::new(),
            all: Vec::new(),
            quiet_since: now,
        }
    }

    /// Appends the event `change` by `by` at `at`; returns its id.
    pub fn append(&mut self, change: Change, by: &ActorSpec, at: DateTime<Utc>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let event = Arc::new(LoggedEvent {
            wire: WireEvent {
                id,
                timestamp: format_timestamp(at),
                actor: by.user,
                kind: change.kind,
                action: change.action,
                action_source: by.source,
                object_detail: change.object_detail,
                data: change.data,
                type_specific: change.type_specific,
            },
            at,
            client_id: by.client_id.clone(),
            epoch: self.epoch,
        });
        self.all.push(event.clone());
        self.retained.push_back(event);
        self.apply_retention(at);
        id
    }

    /// Drops what the retention bounds exclude at `now`.
    pub fn apply_retention(&mut self, now: DateTime<Utc>) {
        if let Some(max) = self.retention.max_events {
            while self.retained.len() > max {
                self.drop_front();
            }
        }
        if let Some(age) = self
            .retention
            .max_age
            .and_then(|a| chrono::Duration::from_std(a).ok())
        {
            let limit = now - age;
            while self.retained.front().is_some_and(|e| e.at < limit) {
                self.drop_front();
            }
        }
    }

    fn drop_front(&mut self) {
        if let Some(e) = self.retained.pop_front() {
            self.quiet_since = e.at;
            self.dropped = true;
        }
    }

    /// Forces a collection; returns how many events were dropped.
    pub fn gc(&mut self, gc: Gc) -> usize {
        let before = self.retained.len();
        match gc {
            Gc::BeforeId(id) => {
                while self.retained.front().is_some_and(|e| e.id() < id) {
                    self.drop_front();
                }
            }
            Gc::KeepLast(n) => {
                while self.retained.len() > n {
                    self.drop_front();
                }
            }
        }
        before - self.retained.len()
    }

    /// Forgets the retained events and restarts ids at `to` (a store reset: ids may go backwards).
    pub fn reset(&mut self, to: i64, now: DateTime<Utc>) {
        self.retained.clear();
        self.next_id = to;
        self.epoch_first_id = to;
        self.dropped = false;
        self.epoch += 1;
        self.quiet_since = now;
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn retained_len(&self) -> usize {
        self.retained.len()
    }

    /// Every event ever appended, in order, including collected ones and those before a reset.
    pub fn all(&self) -> &[Arc<LoggedEvent>] {
        &self.all
    }

    /// The cursor. With no retained event, `latest_event_id` and `oldest_event_id` are both the
    /// id before the next one, and `timestamp` is the time of the last event dropped or of the
    /// log's start or reset.
    pub fn cursor(&self) -> CursorInfo {
        match (self.retained.front(), self.retained.back()) {
            (Some(oldest), Some(latest)) => CursorInfo {
                timestamp: latest.wire.timestamp.clone(),
                latest_event_id: latest.id(),
                oldest_event_id: oldest.id(),
            },
            _ => CursorInfo {
                timestamp: format_timestamp(self.quiet_since),
                latest_event_id: self.next_id - 1,
                oldest_event_id: self.next_id - 1,
            },
        }
    }

    /// The smallest `id` a read accepts: `oldest_event_id`, or, while no event of this epoch has
    /// been dropped, the id just before the epoch's first (nothing is lost reading from there).
    pub fn floor(&self) -> i64 {
        if self.dropped {
            self.cursor().oldest_event_id
        } else {
            self.epoch_first_id - 1
        }
    }

    /// The events after `q.after` that pass the filters, at most `q.count`. `Err(Gone)` when
    /// `q.after` is below [`floor`](Self::floor).
    pub fn read(&self, q: &EventQuery) -> Result<Vec<Arc<LoggedEvent>>, Gone> {
        let oldest = self.cursor().oldest_event_id;
        if q.after < self.floor() {
            return Err(Gone {
                requested: q.after,
                oldest,
            });
        }
        let start = self.retained.partition_point(|e| e.id() <= q.after);
        let folder = q
            .folder
            .as_deref()
            .filter(|f| *f != "/")
            .map(str::to_lowercase);
        Ok(self
            .retained
            .range(start..)
            .filter(|e| matches(e, q, folder.as_deref()))
            .take(q.count)
            .cloned()
            .collect())
    }
}

fn matches(e: &LoggedEvent, q: &EventQuery, folder: Option<&str>) -> bool {
    let kind = e.wire.kind;
    if q.version == ApiVersion::V1 && kind == EventKind::PermissionChange {
        return false;
    }
    if let Some(types) = &q.types
        && !types.contains(&kind)
    {
        return false;
    }
    let same_app = e.client_id.as_deref() == Some(q.caller_client.as_str());
    match q.suppress {
        Suppress::App if same_app => return false,
        Suppress::User if same_app && e.wire.actor == q.caller_user => return false,
        _ => {}
    }
    match folder {
        None => true,
        Some(folder) => e.paths().any(|p| {
            let p = p.to_lowercase();
            p == folder
                || p.strip_prefix(folder)
                    .is_some_and(|rest| rest.starts_with('/'))
        }),
    }
}
