//! The shared harness of the Egnyte tests: a simulator on 127.0.0.1:0 driven by a
//! [`ManualClock`], a temporary store, providers built against both, a bounded drain loop, and the
//! expectation function that turns the simulator's ground truth into the unified events a
//! provider must publish (written from `docs/providers/egnyte.md`, not from the provider's code).

use chrono::{DateTime, TimeZone, Utc};
use governor::Quota;
use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{
    Actor, Clock, Event, EventId, EventType, ManualClock, Object, ObjectKind, SourceId, Upstream,
};
use tributary_egnyte::{
    CheckpointV1, Credentials, EgnyteCheckpoint, EgnyteConfig, EgnyteProvider, RateLimiters,
    StartPosition, Suppress,
};
use tributary_server::engine::runner::{PollStep, poll_once};
use tributary_sim::egnyte::{
    Action, ActionSource, EgnyteSim, EgnyteSimConfig, EventKind, LoggedEvent, ThrottleMode,
};
use tributary_store::{EventStore, Filter, IngestReport, SledStore, SourceRecord, SourceRef};

/// The simulator's default token: user 1001 through the client `tributary-app`.
pub const TOKEN: &str = "test-token";
pub const OWN_CLIENT: &str = "tributary-app";
pub const OWN_USER: i64 = 1001;
/// The tenant every test source belongs to.
pub const TENANT: &str = "t";

/// 2026-01-05T09:00:00.250Z: a quarter second into a second, so that a throttle's
/// `Retry-After` (seconds to the next whole second, rounded up) is exactly 1.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap() + chrono::Duration::milliseconds(250)
}

/// A simulator whose own limits never refuse (tests that exercise them switch them on) but which
/// still reports the calls it counted in `X-Accesstoken-Quota-Current`.
pub fn sim_config(backlog: usize) -> EgnyteSimConfig {
    EgnyteSimConfig {
        throttle: ThrottleMode::Off,
        daily_quota: Some(1_000_000),
        backlog,
        ..EgnyteSimConfig::default()
    }
}

/// A client-side limit high enough that no test waits on it.
pub fn high_quota() -> Quota {
    Quota::per_second(NonZeroU32::new(100_000).unwrap())
}

pub struct Harness {
    pub clock: Arc<ManualClock>,
    pub sim: EgnyteSim,
    pub base: String,
    pub store: SledStore,
    pub limiters: RateLimiters,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Harness {
    pub async fn start(config: EgnyteSimConfig) -> Self {
        Self::start_with(config, RateLimiters::new(high_quota())).await
    }

    pub async fn start_with(config: EgnyteSimConfig, limiters: RateLimiters) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let sim = EgnyteSim::new(config, clock.clone());
        let (base, stop) = crate::on_loopback(|l, stopped| sim.clone().serve(l, stopped)).await;
        Self {
            clock,
            sim,
            base,
            store: SledStore::temporary().unwrap(),
            limiters,
            _stop: stop,
        }
    }

    /// The provider's defaults, pointed at the simulator with its token, starting at `oldest`.
    pub fn config(&self) -> EgnyteConfig {
        let mut c = EgnyteConfig::new(self.base.clone(), Credentials::bearer(TOKEN));
        c.start = StartPosition::Oldest;
        c
    }

    /// Stores an Egnyte source named `name` for [`TENANT`] (or finds the one already stored) and
    /// answers its incarnation.
    pub async fn source(&self, name: &str) -> SourceRef {
        self.store
            .put_source(SourceRecord {
                id: SourceId::new(name).unwrap(),
                tenant: TENANT.to_owned(),
                incarnation: 0,
                provider: "egnyte".to_owned(),
                config: serde_json::json!({}),
                credentials: serde_json::json!({}),
                paused: false,
                created_at: self.clock.now(),
            })
            .await
            .unwrap()
    }

    pub fn provider(&self, source: &SourceRef, config: EgnyteConfig) -> EgnyteProvider {
        EgnyteProvider::new(
            source.id.clone(),
            config,
            Arc::from(self.store.object_state(source)),
            &self.limiters,
            self.clock.clone(),
            tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
        )
        .unwrap()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub async fn poll(&self, source: &SourceRef, provider: &EgnyteProvider) -> PollStep {
        poll_once(&self.store, source, provider).await
    }

    /// Polls until a page says the source is caught up (`more == false`); every poll must
    /// commit. Returns the number of polls; fails if `max_polls` are not enough.
    pub async fn drain(
        &self,
        source: &SourceRef,
        provider: &EgnyteProvider,
        max_polls: usize,
    ) -> usize {
        for polls in 1..=max_polls {
            match self.poll(source, provider).await {
                PollStep::Ingested { more: false, .. } => return polls,
                PollStep::Ingested { more: true, .. } => {}
                other => panic!("poll {polls} of {source} did not commit: {other:?}"),
            }
        }
        panic!("{source} did not catch up within {max_polls} polls")
    }

    /// Like [`drain`](Self::drain), but failed polls (injected faults) are retried; returns
    /// `(polls, failures)`.
    pub async fn drain_through_faults(
        &self,
        source: &SourceRef,
        provider: &EgnyteProvider,
        max_polls: usize,
    ) -> (usize, usize) {
        let mut failures = 0;
        for polls in 1..=max_polls {
            match self.poll(source, provider).await {
                PollStep::Ingested { more: false, .. } => return (polls, failures),
                PollStep::Ingested { more: true, .. } => {}
                PollStep::Failed { .. } => failures += 1,
                other => panic!("poll {polls} of {source}: unexpected {other:?}"),
            }
        }
        panic!("{source} did not catch up within {max_polls} polls")
    }

    /// The source's committed checkpoint.
    pub fn checkpoint(&self, source: &SourceRef) -> CheckpointV1 {
        let state = self.store.source_state(source).unwrap().expect("committed");
        let EgnyteCheckpoint::V1(c) = state.checkpoint.decode().unwrap();
        c
    }

    /// Merges everything pending (a frontier far ahead) and returns the source's events in the
    /// unified log, with the fields only the store or the poll time decide (`seq`,
    /// `observed_at`) normalized.
    /// Asserts that the source's unified events are exactly what the simulator's whole log
    /// (one epoch) maps to.
    pub async fn assert_unified_is_the_log(&self, source: &SourceRef) {
        let log = self.sim.log();
        assert_events(
            &self.unified(source).await,
            &expected(source, log.iter().map(|e| (0, e))),
        );
    }

    pub async fn unified(&self, source: &SourceRef) -> Vec<Event> {
        let frontier = self.clock.now() + chrono::Duration::days(3650);
        self.store.merge(&source.tenant, frontier).await.unwrap();
        assert_eq!(self.store.pending_len(source).unwrap(), 0);
        let filter = Filter {
            sources: vec![source.id.clone()],
            ..Filter::default()
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .read(&source.tenant, after.as_ref(), 1000, &filter)
                .await
                .unwrap();
            out.extend(page.events.iter().map(|e| normalize(e.event().unwrap())));
            if page.remaining == 0 {
                return out;
            }
            after = Some(page.cursor);
        }
    }
}

/// A committed page of `accepted` new events (none repeated).
pub fn ingested(accepted: u64, more: bool) -> PollStep {
    PollStep::Ingested {
        report: IngestReport {
            accepted,
            duplicates: 0,
        },
        more,
    }
}

fn normalize(mut e: Event) -> Event {
    e.seq = None;
    e.observed_at = DateTime::<Utc>::UNIX_EPOCH;
    e
}

/// Whether a source with `suppress` sees `e` (docs/simulators.md, notes §6): `app` hides what the
/// token's client did, `user` what the token's client did as the token's user.
pub fn visible(e: &LoggedEvent, suppress: Suppress) -> bool {
    let own_app = e.client_id.as_deref() == Some(OWN_CLIENT);
    match suppress {
        Suppress::App => !own_app,
        Suppress::User => !(own_app && e.wire.actor == OWN_USER),
        Suppress::None => true,
    }
}

/// Whether `e` touches `folder` or something under it (target or source path, whole segments).
pub fn under(e: &LoggedEvent, folder: &str) -> bool {
    let d = &e.wire.data;
    [&d.target_path, &d.source_path]
        .into_iter()
        .flatten()
        .any(|p| p == folder || p.starts_with(&format!("{folder}/")))
}

/// The unified events a fresh source must publish for the wire events it was shown, in order.
/// `epoch` is the provider's count of upstream resets when it read the event (event ids become
/// `r{epoch}-{id}` after one). The mapping is the table of `docs/providers/egnyte.md`.
pub fn expected<'a>(
    source: &SourceRef,
    delivered: impl IntoIterator<Item = (u32, &'a LoggedEvent)>,
) -> Vec<Event> {
    let mut known: HashSet<String> = HashSet::new();
    delivered
        .into_iter()
        .map(|(epoch, e)| expect_one(source, epoch, e, &mut known))
        .collect()
}

fn expect_one(
    source: &SourceRef,
    epoch: u32,
    e: &LoggedEvent,
    known: &mut HashSet<String>,
) -> Event {
    let w = &e.wire;
    let d = &w.data;
    let target = d
        .target_path
        .clone()
        .expect("every simulated event has a target path");
    let note = w.kind == EventKind::Note;
    let folder = d.is_folder == Some(true);
    let group = d.target_group_id.clone();

    let object = if note {
        let id = d.note_id.clone().expect("note id");
        Object {
            parent: Some(target.clone()),
            url: w.object_detail.clone(),
            ..Object::new(id.clone(), ObjectKind::Note, id)
        }
    } else if folder {
        at(
            format!("folder:{target}"),
            ObjectKind::Folder,
            &target,
            w.object_detail.clone(),
        )
    } else {
        let id = group.clone().expect("file events carry the group id");
        at(id, ObjectKind::File, &target, w.object_detail.clone())
    };

    let event_type = match (w.kind, w.action) {
        (EventKind::FileSystem, Action::Create) if folder => EventType::Add,
        (EventKind::FileSystem, Action::Create) => {
            if known.contains(group.as_deref().unwrap_or_default()) {
                EventType::Update
            } else {
                EventType::Add
            }
        }
        (EventKind::Note, Action::Create) => EventType::Add,
        (_, Action::Delete) => EventType::Delete,
        (EventKind::FileSystem, Action::Rename) => EventType::Rename,
        (EventKind::FileSystem, Action::Move) => EventType::Move,
        (EventKind::FileSystem, Action::Copy) => EventType::Copy,
        (EventKind::FileSystem, Action::Restore) => EventType::Restore,
        other => panic!("no expectation for {other:?}"),
    };

    let previous = match event_type {
        EventType::Rename | EventType::Move | EventType::Copy | EventType::Restore => {
            d.source_path.as_deref().map(|sp| {
                if folder {
                    at(format!("folder:{sp}"), ObjectKind::Folder, sp, None)
                } else if event_type == EventType::Copy {
                    let id = d
                        .source_group_id
                        .clone()
                        .expect("a file copy names its source");
                    at(id, ObjectKind::File, sp, None)
                } else {
                    at(group.clone().expect("group id"), ObjectKind::File, sp, None)
                }
            })
        }
        _ => None,
    };

    if !note && !folder {
        let g = group.clone().expect("group id");
        if event_type == EventType::Delete {
            known.remove(&g);
        } else {
            known.insert(g);
        }
    }

    Event {
        id: EventId::new(if epoch == 0 {
            w.id.to_string()
        } else {
            format!("r{epoch}-{}", w.id)
        })
        .unwrap(),
        seq: None,
        source: source.id.clone(),
        provider: "egnyte".to_owned(),
        event_type,
        occurred_at: DateTime::parse_from_rfc3339(&w.timestamp)
            .unwrap()
            .with_timezone(&Utc),
        observed_at: DateTime::<Utc>::UNIX_EPOCH,
        object,
        previous,
        actor: Some(Actor {
            id: w.actor.to_string(),
            name: None,
            email: None,
            via: Some(via(w.action_source).to_owned()),
        }),
        upstream: Upstream {
            id: w.id.to_string(),
            action: action(w.action).to_owned(),
            raw: None,
        },
        late: false,
    }
}

/// An object at `path`: its name is the last segment, its parent the rest (`/` for a root).
pub fn at(id: String, kind: ObjectKind, path: &str, url: Option<String>) -> Object {
    let cut = path.rfind('/').expect("absolute path");
    let parent = if cut == 0 { "/" } else { &path[..cut] };
    Object {
        path: Some(path.to_owned()),
        parent: Some(parent.to_owned()),
        url,
        ..Object::new(id, kind, &path[cut + 1..])
    }
}

pub fn action(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Delete => "delete",
        Action::Rename => "rename",
        Action::Move => "move",
        Action::Copy => "copy",
        Action::Restore => "restore",
        Action::PermissionChange => "permission_change",
    }
}

pub fn via(s: ActionSource) -> &'static str {
    match s {
        ActionSource::WebUI => "WebUI",
        ActionSource::SyncEngine => "SyncEngine",
        ActionSource::Mobile => "Mobile",
        ActionSource::PublicAPI => "PublicAPI",
        ActionSource::System => "System",
    }
}

/// The ids of `events`, for readable failures.
pub fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.as_str().to_owned()).collect()
}

/// Asserts `actual == expected` event by event, so a failure names the first difference.
pub fn assert_events(actual: &[Event], expected: &[Event]) {
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "event #{i} differs");
    }
    assert_eq!(
        ids(actual),
        ids(expected),
        "the unified log has {} events, {} were expected",
        actual.len(),
        expected.len()
    );
}
