//! The Egnyte [`Provider`]: the pages of the Events API one poll reads, the checkpoint that
//! follows them, gaps when Egnyte lost events before we read them, and the watermark.
//!
//! Rules (see also `docs/providers/egnyte.md`):
//! - **Paging** (notes §3.1, §4.1, §12.2–4): ask `id = last_id` (exclusive), `count = page_size`;
//!   the next `last_id` is `max(latest_id, the largest event id in the page)`. While a page is
//!   full and fewer than `max_pages_per_poll` pages were read, the same poll lists the next page
//!   at once; all of them become one [`Page`] (one commit) whose checkpoint is after the last page
//!   read. A page that is not full ends the poll (caught up). A poll that stops on its budget
//!   says `more` (drain at once). So a backlog costs `ceil(events / page_size)` list requests
//!   (plus the one empty answer when it ends on a full page), whatever the budget.
//! - **An error on a later page** (any error, a 404 included) ends the poll with the pages
//!   already read and `more`: nothing read is lost, nothing past an unread page is committed, and
//!   the next poll starts at the failed page and meets the error with the first page's rules (a
//!   404 restarts with a gap, a throttle waits, a 5xx fails the poll).
//! - **Bounds**: every request spends from the poll's budget (`max_requests_per_poll`,
//!   `max_poll_time_ms`) and reads at most `max_response_bytes`. A bound reached after some pages
//!   is an error on a later page (the pages read are committed); before any, the poll fails.
//! - **First poll**: read `/cursor`; `latest` starts after `latest_event_id`; `oldest` starts
//!   after `oldest_event_id - 1`, so the oldest retained event is read when Egnyte still accepts
//!   that id, and when it answers 404 instead the normal 404 rule records the one lost event
//!   `(oldest - 1, oldest]` as a gap. Never silent either way.
//! - **404** on the saved id (notes §7, §12.6): read `/cursor` and restart after
//!   `oldest_event_id`, returning a [`Gap`] `{after: saved id, resumed_at: oldest_event_id}`: the
//!   ids `(saved, oldest]` are lost (the exclusive list never returns `oldest` itself). If the
//!   saved id is still inside `[oldest, latest]`, nothing was lost: re-read from `oldest` (the
//!   store absorbs the repeats by id) without a gap.
//! - **Cursor check** (reset detection and filter starvation, notes §2, §7, §12.5, §12.14): when
//!   `cursor_check_interval` has passed since the last `/cursor` read, busy or idle, read
//!   `/cursor` *before* listing: one extra call per interval, whatever the source is doing. Every
//!   `/cursor` read records `oldest_event_id` in the checkpoint. Egnyte's store was reset when
//!   - `latest_event_id` is below the saved id: record a gap `{after: saved, resumed_at}` and
//!     restart in the new store: after `oldest - 1` when it surely has events (`latest > oldest`),
//!     so its oldest event is read too (a 404 there is then the 404 rule's one-event gap), else
//!     after `oldest` (an empty store must not answer 404; one event at `oldest` is in the gap);
//!     a reset found through a 404 restarts after `oldest` (the poll has no list left for a second
//!     404);
//!   - or `oldest_event_id` went below the recorded one while `latest_event_id` is not below the
//!     saved id (the new store's ids overtook ours while we were busy): the new store's ids
//!     `oldest..=saved` were never read, so the gap is `{after: oldest - 1, resumed_at: saved}`,
//!     and reading goes on after the saved id (the ids above it were read and committed); found
//!     through a 404 on the saved id, after the new `oldest` instead (no second 404).
//!
//!   Either way the checkpoint's `epoch` goes up, which prefixes our event ids (`r1-123`) so
//!   reused Egnyte ids are not mistaken for events already stored. Without a reset, if the list
//!   then answers 204, the saved id moves to that `latest_event_id`: safe, since the empty answer
//!   covers every id up to a moment after the cursor read. So a quiet filtered stream never ages
//!   out of retention (30 days, and the latest 300,000 events per the integrations cookbook or
//!   500,000 per the API reference) as long as the interval is far shorter than that;
//!   the default is 15 minutes. A reset is also caught by the 404 rule when Egnyte answers 404
//!   for the stale id.
//! - **Watermark**: once caught up (the last page was not full), the poll's start time minus
//!   `watermark_skew`; `None` while draining a backlog. Within the source, order is Egnyte's id
//!   order (timestamps have whole seconds only).

use crate::auth::Authenticator;
use crate::client::{EgnyteClient, EventsQuery, WireCursor, WireEventsPage};
use crate::config::{ConfigError, EgnyteConfig, Secret};
use crate::credential::{CredentialFingerprint, RateLimiters};
use crate::error::EgnyteError;
use crate::map::{MapError, Mapper, PROVIDER};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tributary_core::{
    Checkpoint, Clock, Event, Gap, ObjectChange, ObjectStateRead, Page, PollPolicy, Provider,
    ProviderError, SourceId, Watermark,
};
use tributary_http::Outbound;

/// The Egnyte checkpoint, versioned: `{"version":"V1","last_id":70415,"epoch":0,
/// "cursor_checked_at":"2026-01-05T09:14:02.000Z","idle":false,"oldest_event_id":61877}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum EgnyteCheckpoint {
    V1(CheckpointV1),
}

/// Version 1 of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointV1 {
    /// The Egnyte event id to list after (exclusive).
    pub last_id: u64,
    /// Upstream store resets seen; after the first, event ids are `r{epoch}-{id}`.
    #[serde(default)]
    pub epoch: u32,
    /// When `/events/cursor` was last read (by this poller's clock).
    #[serde(default, with = "tributary_core::time::millis_opt")]
    pub cursor_checked_at: Option<DateTime<Utc>>,
    /// Whether the last poll found nothing new.
    #[serde(default)]
    pub idle: bool,
    /// `/events/cursor`'s `oldest_event_id` at the last read: it only grows while Egnyte's store
    /// lives, so a smaller one means the store was reset. Absent in checkpoints written before
    /// it was recorded (and until the next `/cursor` read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_event_id: Option<u64>,
}

/// What this source has done, for its status: counts since the provider was built (they count
/// what polls saw, so a page polled twice is counted twice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EgnyteStats {
    /// Requests this source sent to Egnyte (each waited on the credential's limiter).
    pub calls: u64,
    /// The credential's fingerprint (never the secret).
    pub credential: String,
    /// The credential's daily quota as Egnyte last reported it (shared by its sources).
    pub quota_used: Option<u64>,
    pub quota_allotted: Option<u64>,
    /// Events whose `type/action` has no unified meaning, by `type/action` (emitted as `update`).
    pub unmapped: BTreeMap<String, u64>,
    /// Events without a usable id, skipped (logged at ERROR with their payload).
    pub unreadable: u64,
    /// Gaps reported (404 resets, store resets, an unreadable oldest event).
    pub gaps: u64,
    /// Upstream store resets detected.
    pub resets: u64,
    /// OAuth access-token refreshes.
    pub token_refreshes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    unmapped: BTreeMap<String, u64>,
    unreadable: u64,
    gaps: u64,
    resets: u64,
}

/// The Egnyte Events API as a tributary [`Provider`].
pub struct EgnyteProvider {
    source: SourceId,
    config: EgnyteConfig,
    client: EgnyteClient,
    auth: Authenticator,
    objects: Arc<dyn ObjectStateRead>,
    clock: Arc<dyn Clock>,
    counters: Mutex<Counters>,
}

impl std::fmt::Debug for EgnyteProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgnyteProvider")
            .field("source", &self.source)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EgnyteProvider {
    /// Validates `config` and builds the provider. `limiters` is the engine's one registry: the
    /// source shares its credential's limiter, quota and token with every other source using it.
    /// Every request goes out through `outbound` (and its address policy).
    pub fn new(
        source: SourceId,
        config: EgnyteConfig,
        objects: Arc<dyn ObjectStateRead>,
        limiters: &RateLimiters,
        clock: Arc<dyn Clock>,
        outbound: Outbound,
    ) -> Result<Self, ConfigError> {
        let base = config.validate()?;
        let credential = limiters.credential(&config.credentials, &base);
        let budget = tributary_http::PollBudget::new(config.poll_limits(), clock.clone());
        let client = EgnyteClient::new(
            base,
            config.api_version,
            config.request_timeout(),
            config.max_response_bytes,
            budget,
            credential,
            outbound,
        )?;
        Ok(Self {
            source,
            auth: Authenticator::new(config.credentials.clone()),
            config,
            client,
            objects,
            clock,
            counters: Mutex::new(Counters::default()),
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

    pub fn config(&self) -> &EgnyteConfig {
        &self.config
    }

    /// The schedule the engine should poll this source with.
    pub fn poll_policy(&self) -> &PollPolicy {
        &self.config.poll
    }

    pub fn credential(&self) -> CredentialFingerprint {
        self.client.credential().fingerprint()
    }

    pub fn stats(&self) -> EgnyteStats {
        let quota = self.client.credential().quota();
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        EgnyteStats {
            calls: self.client.calls(),
            credential: self.credential().to_string(),
            quota_used: quota.used,
            quota_allotted: quota.allotted,
            unmapped: c.unmapped.clone(),
            unreadable: c.unreadable,
            gaps: c.gaps,
            resets: c.resets,
            token_refreshes: self.auth.refreshes(),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Runs `call` with the current token; after a refused OAuth token, once more with a fresh one.
    async fn authed<T, F, Fut>(&self, call: F) -> Result<T, EgnyteError>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, EgnyteError>>,
    {
        let token = self.auth.token(&self.client, self.clock.as_ref()).await?;
        match call(token.clone()).await {
            Err(EgnyteError::Unauthorized { .. })
                if self.auth.refused(&self.client, &token).await =>
            {
                let token = self.auth.token(&self.client, self.clock.as_ref()).await?;
                call(token).await
            }
            other => other,
        }
    }

    async fn cursor(&self) -> Result<WireCursor, EgnyteError> {
        self.authed(|t| async move { self.client.cursor(&t).await })
            .await
    }

    async fn list(&self, after: u64) -> Result<Option<WireEventsPage>, EgnyteError> {
        let query = EventsQuery {
            id: after,
            count: self.config.page_size,
            folder: self.config.folder.as_deref(),
            types: &self.config.types,
            suppress: self.config.suppress,
        };
        let query = &query;
        self.authed(|t| async move { self.client.events(&t, query).await })
            .await
    }

    /// A new source's position, from `/cursor` and the configured start.
    async fn bootstrap(&self, now: DateTime<Utc>) -> Result<CheckpointV1, EgnyteError> {
        let cursor = self.cursor().await?;
        let last_id = match self.config.start {
            crate::config::StartPosition::Latest => cursor.latest_event_id,
            crate::config::StartPosition::Oldest => cursor.oldest_event_id.saturating_sub(1),
        };
        tracing::info!(
            source = %self.source,
            start = ?self.config.start,
            last_id,
            latest_event_id = cursor.latest_event_id,
            oldest_event_id = cursor.oldest_event_id,
            "Egnyte source starts"
        );
        Ok(CheckpointV1 {
            last_id,
            epoch: 0,
            cursor_checked_at: Some(now),
            idle: false,
            oldest_event_id: Some(cursor.oldest_event_id),
        })
    }

    /// Reads what a `/cursor` answer says about `pos`: a reset store (the gap, with `pos` moved
    /// to the new store and a new epoch) or nothing; records its `oldest_event_id` either way.
    /// `via_404`: the answer follows a 404 on the saved id (the poll has one list left).
    fn observe_cursor(
        &self,
        pos: &mut CheckpointV1,
        cursor: &WireCursor,
        now: DateTime<Utc>,
        via_404: bool,
    ) -> Option<Gap> {
        let gap = if cursor.latest_event_id < pos.last_id {
            Some(self.reset_behind(pos, cursor, now, via_404))
        } else if pos
            .oldest_event_id
            .is_some_and(|seen| cursor.oldest_event_id < seen)
        {
            Some(self.reset_overtaken(pos, cursor, now, via_404))
        } else {
            None
        };
        pos.oldest_event_id = Some(cursor.oldest_event_id);
        gap
    }

    fn count_reset(&self, pos: &CheckpointV1, cursor: &WireCursor, saved: u64) {
        tracing::error!(
            source = %self.source,
            saved_id = saved,
            latest_event_id = cursor.latest_event_id,
            oldest_event_id = cursor.oldest_event_id,
            oldest_seen = ?pos.oldest_event_id,
            epoch = pos.epoch,
            resumed_after = pos.last_id,
            "Egnyte's event store was reset: events were lost"
        );
        self.count(|c| {
            c.resets += 1;
            c.gaps += 1;
        });
    }

    /// A reset store whose ids are below the saved id (`latest_event_id < last_id`): restart in
    /// the new store. When it surely has events (`latest > oldest`), after `oldest - 1`, so that
    /// its oldest event is read too (should Egnyte refuse that id, the 404 rule records that one
    /// event); otherwise (empty, or one event: the cursor cannot tell), or after a 404 (no list
    /// would be left for a second 404), after `oldest`, as an empty store must not cause a 404.
    fn reset_behind(
        &self,
        pos: &mut CheckpointV1,
        cursor: &WireCursor,
        now: DateTime<Utc>,
        via_404: bool,
    ) -> Gap {
        let saved = pos.last_id;
        let oldest = cursor.oldest_event_id;
        let resume = if !via_404 && cursor.latest_event_id > oldest {
            oldest.saturating_sub(1)
        } else {
            oldest
        };
        pos.epoch += 1;
        pos.last_id = resume;
        self.count_reset(pos, cursor, saved);
        let new_store = if resume < oldest {
            "nothing of the new one is lost (its ids start at the oldest retained one)".to_owned()
        } else {
            format!("ids up to {oldest} in the new one are lost")
        };
        Gap {
            detected_at: now,
            after: saved.to_string(),
            resumed_at: resume.to_string(),
            reason: format!(
                "Egnyte's event store was reset: /events/cursor latest_event_id {} is below the saved id {saved}; \
                 unread events after {saved} in the old store are lost, {new_store}; \
                 resumed after {resume}; event ids are now prefixed r{}-",
                cursor.latest_event_id, pos.epoch
            ),
        }
    }

    /// A reset store whose ids already reach the saved id: `oldest_event_id` went below the one
    /// recorded while `latest_event_id` is not below the saved id. The new store's ids from its
    /// oldest up to the saved id were never read (we listed after the saved id); those above it
    /// were read and committed, so reading goes on after the saved id, under a new epoch. After
    /// a 404 on the saved id, listing after it again would only 404 again: resume after the new
    /// oldest instead (the new store's ids up to the saved id were never read, so none is doubled
    /// when the reset is caught before the next list).
    fn reset_overtaken(
        &self,
        pos: &mut CheckpointV1,
        cursor: &WireCursor,
        now: DateTime<Utc>,
        via_404: bool,
    ) -> Gap {
        let saved = pos.last_id;
        let oldest = cursor.oldest_event_id;
        let seen = pos.oldest_event_id.unwrap_or_default();
        let resume = if via_404 { oldest } else { saved.max(oldest) };
        pos.epoch += 1;
        pos.last_id = resume;
        self.count_reset(pos, cursor, saved);
        Gap {
            detected_at: now,
            after: oldest.saturating_sub(1).to_string(),
            resumed_at: resume.to_string(),
            reason: format!(
                "Egnyte's event store was reset: /events/cursor oldest_event_id {oldest} is below {seen}, \
                 the oldest id seen before, while latest_event_id {} is not below the saved id {saved}; \
                 ids {oldest} to {resume} of the new store were not read, and unread events of the old \
                 store are lost; resumed after {resume}; event ids are now prefixed r{}-",
                cursor.latest_event_id, pos.epoch
            ),
        }
    }

    /// After a 404 on `pos.last_id`: where to resume, and the gap if events were lost.
    fn restart(
        &self,
        pos: &mut CheckpointV1,
        cursor: &WireCursor,
        now: DateTime<Utc>,
    ) -> Option<Gap> {
        let saved = pos.last_id;
        if let Some(gap) = self.observe_cursor(pos, cursor, now, true) {
            return Some(gap);
        }
        pos.last_id = cursor.oldest_event_id;
        if cursor.oldest_event_id <= saved {
            tracing::warn!(
                source = %self.source,
                saved_id = saved,
                oldest_event_id = cursor.oldest_event_id,
                "Egnyte answered 404 for an id it still retains: re-reading from the oldest event"
            );
            return None;
        }
        tracing::error!(
            source = %self.source,
            saved_id = saved,
            oldest_event_id = cursor.oldest_event_id,
            "Egnyte no longer retains the saved event id: events were lost"
        );
        self.count(|c| c.gaps += 1);
        Some(Gap {
            detected_at: now,
            after: saved.to_string(),
            resumed_at: cursor.oldest_event_id.to_string(),
            reason: format!(
                "event id {saved} expired upstream (404); events after {saved} up to and including {} \
                 are no longer readable; resumed after {}",
                cursor.oldest_event_id, cursor.oldest_event_id
            ),
        })
    }

    /// Maps one listed page read after `after`: its events, object changes and the next id.
    fn take_page(
        &self,
        mapper: &mut Mapper<'_>,
        listed: Option<WireEventsPage>,
        after: u64,
    ) -> Result<PageRead, EgnyteError> {
        let mut out = PageRead {
            events: Vec::new(),
            upstream_ids: Vec::new(),
            objects: Vec::new(),
            received: 0,
            next_id: after,
        };
        let Some(page) = listed else {
            return Ok(out);
        };
        out.received = page.events.len();
        for raw in &page.events {
            match mapper.map(raw) {
                Ok(m) => {
                    out.next_id = out.next_id.max(m.upstream_id);
                    if let Some(key) = m.unmapped {
                        self.count(|c| *c.unmapped.entry(key).or_default() += 1);
                    }
                    out.objects.extend(m.object_change);
                    out.events.push(m.event);
                    out.upstream_ids.push(m.upstream_id);
                }
                Err(MapError::ObjectState(e)) => return Err(e.into()),
                Err(e @ MapError::Unreadable { .. }) => {
                    tracing::error!(source = %self.source, error = %e, "skipping an Egnyte event without a usable id");
                    self.count(|c| c.unreadable += 1);
                }
            }
        }
        out.next_id = out.next_id.max(page.latest_id.unwrap_or(0));
        if out.received > 0 && out.next_id == after {
            return Err(EgnyteError::Malformed {
                endpoint: format!("GET /pubapi/{}/events", self.config.api_version.as_str()),
                detail: format!(
                    "{} events after id {after} but no usable id past it",
                    out.received
                ),
            });
        }
        Ok(out)
    }

    /// A later page of a poll failed: the poll ends with the pages already read (`more`, so the
    /// next poll starts at once from `next_id` and meets the error again, with its own rules).
    fn stop_early(&self, read: &PagesRead, next_id: u64, error: &EgnyteError) -> bool {
        tracing::warn!(
            source = %self.source,
            error = %error,
            pages = read.pages,
            events = read.events.len(),
            next_id,
            "Egnyte page failed after earlier pages of the same poll: committing those, the next poll retries"
        );
        true
    }

    async fn poll_pages(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, EgnyteError> {
        let started = self.clock.now();
        // Every request from here on (cursor, token, pages) spends from this poll's budget.
        self.client.budget().start();
        let mut gaps = Vec::new();
        let mut pos = match checkpoint {
            Some(c) => {
                let EgnyteCheckpoint::V1(pos) = c.decode()?;
                pos
            }
            None => self.bootstrap(started).await?,
        };

        // The cursor check: once per interval, busy or idle.
        let mut latest_before_list = None;
        let interval = chrono::Duration::from_std(self.config.cursor_check_interval())
            .unwrap_or(chrono::Duration::MAX);
        let due = pos
            .cursor_checked_at
            .is_none_or(|at| started.signed_duration_since(at) >= interval);
        if due {
            let cursor = self.cursor().await?;
            pos.cursor_checked_at = Some(started);
            match self.observe_cursor(&mut pos, &cursor, started, false) {
                Some(gap) => gaps.push(gap),
                None => latest_before_list = Some(cursor.latest_event_id),
            }
        }

        let listed = match self.list(pos.last_id).await {
            Err(EgnyteError::CursorGone { id, .. }) => {
                tracing::warn!(source = %self.source, id, "Egnyte answered 404 for the saved event id");
                let cursor = self.cursor().await?;
                pos.cursor_checked_at = Some(started);
                latest_before_list = None;
                gaps.extend(self.restart(&mut pos, &cursor, started));
                // A second 404 is left to the scheduler's back-off (nothing is committed).
                self.list(pos.last_id).await?
            }
            other => other?,
        };

        // Read pages while they come back full and the budget allows: one commit for all.
        let page_size = self.config.page_size as usize;
        let mut mapper = Mapper::new(
            &self.source,
            self.objects.as_ref(),
            self.clock.now(),
            self.config.keep_raw,
            pos.epoch,
        );
        let mut read = PagesRead::default();
        let mut next_id = pos.last_id;
        let mut listed = listed;
        let more = loop {
            match self.take_page(&mut mapper, listed, next_id) {
                Ok(page) => {
                    next_id = page.next_id;
                    read.add(page);
                }
                Err(e) if read.pages > 0 => break self.stop_early(&read, next_id, &e),
                Err(e) => return Err(e),
            }
            if read.last_received < page_size {
                break false; // caught up
            }
            if read.pages >= self.config.max_pages_per_poll {
                break true;
            }
            listed = match self.list(next_id).await {
                Ok(listed) => listed,
                Err(e) => break self.stop_early(&read, next_id, &e),
            };
            mapper.observed_at(self.clock.now());
        };
        let PagesRead {
            events,
            upstream_ids,
            objects,
            received,
            ..
        } = read;
        if received == 0
            && let Some(latest) = latest_before_list
            && latest > next_id
        {
            tracing::debug!(source = %self.source, from = next_id, to = latest, "quiet stream: moving the saved id to the cursor");
            next_id = latest;
        }
        pos.last_id = next_id;
        pos.idle = received == 0;

        let watermark = (!more).then(|| {
            let skew = chrono::Duration::from_std(self.config.watermark_skew())
                .unwrap_or(chrono::Duration::zero());
            Watermark::new(started - skew)
        });
        let positions = positions(&upstream_ids, pos.epoch)?;
        let checkpoint = Checkpoint::encode(&EgnyteCheckpoint::V1(pos))?;
        let mut page = Page::new(events, checkpoint, watermark, more);
        page.gaps = gaps;
        page.objects = objects;
        page.positions = Some(positions);
        Ok(page)
    }
}

/// Event ids above this cannot be positions (the epoch takes the top 16 bits).
const MAX_POSITION_ID: u64 = (1 << 48) - 1;

/// The store's positions for the page's events: `epoch << 48 | id`, increasing with Egnyte's id
/// order and across resets (each reset bumps the epoch), so the store recognises a replayed
/// event without an index entry per event. Egnyte lists in ascending id order; should a page not
/// be, the store refuses it and the source stops with that message rather than lose an event.
fn positions(ids: &[u64], epoch: u32) -> Result<Vec<u64>, EgnyteError> {
    ids.iter()
        .map(|&id| {
            if id > MAX_POSITION_ID {
                return Err(EgnyteError::Malformed {
                    endpoint: "GET /pubapi/{v}/events".to_owned(),
                    detail: format!("event id {id} is beyond the ids tributary can order (2^48)"),
                });
            }
            Ok((u64::from(epoch) << 48) | id)
        })
        .collect()
}

/// One listed page, mapped.
struct PageRead {
    events: Vec<Event>,
    /// The Egnyte id of each event in `events`.
    upstream_ids: Vec<u64>,
    objects: Vec<ObjectChange>,
    /// Wire events in the page, unreadable ones included (a full page means more is waiting).
    received: usize,
    /// Where the next page starts: `max(latest_id, the largest event id)`.
    next_id: u64,
}

/// What one poll has read so far, over its pages.
#[derive(Default)]
struct PagesRead {
    events: Vec<Event>,
    upstream_ids: Vec<u64>,
    objects: Vec<ObjectChange>,
    received: usize,
    /// Pages read and mapped.
    pages: u32,
    /// Wire events in the last page read.
    last_received: usize,
}

impl PagesRead {
    fn add(&mut self, page: PageRead) {
        self.events.extend(page.events);
        self.upstream_ids.extend(page.upstream_ids);
        self.objects.extend(page.objects);
        self.received += page.received;
        self.last_received = page.received;
        self.pages += 1;
    }
}

#[async_trait::async_trait]
impl Provider for EgnyteProvider {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn upstream_calls(&self) -> Option<u64> {
        Some(self.stats().calls)
    }

    /// Events whose `type/action` has no unified meaning (published as `update`), all kinds.
    fn unmapped(&self) -> Option<u64> {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        Some(c.unmapped.values().sum())
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        self.poll_pages(checkpoint).await.map_err(|e| {
            tracing::warn!(source = %self.source, error = %e, "Egnyte poll failed");
            ProviderError::from(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_id_order_and_grow_across_resets() {
        assert_eq!(positions(&[5, 9], 0).unwrap(), [5, 9]);
        let after_reset = positions(&[1, 2], 1).unwrap();
        assert_eq!(after_reset, [(1 << 48) | 1, (1 << 48) | 2]);
        assert!(
            after_reset[0] > MAX_POSITION_ID,
            "a reset's small ids still come after the old ones"
        );
        assert!(matches!(
            positions(&[1 << 48], 0),
            Err(EgnyteError::Malformed { .. })
        ));
    }
}
