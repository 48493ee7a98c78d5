//! The dispatcher against real HTTP receivers on 127.0.0.1, a temporary store and a
//! `ManualClock`: a retry is due only when a test moves the clock and wakes the workers.

use super::signature::{SigningKey, generate_secret};
use super::{Dispatcher, DispatcherConfig, SubscriptionControl};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_core::{
    Checkpoint, Clock, Cursor, Event, EventId, EventType, ManualClock, Object, ObjectKind, Page,
    Seq, SourceId, Upstream, Watermark,
};
use tributary_http::{AddressPolicy, Outbound};
use tributary_store::{
    DeliveryMode, DeliveryState, EventStore, PreviousSecret, SigningSecrets, SledStore,
    SourceRecord, SubscriptionRecord,
};

/// How long any wait on the dispatcher may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
}

/// What a receiver answers to one request.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    RetryAfter(u16, &'static str),
    /// Never answers.
    Hang,
    /// Answers 200 once the test opens the receiver's gate.
    Gate,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `seq` of each event of a `full` body.
    fn seqs(&self) -> Vec<u64> {
        self.json()["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect()
    }
}

/// A webhook receiver on 127.0.0.1:0: answers from its script, then `otherwise`, and records
/// every request.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    otherwise: Arc<Mutex<Reply>>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Receiver {
    async fn start(script: Vec<Reply>, otherwise: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            got: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
            otherwise: Arc::new(Mutex::new(otherwise)),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(answer))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn answer_with(&self, reply: Reply) {
        *self.otherwise.lock().unwrap() = reply;
    }
}

async fn answer(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    r.got.lock().unwrap().push(Got { headers, body });
    let reply = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| r.otherwise.lock().unwrap().clone());
    match reply {
        Reply::Status(s) => (StatusCode::from_u16(s).unwrap(), "answer").into_response(),
        Reply::RetryAfter(s, after) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", after)],
            "slow down",
        )
            .into_response(),
        Reply::Hang => std::future::pending().await,
        Reply::Gate => {
            let _open = r.gate.acquire().await;
            (StatusCode::OK, "late").into_response()
        }
    }
}

/// Polls `check` until it holds (at most [`WAIT`]).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Fixture {
    store: Arc<SledStore>,
    clock: Arc<ManualClock>,
}

impl Fixture {
    /// A store with sources `a1`, `a2` (tenant `a`) and `b1` (tenant `b`).
    async fn new() -> Self {
        let store = Arc::new(SledStore::temporary().unwrap());
        for (id, tenant) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            store
                .put_source(SourceRecord {
                    id: SourceId::new(id).unwrap(),
                    tenant: tenant.into(),
                    incarnation: 0,
                    provider: "test".into(),
                    config: serde_json::json!({}),
                    credentials: serde_json::json!({}),
                    paused: false,
                    created_at: t0(),
                })
                .await
                .unwrap();
        }
        Self {
            store,
            clock: Arc::new(ManualClock::new(t0())),
        }
    }

    /// Appends events `e{k}` of `source` to its tenant's log, one second apart by `k`.
    async fn add(&self, source: &str, ks: impl IntoIterator<Item = u32>) {
        let tenant = if source.starts_with('a') { "a" } else { "b" };
        let events: Vec<Event> = ks.into_iter().map(|k| event(source, k)).collect();
        let record = self
            .store
            .source(tenant, &SourceId::new(source).unwrap())
            .unwrap()
            .unwrap();
        let n = events.len() as u64;
        let checkpoint =
            Checkpoint::from_json(serde_json::json!({"version": "V1", "n": n})).unwrap();
        let watermark = Watermark::new(t0() + ChronoDuration::days(10));
        self.store
            .ingest(
                &record.source_ref(),
                Page::new(events, checkpoint, Some(watermark), false),
            )
            .await
            .unwrap();
        self.store
            .merge_tenants(vec![(tenant.into(), t0() + ChronoDuration::days(10))])
            .await
            .unwrap();
    }

    /// Stores a subscription of tenant `a` to `url` (batches of 2) and its start position.
    async fn subscribe(&self, id: &str, url: &str, mode: DeliveryMode) -> SubscriptionRecord {
        let record = SubscriptionRecord {
            id: id.into(),
            tenant: "a".into(),
            url: url.into(),
            secrets: SigningSecrets {
                current: generate_secret().unwrap(),
                previous: None,
            },
            filter: Default::default(),
            mode,
            max_batch: 2,
            description: None,
            paused: false,
            disabled: None,
            created_at: t0(),
        };
        self.put(record.clone()).await;
        self.store
            .set_delivery(id, DeliveryState::default())
            .await
            .unwrap();
        record
    }

    async fn put(&self, record: SubscriptionRecord) {
        self.store.put_subscription(record).await.unwrap();
    }

    fn dispatcher(&self, config: DispatcherConfig, policy: AddressPolicy) -> Dispatcher {
        let store: Arc<dyn EventStore> = self.store.clone();
        let clock: Arc<dyn Clock> = self.clock.clone();
        Dispatcher::new(store, clock, Outbound::new(policy).unwrap(), config)
    }

    /// A started dispatcher with the exact default schedule (no jitter), reaching loopback.
    fn start(&self) -> Dispatcher {
        let d = self.dispatcher(exact(), AddressPolicy::loopback());
        d.start().unwrap();
        d
    }

    fn state(&self, id: &str) -> DeliveryState {
        self.store.delivery(id).unwrap().unwrap()
    }

    fn attempts(&self, id: &str) -> usize {
        self.store.attempts(id).unwrap().len()
    }
}

/// The default schedule without jitter.
fn exact() -> DispatcherConfig {
    DispatcherConfig {
        jitter: 0.0,
        ..DispatcherConfig::default()
    }
}

fn event(source: &str, k: u32) -> Event {
    let at = t0() + ChronoDuration::seconds(i64::from(k));
    let mut object = Object::new(format!("o{k}"), ObjectKind::File, format!("f{k}"));
    object.path = Some(format!("/A/f{k}"));
    Event {
        id: EventId::new(format!("e{k}")).unwrap(),
        seq: None,
        source: SourceId::new(source).unwrap(),
        provider: "test".into(),
        event_type: EventType::Add,
        occurred_at: at,
        observed_at: at,
        object,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: format!("u{k}"),
            action: "create".into(),
            raw: None,
        },
        late: false,
    }
}

/// Wakes every worker and waits until they have looked (twice, so the look counted began after
/// the wake-up): what was not sent then is not due.
async fn settle(d: &Dispatcher) {
    for _ in 0..2 {
        let looks = d.looks();
        d.wake_all();
        eventually("the workers look", || d.looks() > looks).await;
    }
}

/// Moves the clock to `at` and wakes the workers.
fn move_to(f: &Fixture, d: &Dispatcher, at: DateTime<Utc>) {
    f.clock.set(at);
    d.wake_all();
}

#[tokio::test]
async fn order_is_kept_across_failures_and_a_retried_batch_keeps_its_webhook_id() {
    let f = Fixture::new().await;
    f.add("a1", 1..=5).await;
    let r = Receiver::start(
        vec![Reply::Status(500), Reply::Status(503)],
        Reply::Status(200),
    )
    .await;
    f.subscribe("sub_order", &r.url, DeliveryMode::Full).await;
    let d = f.start();

    eventually("the first attempt fails", || {
        f.state("sub_order").attempts == 1
    })
    .await;
    let state = f.state("sub_order");
    assert_eq!(
        state.next_attempt_at,
        Some(t0() + ChronoDuration::seconds(5))
    );
    assert_eq!(state.failing_since, Some(t0()));
    assert_eq!(state.delivered, Seq(0));
    assert_eq!(state.last_error.as_deref(), Some("HTTP 500: answer"));
    settle(&d).await;
    assert_eq!(r.got().len(), 1, "a retry was sent before it was due");

    move_to(&f, &d, t0() + ChronoDuration::seconds(5));
    eventually("the second attempt fails", || {
        f.state("sub_order").attempts == 2
    })
    .await;
    assert_eq!(
        f.state("sub_order").next_attempt_at,
        Some(t0() + ChronoDuration::seconds(5 + 300))
    );
    move_to(&f, &d, t0() + ChronoDuration::seconds(305));
    eventually("every event is delivered", || {
        f.state("sub_order").delivered == Seq(5)
    })
    .await;

    let got = r.got();
    let seqs: Vec<Vec<u64>> = got.iter().map(Got::seqs).collect();
    assert_eq!(
        seqs,
        vec![vec![1, 2], vec![1, 2], vec![1, 2], vec![3, 4], vec![5]]
    );
    let ids: Vec<String> = got.iter().map(|g| g.header("webhook-id")).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3]);
    assert_ne!(ids[3], ids[4]);
    let stamps: Vec<String> = got.iter().map(|g| g.header("webhook-timestamp")).collect();
    let t = |s: i64| (t0().timestamp() + s).to_string();
    assert_eq!(stamps, vec![t(0), t(5), t(305), t(305), t(305)]);
    for g in &got {
        assert_eq!(g.header("content-type"), "application/json");
        assert_eq!(g.json()["type"], "events");
    }
    let key = f.store.stream_key("a");
    assert_eq!(
        got[4].json()["data"]["cursor"],
        Cursor::new(key, Seq(5)).encode()
    );
    let state = f.state("sub_order");
    assert_eq!(
        (state.attempts, state.next_attempt_at, state.batch),
        (0, None, None)
    );
    assert_eq!(state.failing_since, None);
    assert_eq!(f.attempts("sub_order"), 5);
    assert_eq!(d.stats().delivered, 3);
    assert_eq!(d.stats().failed, 2);
    d.stop().await;
}

#[tokio::test]
async fn a_receiver_down_for_hours_gets_every_event_in_order_afterwards() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(vec![], Reply::Status(503)).await;
    f.subscribe("sub_down", &r.url, DeliveryMode::Full).await;
    let d = f.start();

    // The schedule, step by step: 5s, 5m, 30m, 2h, 5h, 10h, 10h, then 10h again.
    let steps = [5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000];
    let mut at = t0();
    for (n, step) in steps.iter().enumerate() {
        let failures = n as u32 + 1;
        eventually("an attempt fails", || {
            f.state("sub_down").attempts == failures
        })
        .await;
        at += ChronoDuration::seconds(*step);
        assert_eq!(
            f.state("sub_down").next_attempt_at,
            Some(at),
            "after {failures}"
        );
        if n == 0 {
            let failing = d.stats_handle().failing();
            assert_eq!(failing.len(), 1);
            assert_eq!((failing[0].tenant.as_str(), failing[0].since), ("a", t0()));
        }
        if n == 3 {
            // The log grows while the receiver is down.
            f.add("a2", 4..=6).await;
            d.merged("a");
        }
        if n == steps.len() - 1 {
            r.answer_with(Reply::Status(204));
        }
        move_to(&f, &d, at);
    }
    eventually("every event is delivered", || {
        f.state("sub_down").delivered == Seq(6)
    })
    .await;
    let seqs: Vec<u64> = r.got().iter().flat_map(Got::seqs).collect();
    let mut expected = [1, 2].repeat(steps.len() + 1);
    expected.extend([3, 4, 5, 6]);
    assert_eq!(seqs, expected);
    let stamps: Vec<i64> = r
        .got()
        .iter()
        .map(|g| g.header("webhook-timestamp").parse::<i64>().unwrap() - t0().timestamp())
        .collect();
    assert_eq!(
        &stamps[..steps.len() + 1],
        &[0, 5, 305, 2105, 9305, 27_305, 63_305, 99_305, 135_305]
    );
    assert!(
        f.store
            .subscription("sub_down")
            .unwrap()
            .unwrap()
            .disabled
            .is_none()
    );
    d.stop().await;
}

#[tokio::test]
async fn a_restart_mid_retry_resumes_at_the_persisted_time_with_the_same_batch() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(
        vec![Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    )
    .await;
    f.subscribe("sub_restart", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("the first attempt fails", || {
        f.state("sub_restart").attempts == 1
    })
    .await;
    move_to(&f, &d, t0() + ChronoDuration::seconds(5));
    eventually("the second attempt fails", || {
        f.state("sub_restart").attempts == 2
    })
    .await;
    d.stop().await;
    drop(d);
    let before = f.state("sub_restart");
    let due = t0() + ChronoDuration::seconds(305);
    assert_eq!(before.next_attempt_at, Some(due));

    // A new dispatcher on the same store, one second before the retry is due.
    f.clock.set(due - ChronoDuration::seconds(1));
    let d = f.start();
    settle(&d).await;
    assert_eq!(
        r.got().len(),
        2,
        "the restart sent before the persisted time"
    );
    move_to(&f, &d, due);
    eventually("every event is delivered", || {
        f.state("sub_restart").delivered == Seq(3)
    })
    .await;
    let got = r.got();
    assert_eq!(got.len(), 4);
    assert_eq!(got[2].seqs(), vec![1, 2]);
    assert_eq!(got[2].header("webhook-id"), got[0].header("webhook-id"));
    assert_eq!(
        got[2].header("webhook-id"),
        before.batch.unwrap().webhook_id
    );
    assert_eq!(
        got[2].header("webhook-timestamp"),
        due.timestamp().to_string()
    );
    assert_eq!(got[3].seqs(), vec![3]);
    d.stop().await;
}

#[tokio::test]
async fn gone_disables_the_subscription_and_re_enabling_resumes_from_the_cursor() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(
        vec![Reply::Status(200), Reply::Status(410)],
        Reply::Status(200),
    )
    .await;
    f.subscribe("sub_gone", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("the subscription is disabled", || {
        f.store
            .subscription("sub_gone")
            .unwrap()
            .unwrap()
            .disabled
            .is_some()
    })
    .await;
    let record = f.store.subscription("sub_gone").unwrap().unwrap();
    let disabled = record.disabled.clone().unwrap();
    assert_eq!(disabled.reason, "the receiver answered 410 Gone");
    assert_eq!(disabled.at, t0());
    assert_eq!(f.state("sub_gone").delivered, Seq(2));
    assert_eq!(d.stats().disabled, 1);
    f.add("a1", 4..=4).await;
    d.merged("a");
    settle(&d).await;
    assert_eq!(r.got().len(), 2, "a disabled subscription was sent to");

    // Its owner re-enables it (as the API does): delivery goes on from the cursor.
    f.put(SubscriptionRecord {
        disabled: None,
        ..record
    })
    .await;
    d.changed("sub_gone");
    eventually("the rest is delivered", || {
        f.state("sub_gone").delivered == Seq(4)
    })
    .await;
    let got = r.got();
    let seqs: Vec<Vec<u64>> = got.iter().map(Got::seqs).collect();
    // The batch the 410 answered is sent first, as it was (same positions, same id).
    assert_eq!(seqs, vec![vec![1, 2], vec![3], vec![3], vec![4]]);
    assert_eq!(got[1].header("webhook-id"), got[2].header("webhook-id"));
    d.stop().await;
}

/// A `PATCH` holds the record lock from its read to its write: the dispatcher, disabling the
/// subscription meanwhile, waits for it and then writes over the patched record, so neither the
/// patch nor the disabling is lost.
#[tokio::test]
async fn disabling_waits_for_a_record_change_in_progress_and_keeps_it() {
    let f = Fixture::new().await;
    f.add("a1", 1..=1).await;
    let r = Receiver::start(vec![], Reply::Status(410)).await;
    f.subscribe("sub_race", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    let lock = SubscriptionControl::record_writes(&d).expect("the dispatcher shares its lock");
    let held = lock.lock().await;
    // The API's read of the record, before the 410 comes back.
    let read = f.store.subscription("sub_race").unwrap().unwrap();
    eventually("the 410 is answered", || {
        f.state("sub_race").last_attempt_at.is_some()
    })
    .await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    // The API's write of its change, from what it read.
    f.put(SubscriptionRecord {
        description: Some("patched".into()),
        ..read
    })
    .await;
    drop(held);
    eventually("the subscription is disabled", || {
        f.store
            .subscription("sub_race")
            .unwrap()
            .unwrap()
            .disabled
            .is_some()
    })
    .await;
    let record = f.store.subscription("sub_race").unwrap().unwrap();
    assert_eq!(record.description.as_deref(), Some("patched"));
    assert_eq!(
        record.disabled.map(|d| d.reason),
        Some("the receiver answered 410 Gone".to_owned())
    );
    d.stop().await;
}

#[tokio::test]
async fn a_subscription_failing_past_disable_after_is_disabled_with_a_reason() {
    let f = Fixture::new().await;
    f.add("a1", 1..=1).await;
    let r = Receiver::start(vec![], Reply::Status(500)).await;
    f.subscribe("sub_fail", &r.url, DeliveryMode::Full).await;
    let config = DispatcherConfig {
        retry_schedule: vec![Duration::from_secs(60 * 60)],
        disable_after: Duration::from_secs(2 * 60 * 60),
        ..exact()
    };
    let d = f.dispatcher(config, AddressPolicy::loopback());
    d.start().unwrap();
    for (n, hours) in [(1, 1), (2, 2)] {
        eventually("an attempt fails", || f.state("sub_fail").attempts == n).await;
        move_to(&f, &d, t0() + ChronoDuration::hours(hours));
    }
    eventually("the subscription is disabled", || {
        f.store
            .subscription("sub_fail")
            .unwrap()
            .unwrap()
            .disabled
            .is_some()
    })
    .await;
    let disabled = f
        .store
        .subscription("sub_fail")
        .unwrap()
        .unwrap()
        .disabled
        .unwrap();
    assert_eq!(disabled.at, t0() + ChronoDuration::hours(2));
    assert!(
        disabled
            .reason
            .starts_with("failing since 2026-12-05T09:00:00+00:00"),
        "{}",
        disabled.reason
    );
    assert_eq!(r.got().len(), 3);
    assert_eq!(f.attempts("sub_fail"), 3);
    assert_eq!(d.stats().disabled, 1);
    d.stop().await;
}

#[tokio::test]
async fn replay_delivers_again_from_the_given_position_with_a_new_id() {
    let f = Fixture::new().await;
    f.add("a1", 1..=4).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    f.subscribe("sub_replay", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("every event is delivered", || {
        f.state("sub_replay").delivered == Seq(4)
    })
    .await;
    d.replay("sub_replay", Seq(1)).await.unwrap();
    eventually("the replay is delivered", || r.got().len() == 4).await;
    eventually("the cursor is back at the end", || {
        f.state("sub_replay").delivered == Seq(4)
    })
    .await;
    let got = r.got();
    let seqs: Vec<Vec<u64>> = got.iter().map(Got::seqs).collect();
    assert_eq!(seqs, vec![vec![1, 2], vec![3, 4], vec![2, 3], vec![4]]);
    let ids: std::collections::HashSet<String> =
        got.iter().map(|g| g.header("webhook-id")).collect();
    assert_eq!(ids.len(), 4);
    d.stop().await;
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_until_the_previous_one_expires() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    let mut record = f.subscribe("sub_rotate", &r.url, DeliveryMode::Full).await;
    let (current, previous) = (generate_secret().unwrap(), generate_secret().unwrap());
    record.secrets = SigningSecrets {
        current: current.clone(),
        previous: Some(PreviousSecret {
            secret: previous.clone(),
            until: t0() + ChronoDuration::hours(1),
        }),
    };
    record.max_batch = 1;
    f.put(record).await;
    let d = f.start();
    eventually("every event is delivered", || {
        f.state("sub_rotate").delivered == Seq(3)
    })
    .await;
    // After the grace period: the current secret alone.
    f.clock.set(t0() + ChronoDuration::hours(1));
    f.add("a1", 4..=4).await;
    d.merged("a");
    eventually("the new event is delivered", || {
        f.state("sub_rotate").delivered == Seq(4)
    })
    .await;

    let keys = [
        SigningKey::parse(&current).unwrap(),
        SigningKey::parse(&previous).unwrap(),
    ];
    let got = r.got();
    assert_eq!(got.len(), 4);
    for (i, g) in got.iter().enumerate() {
        let id = g.header("webhook-id");
        let ts: i64 = g.header("webhook-timestamp").parse().unwrap();
        let signatures: Vec<String> = g
            .header("webhook-signature")
            .split(' ')
            .map(str::to_owned)
            .collect();
        let valid = if i < 3 { &keys[..] } else { &keys[..1] };
        let expected: Vec<String> = valid.iter().map(|k| k.sign(&id, ts, &g.body)).collect();
        assert_eq!(signatures, expected, "request {i}");
    }
    d.stop().await;
}

#[tokio::test]
async fn a_url_the_address_policy_refuses_fails_each_attempt_with_a_clear_error() {
    let f = Fixture::new().await;
    f.add("a1", 1..=2).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    f.subscribe("sub_private", &r.url, DeliveryMode::Full).await;
    let d = f.dispatcher(exact(), AddressPolicy::strict());
    d.start().unwrap();
    eventually("the attempt fails", || f.state("sub_private").attempts == 1).await;
    let attempt = &f.store.attempts("sub_private").unwrap()[0];
    assert_eq!(attempt.status, None);
    let error = attempt.error.clone().unwrap();
    assert!(
        error.starts_with("the address policy refuses the URL:"),
        "{error}"
    );
    assert!(error.chars().count() <= 101, "{error}");
    assert_eq!((attempt.first, attempt.last), (Seq(1), Seq(2)));
    assert_eq!(f.state("sub_private").attempts, 1);
    assert!(r.got().is_empty());
    d.stop().await;
}

#[tokio::test]
async fn a_dead_endpoint_does_not_delay_a_healthy_one() {
    let f = Fixture::new().await;
    f.add("a1", 1..=5).await;
    let dead = Receiver::start(vec![], Reply::Hang).await;
    let healthy = Receiver::start(vec![], Reply::Status(200)).await;
    f.subscribe("sub_dead", &dead.url, DeliveryMode::Full).await;
    f.subscribe("sub_healthy", &healthy.url, DeliveryMode::Full)
        .await;
    let config = DispatcherConfig {
        request_timeout: Duration::from_millis(1500),
        ..exact()
    };
    let d = f.dispatcher(config, AddressPolicy::loopback());
    d.start().unwrap();
    eventually("the healthy one gets everything", || {
        f.state("sub_healthy").delivered == Seq(5)
    })
    .await;
    // Meanwhile the dead one's first request is still waiting for an answer.
    assert_eq!(f.attempts("sub_dead"), 0);
    assert_eq!(f.state("sub_dead").attempts, 0);
    eventually("the dead one times out", || {
        f.state("sub_dead").attempts == 1
    })
    .await;
    assert_eq!(dead.got().len(), 1);
    assert_eq!(f.attempts("sub_dead"), 1);
    let attempt = &f.store.attempts("sub_dead").unwrap()[0];
    assert_eq!(attempt.status, None);
    assert_eq!(attempt.error.as_deref(), Some("no answer within 1500ms"));
    assert_eq!(
        f.state("sub_dead").next_attempt_at,
        Some(t0() + ChronoDuration::seconds(5))
    );
    d.stop().await;
}

#[tokio::test]
async fn retry_after_moves_the_next_attempt_within_the_clamp() {
    let f = Fixture::new().await;
    f.add("a1", 1..=1).await;
    let r = Receiver::start(vec![Reply::RetryAfter(429, "8")], Reply::Status(200)).await;
    f.subscribe("sub_429", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("the attempt fails", || f.state("sub_429").attempts == 1).await;
    let state = f.state("sub_429");
    assert_eq!(
        state.next_attempt_at,
        Some(t0() + ChronoDuration::seconds(8))
    );
    assert_eq!(f.store.attempts("sub_429").unwrap()[0].status, Some(429));
    d.stop().await;
}

#[tokio::test]
async fn a_paused_subscription_gets_nothing_until_resumed() {
    let f = Fixture::new().await;
    f.add("a1", 1..=2).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    let mut record = f.subscribe("sub_paused", &r.url, DeliveryMode::Full).await;
    record.paused = true;
    f.put(record.clone()).await;
    let d = f.start();
    settle(&d).await;
    assert!(r.got().is_empty());
    record.paused = false;
    f.put(record).await;
    d.changed("sub_paused");
    eventually("resumed", || f.state("sub_paused").delivered == Seq(2)).await;
    assert_eq!(r.got().len(), 1);
    d.stop().await;
}

#[tokio::test]
async fn notify_mode_coalesces_new_events_into_one_ping() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    f.add("a2", 4..=6).await;
    f.add("b1", 7..=8).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    f.subscribe("sub_notify", &r.url, DeliveryMode::Notify)
        .await;
    let d = f.start();
    eventually("a ping is acknowledged", || {
        f.state("sub_notify").delivered == Seq(6)
    })
    .await;
    f.add("a1", 9..=10).await;
    d.merged("a");
    eventually("a second ping", || {
        f.state("sub_notify").delivered == Seq(8)
    })
    .await;
    let key = f.store.stream_key("a");
    let got = r.got();
    let bodies: Vec<serde_json::Value> = got.iter().map(|g| g.json()["data"].clone()).collect();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"sources": ["a1", "a2"], "cursor": Cursor::new(key, Seq(0)).encode()}),
            serde_json::json!({"sources": ["a1"], "cursor": Cursor::new(key, Seq(6)).encode()}),
        ]
    );
    assert_eq!(got[0].json()["type"], "events.available");
    d.stop().await;
}

#[tokio::test]
async fn a_pending_batch_is_sent_again_whole_after_max_batch_shrinks() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    let mut record = f.subscribe("sub_shrink", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("the first attempt fails", || {
        f.state("sub_shrink").attempts == 1
    })
    .await;
    record.max_batch = 1;
    f.put(record).await;
    d.changed("sub_shrink");
    move_to(&f, &d, t0() + ChronoDuration::seconds(5));
    eventually("every event is delivered", || {
        f.state("sub_shrink").delivered == Seq(3)
    })
    .await;
    let got = r.got();
    let seqs: Vec<Vec<u64>> = got.iter().map(Got::seqs).collect();
    assert_eq!(seqs, vec![vec![1, 2], vec![1, 2], vec![3]]);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    d.stop().await;
}

#[tokio::test]
async fn the_filter_picks_the_events_and_skipped_entries_move_the_cursor() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    f.add("a2", 4..=6).await;
    f.add("a1", 7..=8).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    let mut record = f.subscribe("sub_filter", &r.url, DeliveryMode::Full).await;
    record.filter = tributary_store::Filter {
        sources: vec![SourceId::new("a2").unwrap()],
        ..Default::default()
    };
    f.put(record).await;
    let d = f.start();
    eventually("the log is passed", || {
        f.state("sub_filter").delivered == Seq(8)
    })
    .await;
    let got = r.got();
    let seqs: Vec<Vec<u64>> = got.iter().map(Got::seqs).collect();
    assert_eq!(seqs, vec![vec![4, 5], vec![6]]);
    let sources: Vec<String> = got
        .iter()
        .flat_map(|g| g.json()["data"]["events"].as_array().unwrap().clone())
        .map(|e| e["source"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sources, vec!["a2"; 3]);
    d.stop().await;
}

#[tokio::test]
async fn a_drain_lets_the_request_in_flight_finish_and_starts_no_other() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(vec![Reply::Gate], Reply::Status(200)).await;
    f.subscribe("sub_drain", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("the first request is in flight", || r.got().len() == 1).await;
    let stopping = d.stop();
    tokio::pin!(stopping);
    // One poll: the stop is signalled, and the drain waits for the worker.
    tokio::select! {
        biased;
        _ = &mut stopping => panic!("the drain did not wait for the request in flight"),
        _ = std::future::ready(()) => {}
    }
    r.gate.add_permits(1);
    tokio::time::timeout(WAIT, stopping).await.unwrap();
    let state = f.state("sub_drain");
    // The answered batch is delivered; the next one was persisted as pending with it (not sent):
    // a restart sends it first, under that id.
    assert_eq!(state.delivered, Seq(2));
    assert_eq!(
        state.batch.map(|b| (b.first, b.last)),
        Some((Seq(3), Seq(3)))
    );
    assert_eq!(r.got().len(), 1);
    assert_eq!(f.attempts("sub_drain"), 1);
}

#[tokio::test]
async fn a_filter_naming_a_source_the_tenant_lacks_disables_with_that_reason() {
    let f = Fixture::new().await;
    f.add("a1", 1..=2).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    let mut record = f
        .subscribe("sub_nosource", &r.url, DeliveryMode::Full)
        .await;
    record.filter = tributary_store::Filter {
        sources: vec![SourceId::new("b1").unwrap()],
        ..Default::default()
    };
    f.put(record).await;
    let d = f.start();
    eventually("disabled", || {
        f.store
            .subscription("sub_nosource")
            .unwrap()
            .unwrap()
            .disabled
            .is_some()
    })
    .await;
    let disabled = f
        .store
        .subscription("sub_nosource")
        .unwrap()
        .unwrap()
        .disabled
        .unwrap();
    assert_eq!(
        disabled.reason,
        "the filter names a source the tenant does not have: b1"
    );
    assert!(r.got().is_empty());
    d.stop().await;
}

#[tokio::test]
async fn a_replay_past_the_end_waits_for_the_log_to_grow() {
    let f = Fixture::new().await;
    f.add("a1", 1..=3).await;
    let r = Receiver::start(vec![], Reply::Status(200)).await;
    f.subscribe("sub_ahead", &r.url, DeliveryMode::Full).await;
    let d = f.start();
    eventually("caught up", || f.state("sub_ahead").delivered == Seq(3)).await;
    d.replay("sub_ahead", Seq(4)).await.unwrap();
    settle(&d).await;
    assert_eq!(r.got().len(), 2);
    f.add("a1", 4..=5).await;
    d.merged("a");
    eventually("the new event", || f.state("sub_ahead").delivered == Seq(5)).await;
    assert_eq!(r.got().last().unwrap().seqs(), vec![5]);
    d.stop().await;
}
