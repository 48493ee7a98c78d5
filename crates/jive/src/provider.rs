//! [`JiveProvider`]: Jive has no event stream, so each poll reads one closed time window
//! `(after, before]` of both change lists and synthesizes the events from what changed.
//!
//! - **Window.** `before = min(after + span, now − skew)`, read from both change lists; how a
//!   window is sized, halved and paged without trusting offsets is in `window.rs`.
//! - **Order.** Both lists are merged by `(time, deletions first, id)`: a deletion and a restore
//!   of one item in the same millisecond can only have happened in that order.
//! - **Dual checkpoint.** One versioned record holds the contents position and the deletions
//!   position (always the same `before`: the two are kept in step) and, for each, the ids read at
//!   exactly that millisecond, so the inclusive bounds repeat nothing and lose nothing. It is
//!   written only for a window both endpoints completed.
//! - **Watermark.** The `before` of the last completed window.

use crate::auth::Authenticator;
use crate::client::{
    Authorization, ContentsQuery, DeletedQuery, JiveClient, WireContent, WireDeleted, WireList,
};
use crate::config::{ConfigError, JiveConfig, StartPosition, place_path};
use crate::error::JiveError;
use crate::map::{self, Context, Known};
use crate::window::Windows;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tributary_core::{
    Checkpoint, Clock, Event, ObjectChange, ObjectStateError, ObjectStateRead, Page, PollPolicy,
    Provider, ProviderError, SourceId, Watermark,
};

/// The Jive checkpoint, versioned: `{"version":"V1","origin":…,"contents":{"through":…,
/// "boundary":["5003@1714554902511"]},"deletions":{"through":…,"boundary":[]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum JiveCheckpoint {
    V1(CheckpointV1),
}

/// Version 1 of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointV1 {
    /// Content published after this is new to the source (`add`); content published before it
    /// existed when the source started (its first sighting is an `update`).
    #[serde(with = "tributary_core::time::millis")]
    pub origin: DateTime<Utc>,
    /// Changes at or before this time teach the source what exists without an event (a
    /// `snapshot` start).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "tributary_core::time::millis_opt"
    )]
    pub quiet_until: Option<DateTime<Utc>>,
    /// `/contents`: read through `through`; `boundary` holds `contentID@updated_ms` of the items
    /// read with `updated == through`.
    pub contents: Position,
    /// `/deletedObjects/contents`: read through `through`; `boundary` holds the marker ids read
    /// with `eventDate == through`.
    pub deletions: Position,
}

/// How far one endpoint has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(with = "tributary_core::time::millis")]
    pub through: DateTime<Utc>,
    #[serde(default)]
    pub boundary: BTreeSet<String>,
}

/// What this source has done, for its status: counts since the provider was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JiveStats {
    /// Requests sent to Jive.
    pub calls: u64,
    /// Windows completed.
    pub windows: u64,
    /// Windows halved because their first page came back full.
    pub splits: u64,
    /// Passes over tied items (same `updated` and `published` millisecond, more than a page)
    /// or over a window's deletion markers (more than a page) that disagreed with the pass
    /// before them.
    pub shift_repairs: u64,
    /// Passes over groups of tied items and over multi-page marker reads (two that agree end
    /// one).
    pub tie_passes: u64,
    /// Groups of tied items or marker reads whose passes never agreed: each one a gap, with
    /// what was read.
    pub gaps: u64,
    /// Items that could not be read (logged at ERROR with their payload) and were skipped.
    pub unreadable: u64,
    /// OAuth access-token refreshes.
    pub token_refreshes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    windows: AtomicU64,
    unreadable: AtomicU64,
}

/// One change seen in a window.
#[derive(Debug)]
enum Sighting {
    Deleted(WireDeleted, Value),
    Content(Box<WireContent>, Value),
}

impl Sighting {
    /// `(time, deletions first, id)`, ids compared as numbers when they are (shorter first).
    fn order(&self) -> (DateTime<Utc>, u8, usize, &str) {
        match self {
            Sighting::Deleted(m, _) => (m.event_date, 0, m.id.len(), &m.id),
            Sighting::Content(c, _) => (c.updated, 1, c.content_id.len(), &c.content_id),
        }
    }
}

/// The Jive REST v3 API as a tributary [`Provider`].
pub struct JiveProvider {
    pub(crate) source: SourceId,
    pub(crate) config: JiveConfig,
    client: JiveClient,
    objects: Arc<dyn ObjectStateRead>,
    pub(crate) clock: Arc<dyn Clock>,
    auth: Authenticator,
    version_checked: AtomicBool,
    /// `config.places` as `/places/N`.
    place_paths: Vec<String>,
    /// The windowing's memory between polls and its counts.
    pub(crate) windows: Windows,
    counters: Counters,
}

impl std::fmt::Debug for JiveProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiveProvider")
            .field("source", &self.source)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JiveProvider {
    /// Validates `config` and builds the provider. `objects` is the source's committed object
    /// memory (the store's), which pages change. Every request goes out through `outbound` (and
    /// its address policy).
    pub fn new(
        source: SourceId,
        config: JiveConfig,
        objects: Arc<dyn ObjectStateRead>,
        clock: Arc<dyn Clock>,
        outbound: tributary_http::Outbound,
    ) -> Result<Self, ConfigError> {
        let base = config.validate()?;
        let budget = tributary_http::PollBudget::new(config.poll_limits(), clock.clone());
        let client = JiveClient::new(
            base,
            config.request_timeout(),
            config.max_response_bytes,
            budget,
            outbound,
        )?;
        let auth = Authenticator::new(source.clone(), config.credentials.clone(), client.base());
        let place_paths = config.places.iter().filter_map(|p| place_path(p)).collect();
        Ok(Self {
            source,
            place_paths,
            config,
            client,
            objects,
            clock,
            auth,
            version_checked: AtomicBool::new(false),
            windows: Windows::default(),
            counters: Counters::default(),
        })
    }

    /// Stores rotated refresh tokens through `writer` before they are used (without one, they
    /// live in memory only).
    /// The base URL this source sends its requests to (checked against the address policy
    /// when a source is created).
    pub fn target(&self) -> &str {
        self.client.base()
    }

    pub fn with_credential_writer(
        mut self,
        writer: Arc<dyn tributary_core::CredentialWriter>,
    ) -> Self {
        self.auth.set_writer(writer);
        self
    }

    pub fn source(&self) -> &SourceId {
        &self.source
    }

    pub fn config(&self) -> &JiveConfig {
        &self.config
    }

    /// The schedule the engine should poll this source with.
    pub fn poll_policy(&self) -> &PollPolicy {
        &self.config.poll
    }

    pub fn stats(&self) -> JiveStats {
        let c = &self.counters;
        JiveStats {
            calls: self.client.calls(),
            windows: c.windows.load(Ordering::Relaxed),
            splits: self.windows.splits(),
            shift_repairs: self.windows.shift_repairs(),
            tie_passes: self.windows.tie_passes(),
            gaps: self.windows.unstable(),
            unreadable: c.unreadable.load(Ordering::Relaxed),
            token_refreshes: self.auth.refreshes(),
        }
    }

    async fn poll_inner(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, JiveError> {
        // Every request from here on (version, token, lists) spends from this poll's budget.
        self.client.budget().start();
        if !self.version_checked.load(Ordering::Relaxed) {
            let version = self.client.version().await?;
            let found = version.core_v3_revision().unwrap_or(0);
            if found < 12 {
                return Err(JiveError::TooOld { found });
            }
            self.version_checked.store(true, Ordering::Relaxed);
        }
        let horizon = tributary_core::time::truncate(self.clock.now()) - self.skew();
        let cp = match checkpoint {
            Some(c) => {
                let JiveCheckpoint::V1(cp) = c.decode::<JiveCheckpoint>()?;
                cp
            }
            None => return self.start(horizon).await,
        };
        let after = cp.contents.through;
        if horizon <= after {
            return Ok(Page::new(
                Vec::new(),
                Checkpoint::encode(&JiveCheckpoint::V1(cp))?,
                Some(Watermark::new(after)),
                false,
            ));
        }
        self.window(cp, horizon).await
    }

    fn skew(&self) -> TimeDelta {
        TimeDelta::milliseconds(i64::try_from(self.config.skew_ms).unwrap_or(i64::MAX / 4))
    }

    /// The first poll: where the source starts, with no events.
    async fn start(&self, horizon: DateTime<Utc>) -> Result<Page, JiveError> {
        let (origin, quiet_until, through) = match self.config.start {
            StartPosition::Latest => (horizon, None, horizon),
            StartPosition::Snapshot => (horizon, Some(horizon), self.oldest(horizon).await?),
            StartPosition::Backfill => (
                tributary_core::time::min(),
                None,
                self.oldest(horizon).await?,
            ),
        };
        let position = Position {
            through,
            boundary: BTreeSet::new(),
        };
        let cp = CheckpointV1 {
            origin,
            quiet_until,
            contents: position.clone(),
            deletions: position,
        };
        tracing::info!(source = %self.source, start = ?self.config.start, %through, "jive source starts");
        Ok(Page::new(
            Vec::new(),
            Checkpoint::encode(&JiveCheckpoint::V1(cp))?,
            Some(Watermark::new(through)),
            through < horizon,
        ))
    }

    /// Just before the oldest change Jive still lists: the first content created (no item can
    /// have been modified before it was created) or the first deletion marker, whichever is older.
    async fn oldest(&self, horizon: DateTime<Utc>) -> Result<DateTime<Utc>, JiveError> {
        let mut oldest = horizon;
        for place in self.places() {
            let q = ContentsQuery {
                before: horizon,
                after: None,
                types: &self.config.types,
                place,
                created_after: None,
                created_before: None,
                start_index: 0,
                count: 1,
            };
            let page = self.contents(&q).await?;
            if let Some(first) = page.list.first() {
                let c = WireContent::from_json(first).map_err(|e| JiveError::Malformed {
                    endpoint: "GET /api/core/v3/contents".into(),
                    detail: format!("the oldest item is unreadable: {e}"),
                })?;
                oldest = oldest.min(c.published).min(c.updated);
            }
        }
        let q = DeletedQuery {
            since: tributary_core::time::min().max(DateTime::UNIX_EPOCH),
            types: &self.config.types,
            start_index: 0,
            count: 1,
        };
        let page = self.deleted(&q).await?;
        if let Some(first) = page.list.first()
            && let Ok(m) = WireDeleted::from_json(first)
        {
            oldest = oldest.min(m.event_date);
        }
        Ok(oldest - TimeDelta::milliseconds(1))
    }

    /// Whether a deletion concerns this source: deletion markers carry no place, so a source
    /// watching places only takes deletions of content it saw in one of them.
    fn watches(&self, known: Option<&Known>) -> bool {
        if self.config.places.is_empty() {
            return true;
        }
        known
            .and_then(|k| k.parent.as_deref())
            .is_some_and(|parent| self.place_paths.iter().any(|p| p == parent))
    }

    pub(crate) fn places(&self) -> Vec<Option<&str>> {
        if self.config.places.is_empty() {
            vec![None]
        } else {
            self.config
                .places
                .iter()
                .map(|p| Some(p.as_str()))
                .collect()
        }
    }

    /// Reads the window after `cp` and synthesizes its events.
    async fn window(&self, cp: CheckpointV1, horizon: DateTime<Utc>) -> Result<Page, JiveError> {
        let after = cp.contents.through;
        let mut requests = 0u32;
        let (before, items, mut gaps) = self.window_contents(after, horizon, &mut requests).await?;
        let markers = self
            .deletions_through(after, before, horizon, &mut requests, &mut gaps)
            .await?;

        // Everything read for (after, before]: at `after` itself, only what the last window did not
        // read (nothing at the origin of a `latest` source: it existed when the source started).
        let mut sightings = Vec::with_capacity(items.len() + markers.len());
        for raw in items.into_values() {
            match WireContent::from_json(&raw) {
                Ok(c) if c.updated < after || c.updated > before => {}
                Ok(c)
                    if c.updated == after
                        && (after == cp.origin
                            || cp.contents.boundary.contains(&boundary_id(&c))) => {}
                Ok(c) => sightings.push(Sighting::Content(Box::new(c), raw)),
                Err(e) => self.unreadable("content item", &raw, &e),
            }
        }
        for raw in markers {
            match WireDeleted::from_json(&raw) {
                Ok(m) if m.event_date < after || m.event_date > before => {}
                Ok(m)
                    if m.event_date == after
                        && (after == cp.origin || cp.deletions.boundary.contains(&m.id)) => {}
                Ok(m) => sightings.push(Sighting::Deleted(m, raw)),
                Err(e) => self.unreadable("deletion marker", &raw, &e),
            }
        }
        sightings.sort_by(|a, b| a.order().cmp(&b.order()));

        let ctx = Context {
            source: &self.source,
            observed_at: self.clock.now(),
            origin: cp.origin,
            keep_raw: self.config.keep_raw,
        };
        let mut known: HashMap<String, Known> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        let mut contents_boundary = BTreeSet::new();
        let mut deletions_boundary = BTreeSet::new();
        for s in &sightings {
            let (id, time) = match s {
                Sighting::Content(c, _) => (c.content_id.as_str(), c.updated),
                Sighting::Deleted(m, _) => (m.object_id.as_str(), m.event_date),
            };
            let before_now = match known.get(id) {
                Some(k) => Some(k.clone()),
                None => self.remembered(id)?,
            };
            if let Sighting::Deleted(..) = s
                && !self.watches(before_now.as_ref())
            {
                continue;
            }
            let made = match s {
                Sighting::Content(c, raw) => {
                    if c.updated == before {
                        contents_boundary.insert(boundary_id(c));
                    }
                    map::content(&ctx, c, raw, before_now.as_ref())
                }
                Sighting::Deleted(m, raw) => {
                    if m.event_date == before {
                        deletions_boundary.insert(m.id.clone());
                    }
                    map::deletion(&ctx, m, raw, before_now.as_ref())
                }
            }
            .map_err(|e| JiveError::Malformed {
                endpoint: "jive".into(),
                detail: format!("cannot make an event id: {e}"),
            })?;
            if let Some(event) = made.event
                && cp.quiet_until.is_none_or(|q| time > q)
            {
                events.push(event);
            }
            known.insert(id.to_owned(), made.known);
        }
        let mut objects = Vec::with_capacity(known.len());
        for (id, k) in known {
            let value = serde_json::to_value(&k).map_err(|e| {
                JiveError::ObjectState(ObjectStateError(format!("encoding {id}: {e}")))
            })?;
            objects.push(ObjectChange::set(map::key(&id), value));
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));

        let next = CheckpointV1 {
            origin: cp.origin,
            quiet_until: cp.quiet_until.filter(|q| *q > before),
            contents: Position {
                through: before,
                boundary: contents_boundary,
            },
            deletions: Position {
                through: before,
                boundary: deletions_boundary,
            },
        };
        self.counters.windows.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(source = %self.source, %after, %before, requests, events = events.len(), "jive window read");
        let mut page = Page::new(
            events,
            Checkpoint::encode(&JiveCheckpoint::V1(next))?,
            Some(Watermark::new(before)),
            before < horizon,
        );
        page.objects = objects;
        page.gaps = gaps;
        Ok(page)
    }

    fn remembered(&self, content_id: &str) -> Result<Option<Known>, JiveError> {
        match self.objects.get(&map::key(content_id))? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                JiveError::ObjectState(ObjectStateError(format!(
                    "the remembered state of content {content_id} is unreadable: {e}"
                )))
            }),
        }
    }

    fn unreadable(&self, what: &str, raw: &Value, e: &serde_json::Error) {
        self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
        tracing::error!(source = %self.source, error = %e, payload = %raw, "skipping an unreadable Jive {what}");
    }

    /// The `Authorization` for the next request (see `auth.rs`).
    async fn authorization(&self) -> Result<Authorization, JiveError> {
        self.auth
            .authorization(&self.client, self.clock.as_ref())
            .await
    }

    pub(crate) async fn contents(&self, q: &ContentsQuery<'_>) -> Result<WireList, JiveError> {
        let auth = self.authorization().await?;
        match self.client.contents(&auth, q).await {
            Err(JiveError::Unauthorized { .. }) if self.auth.refused(&auth).await => {
                let auth = self.authorization().await?;
                self.client.contents(&auth, q).await
            }
            r => r,
        }
    }

    pub(crate) async fn deleted(&self, q: &DeletedQuery<'_>) -> Result<WireList, JiveError> {
        let auth = self.authorization().await?;
        match self.client.deleted(&auth, q).await {
            Err(JiveError::Unauthorized { .. }) if self.auth.refused(&auth).await => {
                let auth = self.authorization().await?;
                self.client.deleted(&auth, q).await
            }
            r => r,
        }
    }
}

#[async_trait::async_trait]
impl Provider for JiveProvider {
    fn name(&self) -> &str {
        map::PROVIDER
    }

    fn upstream_calls(&self) -> Option<u64> {
        Some(self.stats().calls)
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        self.poll_inner(checkpoint).await.map_err(Into::into)
    }
}

fn boundary_id(c: &WireContent) -> String {
    format!("{}@{}", c.content_id, c.updated.timestamp_millis())
}
