//! [`RestProvider`]: each poll reads one closed time window `(after, before]` of every resource
//! (and its deleted list) and synthesizes the events from what changed.
//!
//! - **Window.** `before = min(after + max_window, now − skew)`, aligned down to the coarsest unit
//!   a URL placeholder writes (a URL written to the second gets windows that end on a second, so
//!   the bound in the URL is the bound itself). Items are kept when their updated date is in
//!   `(after, before]`, whatever the server's filter let through.
//! - **Ties.** A list ordered by a date promises no order among equal dates, so a page boundary
//!   can lose or repeat an item. Each window is read with the kit's `read_until_stable`: passes
//!   over every page until two agree on the set of `(id, updated)`; a pass of one request is whole
//!   alone. When passes disagree and the paging can ask for bigger pages (`max_size`), the page
//!   size is doubled and the window read again; when nothing more can be done, the union of what
//!   was read is emitted with a `Gap`.
//! - **Order.** Events of a poll by `(time, id, resource)`; each id once per version (object
//!   memory).
//! - **Checkpoint.** `{"version":"V1","through":…}`: the end of the last window read. Watermark:
//!   the same time (every later window holds later changes only); `more` while windows remain
//!   before `now − skew`.

use crate::auth::Authenticator;
use crate::client::{Answer, RestClient};
use crate::config::{ListSpec, Paging, Resource, RestConfig, Start, resolve};
use crate::error::RestError;
use crate::map::{self, Change, Context, Known, Sighting};
use crate::paging::{grown, list_of, page_size, paged};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{
    Checkpoint, Clock, Event, Gap, ObjectChange, ObjectStateError, ObjectStateRead, Page,
    PollPolicy, Provider, ProviderError, SourceId, Watermark,
};
use tributary_provider_kit::window::{Pass, WindowError, read_until_stable};

/// The REST checkpoint, versioned: `{"version":"V1","through":"2026-03-02T10:00:00.000Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum RestCheckpoint {
    V1 {
        /// Every change at or before this time has been read.
        #[serde(with = "tributary_core::time::millis")]
        through: DateTime<Utc>,
    },
}

/// Counts since the provider was built, for the source's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestStats {
    pub calls: u64,
    pub windows: u64,
    /// Windows whose passes disagreed at first (ties reordered, items moving while paged).
    pub unstable_passes: u64,
    /// Windows emitted with a gap.
    pub gaps: u64,
    /// Items skipped because their id or updated date could not be read (logged at ERROR).
    pub unreadable: u64,
    pub token_refreshes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    windows: AtomicU64,
    unstable: AtomicU64,
    gaps: AtomicU64,
    unreadable: AtomicU64,
}

/// A configured REST API as a tributary [`Provider`].
pub struct RestProvider {
    source: SourceId,
    config: RestConfig,
    base: Url,
    resources: Vec<Resource>,
    client: RestClient,
    auth: Authenticator,
    objects: Arc<dyn ObjectStateRead>,
    clock: Arc<dyn Clock>,
    /// Windows end on multiples of this many ms (in `align_zone_ms`).
    align_ms: i64,
    align_zone_ms: i64,
    counters: Counters,
}

impl std::fmt::Debug for RestProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestProvider")
            .field("source", &self.source)
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl RestProvider {
    /// Checks `config` and builds the provider. Every request goes out through `outbound`.
    pub fn new(
        source: SourceId,
        config: RestConfig,
        objects: Arc<dyn ObjectStateRead>,
        clock: Arc<dyn Clock>,
        outbound: tributary_http::Outbound,
    ) -> Result<Self, tributary_provider_kit::BuildError> {
        let (base, resources) = config.compile()?;
        let base = Url::parse(&base).map_err(|e| crate::config::ConfigError {
            field: "base_url".into(),
            message: e.to_string(),
        })?;
        let budget = tributary_http::PollBudget::new(config.poll_limits(), clock.clone());
        let client = RestClient::new(
            &base,
            outbound,
            config.request_timeout(),
            config.max_response_bytes,
            config.response_prefix.clone(),
            budget,
        )?;
        let templates = resources.iter().flat_map(|r| {
            std::iter::once(&r.spec.url).chain(r.deleted.as_ref().map(|d| &d.spec.url))
        });
        let align_ms = templates
            .clone()
            .map(|t| t.precision_ms())
            .max()
            .unwrap_or(1);
        let align_zone_ms = templates
            .map(|t| i64::from(t.zone_seconds()) * 1000)
            .next()
            .unwrap_or(0);
        let auth = Authenticator::new(config.credentials.clone(), config.oauth.as_ref())?;
        Ok(Self {
            source,
            base,
            resources,
            client,
            auth,
            objects,
            clock,
            align_ms,
            align_zone_ms,
            counters: Counters::default(),
            config,
        })
    }

    /// Stores rotated refresh tokens through `writer` before they are used.
    /// The base URL this source sends its requests to (checked against the address policy
    /// when a source is created).
    pub fn target(&self) -> &str {
        self.base.as_str()
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

    pub fn poll_policy(&self) -> &PollPolicy {
        &self.config.poll
    }

    pub fn stats(&self) -> RestStats {
        let c = &self.counters;
        RestStats {
            calls: self.client.calls(),
            windows: c.windows.load(Ordering::Relaxed),
            unstable_passes: c.unstable.load(Ordering::Relaxed),
            gaps: c.gaps.load(Ordering::Relaxed),
            unreadable: c.unreadable.load(Ordering::Relaxed),
            token_refreshes: self.auth.refreshes(),
        }
    }

    /// `t` down to a window boundary.
    fn align(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let ms = t.timestamp_millis() + self.align_zone_ms;
        let aligned = ms - ms.rem_euclid(self.align_ms) - self.align_zone_ms;
        DateTime::from_timestamp_millis(aligned).unwrap_or(t)
    }

    fn ms(v: u64) -> TimeDelta {
        TimeDelta::milliseconds(i64::try_from(v).unwrap_or(i64::MAX / 4).min(i64::MAX / 4))
    }

    async fn poll_inner(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, RestError> {
        self.client.budget().start();
        let horizon = self.align(self.clock.now() - Self::ms(self.config.skew_ms));
        let after = match checkpoint {
            Some(c) => {
                let RestCheckpoint::V1 { through } = c.decode::<RestCheckpoint>()?;
                through
            }
            None => match self.config.start {
                Start::Latest => {
                    tracing::info!(source = %self.source, through = %horizon, "rest source starts now");
                    return self.empty(horizon, false);
                }
                Start::At(t) => self.align(t),
            },
        };
        if horizon <= after {
            return self.empty(after, false);
        }
        let before = self
            .align((after + Self::ms(self.config.max_window_ms)).min(horizon))
            .max((after + TimeDelta::milliseconds(self.align_ms)).min(horizon));
        self.window(after, before, horizon).await
    }

    fn empty(&self, through: DateTime<Utc>, more: bool) -> Result<Page, RestError> {
        Ok(Page::new(
            Vec::new(),
            Checkpoint::encode(&RestCheckpoint::V1 { through })?,
            Some(Watermark::new(through)),
            more,
        ))
    }

    /// Reads `(after, before]` of every resource and makes its page.
    async fn window(
        &self,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Result<Page, RestError> {
        let mut sightings = Vec::new();
        let mut gaps = Vec::new();
        for (index, resource) in self.resources.iter().enumerate() {
            let (items, gap) = self
                .read_window(
                    resource,
                    &resource.spec,
                    after,
                    before,
                    &resource.id,
                    Some(&resource.updated.0),
                )
                .await?;
            gaps.extend(gap);
            for item in items {
                if let Some(s) = self.listed(index, resource, item, after, before) {
                    sightings.push(s);
                }
            }
            if let Some(deleted) = &resource.deleted {
                let date_field = deleted.date.as_ref().map(|(f, _)| f);
                let (items, gap) = self
                    .read_window(
                        resource,
                        &deleted.spec,
                        after,
                        before,
                        &deleted.id,
                        date_field,
                    )
                    .await?;
                gaps.extend(gap);
                for item in items {
                    if let Some(s) = self.deletion(index, resource, item, after, before) {
                        sightings.push(s);
                    }
                }
            }
        }
        sightings.sort_by(|a, b| a.order().cmp(&b.order()));

        let ctx = Context {
            source: &self.source,
            observed_at: self.clock.now(),
            keep_raw: self.config.keep_raw,
        };
        let mut known: HashMap<String, Known> = HashMap::new();
        let mut events: Vec<Event> = Vec::new();
        for s in &sightings {
            let resource = &self.resources[s.resource];
            let key = map::key(&resource.name, &s.id);
            let before_now = match known.get(&key) {
                Some(k) => Some(k.clone()),
                None => self.remembered(&key)?,
            };
            let made = match map::sighting_event(&ctx, resource, s, before_now.as_ref()) {
                Ok(made) => made,
                Err(e) => {
                    self.unreadable(
                        &resource.name,
                        "its id does not make an event id",
                        &s.item,
                        &e,
                    );
                    continue;
                }
            };
            events.extend(made.event);
            if let Some(k) = made.known {
                known.insert(key, k);
            }
        }
        let mut objects = Vec::with_capacity(known.len());
        for (key, k) in known {
            let value = serde_json::to_value(&k)
                .map_err(|e| ObjectStateError(format!("encoding {key}: {e}")))?;
            objects.push(ObjectChange::set(key, value));
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        self.counters.windows.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(source = %self.source, %after, %before, events = events.len(), gaps = gaps.len(), "rest window read");
        let mut page = Page::new(
            events,
            Checkpoint::encode(&RestCheckpoint::V1 { through: before })?,
            Some(Watermark::new(before)),
            before < horizon,
        );
        page.objects = objects;
        page.gaps = gaps;
        Ok(page)
    }

    /// A listed item as a sighting, when it is readable and inside the window.
    fn listed(
        &self,
        index: usize,
        resource: &Resource,
        item: Value,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Option<Sighting> {
        let Some(id) = resource.id.text(&item) else {
            self.unreadable(&resource.name, "it has no id", &item, &"missing idField");
            return None;
        };
        let (field, format) = &resource.updated;
        let time = match field.text(&item).map(|v| format.parse(&v)) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                self.unreadable(&resource.name, "its updated date is unreadable", &item, &e);
                return None;
            }
            None => {
                self.unreadable(
                    &resource.name,
                    "it has no updated date",
                    &item,
                    &"missing updatedDateField",
                );
                return None;
            }
        };
        if time <= after || time > before {
            return None;
        }
        let created_in_window = resource.created.as_ref().and_then(|(f, fmt)| {
            let t = fmt.parse(&f.text(&item)?).ok()?;
            Some(after < t && t <= before)
        });
        Some(Sighting {
            time,
            id,
            resource: index,
            change: Change::Listed { created_in_window },
            item,
        })
    }

    /// A deleted item as a sighting.
    fn deletion(
        &self,
        index: usize,
        resource: &Resource,
        item: Value,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Option<Sighting> {
        let deleted = resource.deleted.as_ref()?;
        let Some(id) = deleted.id.text(&item) else {
            self.unreadable(
                &resource.name,
                "a deleted item has no id",
                &item,
                &"missing idField",
            );
            return None;
        };
        let time = match &deleted.date {
            None => before,
            Some((field, format)) => match field.text(&item).map(|v| format.parse(&v)) {
                Some(Ok(t)) if after < t && t <= before => t,
                Some(Ok(_)) => return None,
                Some(Err(e)) => {
                    self.unreadable(&resource.name, "a deletion date is unreadable", &item, &e);
                    return None;
                }
                None => {
                    self.unreadable(
                        &resource.name,
                        "a deleted item has no date",
                        &item,
                        &"missing date_field",
                    );
                    return None;
                }
            },
        };
        Some(Sighting {
            time,
            id,
            resource: index,
            change: Change::Deleted {
                dated: deleted.date.is_some(),
            },
            item,
        })
    }

    fn remembered(&self, key: &str) -> Result<Option<Known>, RestError> {
        match self.objects.get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
                RestError::ObjectState(ObjectStateError(format!(
                    "the remembered state of {key} is unreadable: {e}"
                )))
            }),
        }
    }

    fn unreadable(&self, resource: &str, why: &str, item: &Value, e: &dyn std::fmt::Display) {
        self.counters.unreadable.fetch_add(1, Ordering::Relaxed);
        let payload = tributary_http::excerpt(item.to_string().as_bytes());
        tracing::error!(source = %self.source, resource, error = %e, %payload, "skipping an item: {why}");
    }

    /// One list's window, read until two passes agree (see the module doc): its items, and a
    /// gap when they never did.
    async fn read_window(
        &self,
        resource: &Resource,
        spec: &ListSpec,
        after: DateTime<Utc>,
        before: DateTime<Utc>,
        id: &crate::config::FieldRef,
        version: Option<&crate::config::FieldRef>,
    ) -> Result<(Vec<Value>, Option<Gap>), RestError> {
        let key = |item: &Value| {
            (
                id.text(item).unwrap_or_default(),
                version.and_then(|v| v.text(item)).unwrap_or_default(),
            )
        };
        let first_url = resolve(&self.base, &spec.url.render(after, before)).map_err(|e| {
            RestError::Malformed {
                endpoint: format!("resource {}", resource.name),
                detail: format!("the URL does not resolve: {e}"),
            }
        })?;
        let mut size = page_size(&spec.paging);
        let mut seen: HashMap<(String, String), Value> = HashMap::new();
        loop {
            let read = read_until_stable(self.config.max_passes, key, || {
                self.read_pass(resource, spec, first_url.clone(), size)
            })
            .await;
            match read {
                Ok(whole) => {
                    // Items an earlier, disagreeing attempt read and this one did not: they were
                    // in the window then (an edit since moves them to a later one); kept, so
                    // that a version is never lost between attempts.
                    let got: HashSet<_> = whole.items.iter().map(key).collect();
                    let mut items = whole.items;
                    items.extend(
                        seen.into_iter()
                            .filter(|(k, _)| !got.contains(k))
                            .map(|(_, v)| v),
                    );
                    return Ok((items, None));
                }
                Err(WindowError::Upstream(e)) => return Err(e),
                Err(WindowError::Unstable { passes, items, .. }) => {
                    self.counters.unstable.fetch_add(1, Ordering::Relaxed);
                    for item in items {
                        seen.insert(key(&item), item);
                    }
                    if let Some(bigger) = grown(&spec.paging, size) {
                        tracing::info!(source = %self.source, resource = %resource.name, from = ?size, to = bigger, "passes disagreed: reading the window again with bigger pages");
                        size = Some(bigger);
                        continue;
                    }
                    self.counters.gaps.fetch_add(1, Ordering::Relaxed);
                    let reason = format!(
                        "resource {}: {passes} passes over the window disagreed (items tied on their date reordered, or moved while paged); what every pass read is emitted, some items may be missing",
                        resource.name
                    );
                    tracing::error!(source = %self.source, %after, %before, "{reason}");
                    let gap = Gap {
                        detected_at: self.clock.now(),
                        after: tributary_core::time::format(&after),
                        resumed_at: tributary_core::time::format(&before),
                        reason,
                    };
                    return Ok((seen.into_values().collect(), Some(gap)));
                }
            }
        }
    }

    /// One pass: every page of the window, as the paging says.
    async fn read_pass(
        &self,
        resource: &Resource,
        spec: &ListSpec,
        first: Url,
        size: Option<u32>,
    ) -> Result<Pass<Value>, RestError> {
        let mut items = Vec::new();
        let mut requests = 0u32;
        let mut url = paged(&first, &spec.paging, 0, size, None);
        let mut cursors = HashSet::new();
        loop {
            if requests >= self.config.max_pages {
                return Err(RestError::TooManyPages {
                    resource: resource.name.clone(),
                    limit: self.config.max_pages,
                });
            }
            let answer = self.get(url.clone()).await?;
            requests += 1;
            let list = list_of(&answer.body, &spec.list).ok_or_else(|| RestError::Malformed {
                endpoint: format!("GET {}", url.path()),
                detail: format!(
                    "no array at the list pointer {:?}: {}",
                    spec.list,
                    tributary_http::excerpt(answer.body.to_string().as_bytes())
                ),
            })?;
            let n = list.len();
            items.extend(list.iter().cloned());
            let next = match &spec.paging {
                Paging::None => None,
                Paging::Page { .. } | Paging::Offset { .. } => {
                    let full = size.is_none_or(|s| n >= s as usize);
                    (n > 0 && full).then(|| paged(&first, &spec.paging, requests, size, None))
                }
                Paging::Cursor { field, .. } => {
                    let cursor = answer.body.pointer(field).and_then(|v| match v {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                    match cursor {
                        Some(c) if n > 0 => {
                            if !cursors.insert(c.clone()) {
                                return Err(RestError::Malformed {
                                    endpoint: format!("GET {}", url.path()),
                                    detail: format!(
                                        "the cursor {} came back twice",
                                        tributary_http::excerpt(c.as_bytes())
                                    ),
                                });
                            }
                            Some(paged(&first, &spec.paging, requests, size, Some(&c)))
                        }
                        _ => None,
                    }
                }
                Paging::Link => match (&answer.link_next, n) {
                    (Some(next), 1..) => Some(self.next_url(&url, next)?),
                    _ => None,
                },
                Paging::NextUrl { field } => {
                    match (answer.body.pointer(field).and_then(Value::as_str), n) {
                        (Some(next), 1..) if !next.is_empty() => Some(self.next_url(&url, next)?),
                        _ => None,
                    }
                }
            };
            match next {
                Some(next) => url = next,
                None => return Ok(Pass { items, requests }),
            }
        }
    }

    /// A next-page URL (absolute, or relative to the page's), refused off the base URL's origin.
    fn next_url(&self, current: &Url, next: &str) -> Result<Url, RestError> {
        let endpoint = format!("GET {}", current.path());
        let url = current.join(next).map_err(|e| RestError::Malformed {
            endpoint: endpoint.clone(),
            detail: format!(
                "the next page {} is not a URL: {e}",
                tributary_http::excerpt(next.as_bytes())
            ),
        })?;
        if url.origin() != self.base.origin() {
            return Err(RestError::ForeignLink {
                endpoint,
                origin: tributary_http::excerpt(url.origin().ascii_serialization().as_bytes()),
                base: self.base.origin().ascii_serialization(),
            });
        }
        Ok(url)
    }

    /// `GET url` with the source's credentials; once more after a `401` that a token refresh may
    /// cure.
    async fn get(&self, url: Url) -> Result<Answer, RestError> {
        let auth = self
            .auth
            .authorization(&self.client, self.clock.as_ref())
            .await?;
        match self.client.get(url.clone(), &auth).await {
            Err(e) if e.is_unauthorized() && self.auth.refused(&auth).await => {
                let auth = self
                    .auth
                    .authorization(&self.client, self.clock.as_ref())
                    .await?;
                self.client.get(url, &auth).await
            }
            r => r,
        }
    }
}

#[async_trait::async_trait]
impl Provider for RestProvider {
    fn name(&self) -> &str {
        map::PROVIDER
    }

    fn upstream_calls(&self) -> Option<u64> {
        Some(self.client.calls())
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        self.poll_inner(checkpoint).await.map_err(Into::into)
    }
}
