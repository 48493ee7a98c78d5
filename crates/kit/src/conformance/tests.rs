//! The suite against a toy provider over an in-memory upstream: an honest one passes every
//! check, and each flaw is reported under the check it breaks (and only there).

// Test helpers outside `#[test]` functions may unwrap too.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::{BuiltProvider, ProviderFactory};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tributary_core::{
    Clock, Event, EventId, ManualClock, Object, ObjectChange, ObjectKind, PollPolicy, Upstream,
    Watermark,
};
use tributary_http::{AddressPolicy, Outbound};

/// One upstream change: the toy's wire action and when it happened.
#[derive(Debug, Clone)]
struct Change {
    action: &'static str,
    at: DateTime<Utc>,
}

/// The upstream: an append-only log, and a throttle for the next request.
#[derive(Debug, Default)]
struct Upstream_ {
    log: Mutex<Vec<Change>>,
    throttle: Mutex<Option<Duration>>,
}

/// What the toy gets wrong, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// The watermark of every page after a full one is an hour behind the clock.
    WatermarkMovesBack,
    /// Event ids carry a counter of the provider instance: a replay gives new ids.
    IdsChangeOnReplay,
    /// A throttle comes back as a transient failure.
    ThrottleIsTransient,
    /// The config takes any field.
    AcceptsUnknownFields,
    /// Positions count from the page's start, not the log's.
    PositionsRestartEachPage,
    /// Names the event's source `elsewhere`.
    WrongSource,
    /// Maps `lock` to `update` without counting it.
    UncountedUnmapped,
}

const PAGE: usize = 2;

struct Toy {
    source: SourceId,
    upstream: Arc<Upstream_>,
    clock: Arc<dyn Clock>,
    objects: Arc<dyn ObjectStateRead>,
    flaw: Flaw,
    polls: AtomicU64,
    unmapped: AtomicU64,
}

#[async_trait::async_trait]
impl Provider for Toy {
    fn name(&self) -> &str {
        "toy"
    }

    fn unmapped(&self) -> Option<u64> {
        (self.flaw != Flaw::UncountedUnmapped).then(|| self.unmapped.load(Ordering::Relaxed))
    }

    async fn poll(&self, checkpoint: Option<&Checkpoint>) -> Result<Page, ProviderError> {
        let instance = self.polls.fetch_add(1, Ordering::Relaxed);
        if let Some(retry_after) = self.upstream.throttle.lock().unwrap().take() {
            return Err(if self.flaw == Flaw::ThrottleIsTransient {
                ProviderError::Transient {
                    message: "429".into(),
                }
            } else {
                ProviderError::RateLimited {
                    retry_after: Some(retry_after),
                    message: "429".into(),
                }
            });
        }
        let next = checkpoint.map_or(0, |c| c.as_json()["next"].as_u64().unwrap() as usize);
        let log = self.upstream.log.lock().unwrap().clone();
        let end = (next + PAGE).min(log.len());
        let now = self.clock.now();
        let mut events = Vec::new();
        let mut objects = Vec::new();
        // What this poll learnt, over the committed memory.
        let mut seen = std::collections::HashMap::new();
        for (i, change) in log.iter().enumerate().take(end).skip(next) {
            let key = format!("o{}", i / 3);
            let known = match seen.get(&key) {
                Some(&known) => known,
                None => self.objects.get(&key).unwrap().is_some(),
            };
            seen.insert(key.clone(), change.action != "delete");
            let event_type = match change.action {
                "create" if known => EventType::Update,
                "create" => EventType::Add,
                "delete" => EventType::Delete,
                _ => {
                    self.unmapped.fetch_add(1, Ordering::Relaxed);
                    EventType::Update
                }
            };
            match event_type {
                EventType::Delete => objects.push(ObjectChange::forget(key.clone())),
                _ => objects.push(ObjectChange::set(key.clone(), json!(i))),
            }
            let id = match self.flaw {
                Flaw::IdsChangeOnReplay => format!("toy-{i}-{instance}"),
                _ => format!("toy-{i}"),
            };
            events.push(Event {
                id: EventId::new(id).unwrap(),
                seq: None,
                source: match self.flaw {
                    Flaw::WrongSource => SourceId::new("elsewhere").unwrap(),
                    _ => self.source.clone(),
                },
                provider: "toy".into(),
                event_type,
                occurred_at: change.at,
                observed_at: now,
                object: Object::new(key, ObjectKind::File, "f"),
                previous: None,
                actor: None,
                upstream: Upstream {
                    id: i.to_string(),
                    action: change.action.into(),
                    raw: None,
                },
                late: false,
            });
        }
        let more = end < log.len();
        // Caught up, nothing dated before now can come any more; while draining, no promise.
        let watermark = match self.flaw {
            _ if more => None,
            Flaw::WatermarkMovesBack if next > 0 => Some(now - chrono::Duration::hours(1)),
            _ => Some(now),
        };
        let positions = match self.flaw {
            Flaw::PositionsRestartEachPage => (1..=events.len() as u64).collect(),
            _ => (next as u64 + 1..=end as u64).collect(),
        };
        let checkpoint = Checkpoint::from_json(json!({"version": "V1", "next": end})).unwrap();
        let mut page = Page::new(events, checkpoint, watermark.map(Watermark::new), more);
        page.objects = objects;
        page.positions = Some(positions);
        Ok(page)
    }
}

struct ToyFactory {
    upstream: Arc<Upstream_>,
    flaw: Flaw,
}

impl ProviderFactory for ToyFactory {
    fn name(&self) -> &'static str {
        "toy"
    }

    fn default_policy(&self) -> PollPolicy {
        PollPolicy::default()
    }

    fn config_schema(&self) -> Value {
        json!({
            "type": "object",
            "additionalProperties": self.flaw == Flaw::AcceptsUnknownFields,
            "required": ["credentials"],
            "properties": {
                "credentials": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {"token": {"type": "string"}}
                }
            }
        })
    }

    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError> {
        let map = source
            .config
            .as_object()
            .ok_or_else(|| BuildError::Config("the config is not an object".into()))?;
        if self.flaw != Flaw::AcceptsUnknownFields
            && let Some(field) = map.keys().find(|k| *k != "credentials")
        {
            return Err(BuildError::Config(format!("unknown field `{field}`")));
        }
        if map["credentials"]["token"].as_str().is_none() {
            return Err(BuildError::Config("credentials.token is missing".into()));
        }
        Ok(BuiltProvider {
            provider: Arc::new(Toy {
                source: source.id.clone(),
                upstream: self.upstream.clone(),
                clock: context.clock,
                objects: context.objects,
                flaw: self.flaw,
                polls: AtomicU64::new(0),
                unmapped: AtomicU64::new(0),
            }),
            policy: PollPolicy::default(),
            target: "toy:".into(),
        })
    }
}

struct ToyHarness {
    upstream: Arc<Upstream_>,
    clock: Arc<ManualClock>,
}

impl ToyHarness {
    fn append(&self, action: &'static str) {
        let at = self.clock.now();
        self.upstream
            .log
            .lock()
            .unwrap()
            .push(Change { action, at });
    }
}

#[async_trait::async_trait]
impl Harness for ToyHarness {
    fn config(&self) -> Value {
        json!({"credentials": {"token": "t"}})
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn outbound(&self) -> Outbound {
        Outbound::new(AddressPolicy::loopback()).unwrap()
    }

    /// Objects of three changes each: create (add), create (update), delete.
    async fn change(&mut self, n: usize) -> Vec<EventType> {
        let mut types = Vec::new();
        for _ in 0..n.max(1) {
            let i = self.upstream.log.lock().unwrap().len();
            let (action, t) = match i % 3 {
                0 => ("create", EventType::Add),
                1 => ("create", EventType::Update),
                _ => ("delete", EventType::Delete),
            };
            self.append(action);
            types.push(t);
            self.clock.advance(Duration::from_millis(10));
        }
        types
    }

    async fn settle(&mut self) {
        self.clock.advance(Duration::from_secs(1));
    }

    async fn throttle_next(&mut self) -> Option<Duration> {
        let retry_after = Duration::from_secs(2);
        *self.upstream.throttle.lock().unwrap() = Some(retry_after);
        Some(retry_after)
    }

    async fn wait(&mut self, retry_after: Duration) {
        self.clock.advance(retry_after);
    }

    async fn unmappable(&mut self) -> Option<Vec<EventType>> {
        // A lock on the object the next change would create, so the cycle stays in step.
        let len = self.upstream.log.lock().unwrap().len();
        assert_eq!(len % 3, 0, "the rounds make whole objects");
        self.append("lock");
        self.append("create");
        self.append("delete");
        self.clock.advance(Duration::from_millis(10));
        // `lock` is the first sighting of its object: it maps to `update` and is remembered, so
        // the `create` after it is an `update` too.
        Some(vec![
            EventType::Update,
            EventType::Update,
            EventType::Delete,
        ])
    }
}

fn check(flaw: Flaw) -> Report {
    let upstream = Arc::new(Upstream_::default());
    let factory = ToyFactory {
        upstream: upstream.clone(),
        flaw,
    };
    let mut harness = ToyHarness {
        upstream,
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap(),
        )),
    };
    let options = Options {
        rounds: 2,
        changes_per_round: 6,
        max_polls_per_drain: 50,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(run_with(&factory, &mut harness, &options))
}

fn findings(report: &Report, check: Check) -> Vec<String> {
    match report.outcome(check) {
        Outcome::Failed(findings) => findings.clone(),
        other => panic!("{check} should have failed, it is {other:?}:\n{report}"),
    }
}

#[test]
fn an_honest_provider_passes_every_check() {
    let report = check(Flaw::None);
    report.assert_passed();
    assert_eq!(report.skipped(), [], "{report}");
    assert_eq!(report.results.len(), Check::ALL.len());
}

#[test]
fn a_watermark_that_moves_back_is_reported() {
    let report = check(Flaw::WatermarkMovesBack);
    assert_eq!(report.failed(), [Check::WatermarkHolds], "{report}");
    assert_eq!(
        findings(&report, Check::WatermarkHolds)[0],
        "plain run, page 4: watermark 2026-01-05 08:00:01.060 UTC is before the committed 2026-01-05 09:00:00 UTC: a watermark never moves back"
    );
}

#[test]
fn ids_that_change_on_replay_are_reported() {
    let report = check(Flaw::IdsChangeOnReplay);
    assert_eq!(
        report.failed(),
        // Absorbed all the same: the store recognises the replay by its positions.
        [
            Check::ReplayGivesSameEvents,
            Check::CrashesLeaveTheSameStream
        ],
        "{report}"
    );
    assert_eq!(
        findings(&report, Check::ReplayGivesSameEvents)[0],
        "crashing run, after page 1, polled twice from the same checkpoint: event #0 was toy-0-1 and is now toy-0-2"
    );
}

#[test]
fn a_throttle_reported_as_transient_is_reported() {
    let report = check(Flaw::ThrottleIsTransient);
    assert_eq!(report.failed(), [Check::ThrottleHonoured], "{report}");
    assert_eq!(
        findings(&report, Check::ThrottleHonoured),
        [
            r#"a throttled request came back as Transient { message: "429" }; the scheduler waits Retry-After only for RateLimited"#
        ]
    );
}

#[test]
fn a_config_that_takes_unknown_fields_is_reported() {
    let report = check(Flaw::AcceptsUnknownFields);
    assert_eq!(report.failed(), [Check::UnknownFieldRefused], "{report}");
    assert_eq!(
        findings(&report, Check::UnknownFieldRefused),
        [
            r#"config_schema() accepts a config with the unknown field "conformance_unknown_field" (no additionalProperties: false)"#,
            r#"build accepted a config with the unknown field "conformance_unknown_field": a misspelt option would be ignored silently"#
        ]
    );
}

#[test]
fn positions_that_restart_are_reported_as_lost_events() {
    let report = check(Flaw::PositionsRestartEachPage);
    assert!(
        report.failed().contains(&Check::PositionsIncrease),
        "{report}"
    );
    assert_eq!(
        findings(&report, Check::PositionsIncrease)[0],
        "plain run, page 3: new event toy-2 at position 1, at or below the highest committed position 2: the store drops it as a repeat (lost)"
    );
}

#[test]
fn events_of_another_source_are_reported() {
    let report = check(Flaw::WrongSource);
    assert_eq!(report.failed(), [Check::EventsNameTheirSource], "{report}");
    assert!(
        findings(&report, Check::EventsNameTheirSource)[0]
            .ends_with(r#"names source SourceId("elsewhere"), built for SourceId("conformance") (the store refuses the page)"#),
        "{report}"
    );
}

#[test]
fn an_uncounted_unmapped_action_is_reported() {
    let report = check(Flaw::UncountedUnmapped);
    assert_eq!(report.failed(), [Check::UnmappedActionsCounted], "{report}");
    assert_eq!(
        findings(&report, Check::UnmappedActionsCounted),
        [
            "Provider::unmapped is None before and None after an unmappable action: the provider does not count what it cannot map"
        ]
    );
}
