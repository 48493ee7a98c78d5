//! Runs tributary's real webhook dispatcher once against a receiver, for receivers written by
//! others to verify what it actually sends (`tests/webhooks/run-verify.sh` points it at
//! `tests/webhooks/receiver.py`, which checks every request with `standardwebhooks` and `svix`).
//!
//!     webhook-deliver --url URL --secret WHSEC [--previous WHSEC] [--events N] [--batch N]
//!
//! A temporary store gets N events (default 25) of tenant `acme`, with paths in several
//! scripts, and one `full` subscription to URL in batches of `--batch` (default 10), signed with
//! `--secret` and, when given, `--previous` as a rotation's old secret (valid for an hour more).
//! The dispatcher delivers with the system clock, reaching loopback only, a 200 ms retry delay
//! and no jitter; once the subscription's cursor has reached the last event (or 30 s passed:
//! exit 1) it prints `delivered <N> events in <requests> requests (<failed> failed)` and stops.

use chrono::{Duration as ChronoDuration, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::{
    Checkpoint, Clock, Event, EventId, EventType, Object, ObjectKind, Page, Seq, SourceId,
    SystemClock, Upstream, Watermark,
};
use tributary_http::{AddressPolicy, Outbound};
use tributary_server::webhooks::{Dispatcher, DispatcherConfig};
use tributary_store::{
    DeliveryMode, DeliveryState, EventStore, PreviousSecret, SigningSecrets, SledStore,
    SourceRecord, SubscriptionRecord,
};

type Error = Box<dyn std::error::Error>;

const TENANT: &str = "acme";
const SUBSCRIPTION: &str = "sub_webhook_deliver";
/// How long the whole delivery may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// How often the subscription's cursor is looked at.
const POLL: Duration = Duration::from_millis(20);

struct Args {
    url: String,
    secret: String,
    previous: Option<String>,
    events: u32,
    batch: u32,
}

fn parse_args() -> Result<Args, Error> {
    let (mut url, mut secret, mut previous) = (None, None, None);
    let (mut events, mut batch) = (25, 10);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--secret" => secret = Some(value),
            "--previous" => previous = Some(value),
            "--events" => events = value.parse()?,
            "--batch" => batch = value.parse()?,
            _ => return Err(format!("unknown argument {flag:?}").into()),
        }
    }
    Ok(Args {
        url: url.ok_or("--url is required")?,
        secret: secret.ok_or("--secret is required")?,
        previous,
        events,
        batch,
    })
}

fn event(k: u32, at: chrono::DateTime<Utc>) -> Result<Event, Error> {
    let names = ["résumé", "会议记录", "naïve café 🎉", "Zürich – Q4"];
    let name = format!("{} {k}.docx", names[k as usize % names.len()]);
    let dir = "/Shared/Équipe/報告";
    let mut object = Object::new(format!("obj-{k}"), ObjectKind::File, &name);
    object.path = Some(format!("{dir}/{name}"));
    object.parent = Some(dir.to_owned());
    object.size = Some(1000 + u64::from(k));
    object.modified = Some(at);
    Ok(Event {
        id: EventId::new(format!("ev-{k}"))?,
        seq: None,
        source: SourceId::new("egnyte-acme")?,
        provider: "egnyte".into(),
        event_type: EventType::ALL[k as usize % EventType::ALL.len()],
        occurred_at: at,
        observed_at: at,
        object,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: k.to_string(),
            action: "create".into(),
            raw: None,
        },
        late: false,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let store = Arc::new(SledStore::temporary()?);
    let source = store
        .put_source(SourceRecord {
            id: SourceId::new("egnyte-acme")?,
            tenant: TENANT.into(),
            incarnation: 0,
            provider: "egnyte".into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: now,
        })
        .await?;
    let start = now - ChronoDuration::hours(1);
    let events = (1..=args.events)
        .map(|k| event(k, start + ChronoDuration::seconds(i64::from(k))))
        .collect::<Result<Vec<_>, _>>()?;
    let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1"}))?;
    store
        .ingest(
            &source,
            Page::new(events, checkpoint, Some(Watermark::new(now)), false),
        )
        .await?;
    store.merge_tenants(vec![(TENANT.into(), now)]).await?;
    store
        .put_subscription(SubscriptionRecord {
            id: SUBSCRIPTION.into(),
            tenant: TENANT.into(),
            url: args.url,
            secrets: SigningSecrets {
                current: args.secret,
                previous: args.previous.map(|secret| PreviousSecret {
                    secret,
                    until: now + ChronoDuration::hours(1),
                }),
            },
            filter: Default::default(),
            mode: DeliveryMode::Full,
            max_batch: args.batch,
            description: None,
            paused: false,
            disabled: None,
            created_at: now,
        })
        .await?;
    store
        .set_delivery(SUBSCRIPTION, DeliveryState::default())
        .await?;

    let config = DispatcherConfig {
        retry_schedule: vec![Duration::from_millis(200)],
        jitter: 0.0,
        request_timeout: Duration::from_secs(5),
        ..DispatcherConfig::default()
    };
    let dispatcher = Dispatcher::new(
        store.clone(),
        clock,
        Outbound::new(AddressPolicy::loopback())?,
        config,
    );
    dispatcher.start()?;
    let last = Seq(u64::from(args.events));
    let deadline = Instant::now() + DEADLINE;
    let reached = loop {
        let delivered = store.delivery(SUBSCRIPTION)?.map(|s| s.delivered);
        if delivered == Some(last) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(POLL).await;
    };
    dispatcher.stop().await;
    let attempts = store.attempts(SUBSCRIPTION)?;
    let failed = attempts.iter().filter(|a| a.error.is_some()).count();
    if !reached {
        let state = store.delivery(SUBSCRIPTION)?;
        return Err(format!(
            "the dispatcher did not deliver all {} events within {DEADLINE:?}: {state:?}, \
             attempts {attempts:?}",
            args.events
        )
        .into());
    }
    println!(
        "delivered {} events in {} requests ({failed} failed)",
        args.events,
        attempts.len()
    );
    Ok(())
}
