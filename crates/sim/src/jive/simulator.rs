//! [`JiveSim`]: one simulated community, shared by the HTTP handlers and by tests calling it
//! directly.

use super::change::{Change, ChangeKind, Logged};
use super::community::{
    Community, ContentId, ContentSnapshot, Marker, OpError, PlaceId, PlaceInfo,
};
use super::config::{AppThrottle, JiveSimConfig};
use super::faults::{Faults, JiveFault, Throttle};
use super::oauth::Auth;
use super::wire::place_uri;
use super::workload::Workload;
use crate::random::uuid;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tributary_core::Clock;

/// Why a simulator call failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error(transparent)]
    Bind(#[from] crate::BindError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// One change to the community, as `POST /_sim/jive/actions` takes it
/// (`{"op": "create", "content_type": "document", "subject": "Q2 plan", "place": 1100}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// `published = now − lag`, `updated = now`.
    Create {
        content_type: String,
        subject: String,
        place: PlaceId,
    },
    /// A new version: `updated = now`.
    Edit {
        content_id: ContentId,
    },
    Rename {
        content_id: ContentId,
        subject: String,
    },
    Move {
        content_id: ContentId,
        place: PlaceId,
    },
    Delete {
        content_id: ContentId,
    },
    Restore {
        content_id: ContentId,
    },
    /// A comment or reply: `lastActivityDate = now`, `updated` unchanged.
    Comment {
        content_id: ContentId,
    },
}

/// What an operation did: its log entry's `seq`, the item, and for a delete the marker's UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub seq: u64,
    pub content_id: ContentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker_id: Option<String>,
}

/// A pending mid-scan mutation: `ops` run before the `remaining`-th next `/contents` answer.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub remaining: u32,
    pub ops: Vec<Operation>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub community: Community,
    pub log: Vec<Logged>,
    pub auth: Auth,
    pub faults: Faults,
    pub throttle: Throttle,
    pub workload: Workload,
    pub hooks: Vec<Hook>,
    pub prefix: bool,
    /// Quirk: `/contents` items that tie on the sort key come in a new random order on every
    /// request (Jive promises no order among them).
    pub shuffle_ties: bool,
    /// Quirk: `/deletedObjects/contents` markers that share an `eventDate` come in a new random
    /// order on each of this many requests to come (`u32::MAX`: on every request; 0: by the
    /// order they were made).
    pub shuffle_marker_ties: u32,
    pub core_revision: u32,
    /// The base URL learned by `serve` (when the config has none).
    pub served_base: Option<String>,
    lag_ms: (u64, u64),
    rng: fastrand::Rng,
    marker_seq: u64,
}

impl State {
    /// Applies `op` by person `by` at `at`.
    pub fn apply(
        &mut self,
        op: &Operation,
        by: usize,
        at: DateTime<Utc>,
    ) -> Result<Outcome, OpError> {
        let c = &mut self.community;
        let (kind, content_id, previous_subject, previous_place, marker_id) = match op {
            Operation::Create {
                content_type,
                subject,
                place,
            } => {
                let place = c.place_index(*place)?;
                let (lo, hi) = self.lag_ms;
                let lag = self.rng.u64(lo.min(hi)..=hi.max(lo));
                let lag = chrono::Duration::milliseconds(i64::try_from(lag).unwrap_or(0));
                let tags = vec![content_type.clone()];
                let text = format!("<p>{subject}</p>");
                let id = c.create(content_type, subject, text, place, by, at - lag, at, tags)?;
                (ChangeKind::Create, id, None, None, None)
            }
            Operation::Edit { content_id } => {
                let item = c.touch(*content_id, at)?;
                item.version += 1;
                item.text = format!("<p>{} (version {})</p>", item.subject, item.version);
                (ChangeKind::Edit, *content_id, None, None, None)
            }
            Operation::Rename {
                content_id,
                subject,
            } => {
                let item = c.touch(*content_id, at)?;
                let before = std::mem::replace(&mut item.subject, subject.clone());
                (ChangeKind::Rename, *content_id, Some(before), None, None)
            }
            Operation::Move { content_id, place } => {
                let to = c.place_index(*place)?;
                let item = c.touch(*content_id, at)?;
                let before = std::mem::replace(&mut item.place, to);
                let before = c.places[before].place_id;
                (ChangeKind::Move, *content_id, None, Some(before), None)
            }
            Operation::Delete { content_id } => {
                let object_type = c.get(*content_id)?.content_type.clone();
                self.marker_seq += 1;
                let marker = Marker {
                    seq: self.marker_seq,
                    uuid: uuid(&mut self.rng),
                    content_id: *content_id,
                    object_type,
                    event_date: at,
                };
                let id = marker.uuid.clone();
                c.delete(*content_id, marker)?;
                (ChangeKind::Delete, *content_id, None, None, Some(id))
            }
            Operation::Restore { content_id } => {
                c.restore(*content_id, at)?;
                (ChangeKind::Restore, *content_id, None, None, None)
            }
            Operation::Comment { content_id } => {
                let item = c.live_mut(*content_id)?;
                item.last_activity = item.last_activity.max(at);
                item.reply_count += 1;
                (ChangeKind::Comment, *content_id, None, None, None)
            }
        };
        let item = c.get(content_id)?;
        self.log.push(Logged {
            at,
            kind,
            content_id,
            content_type: item.content_type.clone(),
            subject: item.subject.clone(),
            place: c.places[item.place].place_id,
            previous_subject,
            previous_place,
            published: item.published,
            marker_id: marker_id.clone(),
            by: c.people[by].username.clone(),
        });
        Ok(Outcome {
            seq: self.log.len() as u64,
            content_id,
            marker_id,
        })
    }

    /// `n` workload operations at `at`; returns how many were applied.
    pub fn generate(&mut self, n: usize, at: DateTime<Utc>) -> usize {
        let mut done = 0;
        for _ in 0..n {
            let (op, by) = self.workload.next(&self.community);
            if self.apply(&op, by, at).is_ok() {
                done += 1;
            }
        }
        done
    }

    /// The seed of this request's order among ties, when ties are shuffled.
    pub fn tie_seed(&mut self) -> Option<u64> {
        self.shuffle_ties.then(|| self.rng.u64(..))
    }

    /// The seed of this `/deletedObjects/contents` request's order among markers that share an
    /// `eventDate`, while they are shuffled.
    pub fn marker_tie_seed(&mut self) -> Option<u64> {
        match self.shuffle_marker_ties {
            0 => None,
            u32::MAX => Some(self.rng.u64(..)),
            n => {
                self.shuffle_marker_ties = n - 1;
                Some(self.rng.u64(..))
            }
        }
    }

    /// Counts one `/contents` request and runs the hooks that are due.
    pub fn contents_request(&mut self, at: DateTime<Utc>) {
        let mut due = Vec::new();
        self.hooks.retain_mut(|h| {
            h.remaining = h.remaining.saturating_sub(1);
            if h.remaining == 0 {
                due.push(std::mem::take(&mut h.ops));
                false
            } else {
                true
            }
        });
        for op in due.into_iter().flatten() {
            if let Err(e) = self.apply(&op, 0, at) {
                tracing::warn!(error = %e, ?op, "mid-scan mutation refused");
            }
        }
    }
}

struct Inner {
    clock: Arc<dyn Clock>,
    config: JiveSimConfig,
    state: Mutex<State>,
}

/// One simulated Jive community. Cheap to clone: clones share the community.
#[derive(Clone)]
pub struct JiveSim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JiveSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiveSim")
            .field("user", &self.inner.config.user)
            .finish_non_exhaustive()
    }
}

/// Milliseconds, as every Jive date has.
fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

impl JiveSim {
    /// A community as `config` describes it, with `config.items` items already created at seeded
    /// times (0.1–2 s apart) ending before `clock.now()`: they are in the log, but a poller that
    /// starts from now sees none of them as changes.
    pub fn new(config: JiveSimConfig, clock: Arc<dyn Clock>) -> Self {
        let now = truncate(clock.now());
        let seed = config.seed;
        let mut state = State {
            community: Community::new(config.places),
            log: Vec::with_capacity(config.items),
            auth: Auth::new(&config, seed ^ 0x0a07),
            faults: Faults::default(),
            throttle: Throttle::new(config.throttle),
            workload: Workload::new(seed ^ 0x3017),
            hooks: Vec::new(),
            prefix: config.prefix,
            shuffle_ties: false,
            shuffle_marker_ties: 0,
            core_revision: config.core_revision,
            served_base: None,
            lag_ms: config.create_update_lag_ms,
            rng: fastrand::Rng::with_seed(seed),
            marker_seq: 0,
        };
        if config.items > 0 {
            let gaps: Vec<i64> = (0..config.items)
                .map(|_| state.workload.rng().i64(100..=2000))
                .collect();
            let span: i64 = gaps.iter().sum();
            let mut t = now - chrono::Duration::milliseconds(span + 1000);
            for gap in gaps {
                t += chrono::Duration::milliseconds(gap);
                let w = &mut state.workload;
                let by = w.rng().usize(..state.community.people.len());
                let place =
                    state.community.places[w.rng().usize(..state.community.places.len())].place_id;
                let op = Operation::Create {
                    content_type: w.content_type().to_owned(),
                    subject: w.subject(),
                    place,
                };
                if let Err(e) = state.apply(&op, by, t) {
                    tracing::warn!(error = %e, "initial item refused");
                }
            }
        }
        Self {
            inner: Arc::new(Inner {
                clock,
                config,
                state: Mutex::new(state),
            }),
        }
    }

    pub fn config(&self) -> &JiveSimConfig {
        &self.inner.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The clock's time, in whole milliseconds.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        truncate(self.inner.clock.now())
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The base of absolute URLs: `config.base_url`, else the address [`serve`](Self::serve)
    /// listens on, else `None` (HTTP answers then use the request's `Host`).
    pub fn base_url(&self) -> Option<String> {
        match &self.inner.config.base_url {
            Some(url) => Some(url.trim_end_matches('/').to_owned()),
            None => self.state().served_base.clone(),
        }
    }

    /// Sets the base URL used when the config has none (what `serve` does by itself).
    pub fn set_base_url(&self, url: &str) {
        self.state().served_base = Some(url.trim_end_matches('/').to_owned());
    }

    /// [`base_url`](Self::base_url), or `http://localhost` before anything is known.
    fn base_or_default(&self) -> String {
        self.base_url()
            .unwrap_or_else(|| "http://localhost".to_owned())
    }

    /// Applies `op` now, as the community's first person (`alice`).
    pub fn apply(&self, op: Operation) -> Result<Outcome, SimError> {
        let now = self.now();
        Ok(self.state().apply(&op, 0, now)?)
    }

    /// Applies `op` now as `username` (one of alice, bob, carol, dave, erin, frank).
    pub fn apply_as(&self, op: Operation, username: &str) -> Result<Outcome, SimError> {
        let now = self.now();
        let mut state = self.state();
        let by = state
            .community
            .person_index(username)
            .ok_or_else(|| SimError::UnknownUser(username.to_owned()))?;
        Ok(state.apply(&op, by, now)?)
    }

    /// Creates an item now (`published` a seeded lag before `updated`); returns its contentID.
    pub fn create(
        &self,
        content_type: &str,
        subject: &str,
        place: PlaceId,
    ) -> Result<ContentId, SimError> {
        self.apply(Operation::Create {
            content_type: content_type.to_owned(),
            subject: subject.to_owned(),
            place,
        })
        .map(|o| o.content_id)
    }

    /// A new version: `updated = now`.
    pub fn edit(&self, content_id: ContentId) -> Result<Outcome, SimError> {
        self.apply(Operation::Edit { content_id })
    }

    pub fn rename(&self, content_id: ContentId, subject: &str) -> Result<Outcome, SimError> {
        self.apply(Operation::Rename {
            content_id,
            subject: subject.to_owned(),
        })
    }

    pub fn move_to(&self, content_id: ContentId, place: PlaceId) -> Result<Outcome, SimError> {
        self.apply(Operation::Move { content_id, place })
    }

    /// Removes the item from `/contents` and appends a deletion marker (`Outcome::marker_id`).
    pub fn delete(&self, content_id: ContentId) -> Result<Outcome, SimError> {
        self.apply(Operation::Delete { content_id })
    }

    /// Brings a deleted item back with `updated = now`; its marker stays.
    pub fn restore(&self, content_id: ContentId) -> Result<Outcome, SimError> {
        self.apply(Operation::Restore { content_id })
    }

    /// A comment: moves `lastActivityDate`, not `updated`.
    pub fn comment(&self, content_id: ContentId) -> Result<Outcome, SimError> {
        self.apply(Operation::Comment { content_id })
    }

    /// `n` seeded workload operations now; returns how many were applied.
    pub fn generate(&self, n: usize) -> usize {
        let now = self.now();
        self.state().generate(n, now)
    }

    /// Runs `ops` (as `alice`, at the clock's time then) just before the sim answers the `n`-th
    /// (1-based, counted from now) `GET /api/core/v3/contents` that passes authentication,
    /// throttling, faults and parameter checks. Refused operations are skipped with a warning.
    pub fn on_contents_request(&self, n: u32, ops: Vec<Operation>) {
        self.state().hooks.push(Hook {
            remaining: n.max(1),
            ops,
        });
    }

    pub fn places(&self) -> Vec<PlaceInfo> {
        let base = self.base_or_default();
        self.state()
            .community
            .places
            .iter()
            .map(|p| PlaceInfo {
                place_id: p.place_id,
                id: p.id,
                uri: place_uri(&base, p),
                name: p.name.clone(),
                place_type: p.place_type.to_owned(),
            })
            .collect()
    }

    /// Live (not deleted) items.
    pub fn contents_count(&self) -> usize {
        self.state().community.live_count()
    }

    pub fn content(&self, content_id: ContentId) -> Option<ContentSnapshot> {
        let state = self.state();
        let c = state.community.get(content_id).ok()?;
        Some(state.community.snapshot(c))
    }

    /// The ground truth: every change ever made, in order, initial items included. Place URIs use
    /// [`base_url`](Self::base_url) (or `http://localhost` before it is known).
    pub fn changes(&self) -> Vec<Change> {
        let base = self.base_or_default();
        self.state()
            .log
            .iter()
            .zip(1..)
            .map(|(l, seq)| l.render(seq, &base))
            .collect()
    }

    pub fn inject(&self, fault: JiveFault) {
        self.state().faults.inject(fault);
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub fn faults(&self) -> Vec<JiveFault> {
        self.state().faults.active().to_vec()
    }

    /// Whether bodies start with the JSON security prefix.
    pub fn set_prefix(&self, on: bool) {
        self.state().prefix = on;
    }

    /// `true`: `/contents` answers list items that tie on the sort key (the same `published` for
    /// `dateCreated*`) in a new random order on every request, as nothing in Jive's documentation
    /// rules out; `false` (the default): by `contentID`.
    pub fn set_shuffle_ties(&self, on: bool) {
        self.state().shuffle_ties = on;
    }

    /// `/deletedObjects/contents` lists markers that share an `eventDate` in a new random order
    /// on each of the next `requests` requests (`u32::MAX`: on every request, for good), as
    /// nothing in Jive's documentation rules out; after them (and by default, `0`) in the order
    /// they were made.
    pub fn set_shuffle_marker_ties(&self, requests: u32) {
        self.state().shuffle_marker_ties = requests;
    }

    /// App throttling on (`Some`) or off.
    pub fn set_throttle(&self, throttle: Option<AppThrottle>) {
        self.state().throttle.mode = throttle;
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state().auth.lifetime = lifetime;
    }

    /// `true`: each refresh answers a new refresh token and voids the old.
    pub fn set_rotate_refresh_tokens(&self, on: bool) {
        self.state().auth.rotate_refresh = on;
    }

    pub fn set_core_revision(&self, revision: u32) {
        self.state().core_revision = revision;
    }

    /// Adds a bearer token acting as `user`, expiring after `expires_in` if given.
    pub fn add_token(&self, token: &str, user: &str, expires_in: Option<Duration>) {
        let now = self.now();
        let expires_at = expires_in
            .and_then(|l| chrono::Duration::from_std(l).ok())
            .and_then(|l| now.checked_add_signed(l));
        self.state().auth.add_token(token, user, expires_at);
    }

    /// Mints an authorization code, as if `user` (the configured user) had approved the add-on.
    pub fn mint_code(&self, user: &str) -> Result<String, SimError> {
        let now = self.now();
        let mut state = self.state();
        if !state.auth.is_user(user) {
            return Err(SimError::UnknownUser(user.to_owned()));
        }
        Ok(state.auth.mint_code(user, now))
    }
}
