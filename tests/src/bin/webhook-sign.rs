//! Prints webhook requests signed by tributary's own signing code
//! (`tributary_server::webhooks::signature`), one JSON object a line, for receivers written by
//! others to verify (`tests/webhooks/run-verify.sh` runs the `standardwebhooks` and `svix`
//! packages from PyPI on them).
//!
//!     webhook-sign [--now UNIX_SECONDS] [--stale-by SECONDS]
//!
//! Requests are signed at `--now` (default: the system clock), except the `stale` one, signed
//! `--stale-by` seconds earlier (default 600: twice the 5-minute tolerance of the reference
//! libraries), and the `future` one, as far ahead. Each line is
//!
//!     {"name", "secret", "expect", "headers": {"webhook-id", "webhook-timestamp",
//!      "webhook-signature"}, "body"}
//!
//! where `secret` is the one secret the receiver knows, `body` the exact body (UTF-8) and
//! `expect` is `valid`, or `stale` (a receiver must refuse it for its timestamp alone). The
//! rotation cases sign one request with two secrets (`v1,<new> v1,<old>`, as a subscription does
//! during a grace period), once for a receiver that knows only the old secret and once for one
//! that knows only the new. Webhook ids have the dispatcher's shape: `msg_` and 32 hex digits.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use std::io::Write as _;
use tributary_core::{
    Actor, Cursor, Event, EventId, EventType, Object, ObjectKind, Seq, SourceId, Upstream,
};
use tributary_server::webhooks::signature::{SigningKey, generate_secret, signature_header};

type Error = Box<dyn std::error::Error>;

/// The tolerance of `standardwebhooks` and `svix` is 5 minutes; twice that is stale for sure.
const DEFAULT_STALE_BY_SECS: i64 = 600;

struct Args {
    now: i64,
    stale_by: i64,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        now: Utc::now().timestamp(),
        stale_by: DEFAULT_STALE_BY_SECS,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let seconds: i64 = value
            .parse()
            .map_err(|_| format!("{flag}: {value:?} is not a number of seconds"))?;
        match flag.as_str() {
            "--now" => args.now = seconds,
            "--stale-by" => args.stale_by = seconds,
            _ => return Err(format!("unknown argument {flag:?}").into()),
        }
    }
    Ok(args)
}

/// An event as the store holds it, with paths in several scripts (the signature covers the
/// exact UTF-8 bytes, so a receiver that re-encodes them would fail).
fn event(seq: u64, event_type: EventType, name: &str, at: DateTime<Utc>) -> Result<Event, Error> {
    let dir = "/Shared/Projets/Équipe Zürich/報告";
    let mut object = Object::new(format!("f3a0c2b4-{seq:04}"), ObjectKind::File, name);
    object.path = Some(format!("{dir}/{name}"));
    object.parent = Some(dir.to_owned());
    object.size = Some(48_213 + seq);
    object.modified = Some(at);
    let previous = (event_type == EventType::Rename).then(|| {
        let mut before = object.clone();
        before.name = "brouillon (copie) 🚧.docx".to_owned();
        before.path = Some(format!("{dir}/brouillon (copie) 🚧.docx"));
        before
    });
    Ok(Event {
        id: EventId::new(format!("88120{seq:02}"))?,
        seq: Some(Seq(seq)),
        source: SourceId::new("egnyte-acme")?,
        provider: "egnyte".into(),
        event_type,
        occurred_at: at,
        observed_at: at + Duration::milliseconds(2417),
        object,
        previous,
        actor: Some(Actor {
            id: "1035".to_owned(),
            name: Some("Zoë Ørsted".to_owned()),
            email: Some("zoe@acme.example".to_owned()),
            via: Some("WebUI".to_owned()),
        }),
        upstream: Upstream {
            id: format!("88120{seq:02}"),
            action: event_type.as_str().into(),
            raw: None,
        },
        late: false,
    })
}

/// A `full` delivery: the envelope around the events' stored JSON, spliced as the dispatcher
/// does (the events are not re-serialized inside a larger value).
fn events_body(events: &[Event], cursor: &Cursor, at: DateTime<Utc>) -> Result<String, Error> {
    let stored = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!(
        r#"{{"type":"events","timestamp":{},"data":{{"events":[{}],"cursor":{}}}}}"#,
        serde_json::to_string(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))?,
        stored.join(","),
        serde_json::to_string(&cursor.encode())?,
    ))
}

/// A `notify` delivery: a thin ping, the receiver pulls `/v1/events` itself.
fn notify_body(cursor: &Cursor, at: DateTime<Utc>) -> Result<String, Error> {
    Ok(serde_json::to_string(&json!({
        "type": "events.available",
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {"sources": ["egnyte-acme", "jive-community"], "cursor": cursor.encode()},
    }))?)
}

/// One signed request, as a line.
fn sample(
    name: &str,
    receiver_secret: &str,
    signers: &[SigningKey],
    webhook_id: &str,
    timestamp: i64,
    body: &str,
    expect: &str,
) -> Value {
    json!({
        "name": name,
        "secret": receiver_secret,
        "expect": expect,
        "headers": {
            "webhook-id": webhook_id,
            "webhook-timestamp": timestamp.to_string(),
            "webhook-signature": signature_header(signers, webhook_id, timestamp, body.as_bytes()),
        },
        "body": body,
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let at = Utc
        .timestamp_opt(args.now, 0)
        .single()
        .ok_or("--now is out of range")?;
    let cursor = Cursor::new(0x5eed_cafe_0000_0012, Seq(103));
    let names = [
        "q3 résumé – final.xlsx",
        "会议记录.pdf",
        "naïve café 🎉.docx",
    ];
    let types = [EventType::Add, EventType::Update, EventType::Rename];
    let events = names
        .iter()
        .zip(types)
        .zip(101u64..)
        .map(|((name, t), seq)| event(seq, t, name, at - Duration::seconds(30)))
        .collect::<Result<Vec<_>, _>>()?;
    let full = events_body(&events, &cursor, at)?;
    let one = events_body(&events[..1], &Cursor::new(cursor.epoch, Seq(101)), at)?;
    let notify = notify_body(&cursor, at)?;

    let secret = generate_secret()?;
    let key = SigningKey::parse(&secret)?;
    let new_secret = generate_secret()?;
    let new_key = SigningKey::parse(&new_secret)?;
    let now = args.now;
    let lines = [
        sample(
            "full batch",
            &secret,
            std::slice::from_ref(&key),
            "msg_000000000000000000001a2b00000065",
            now,
            &full,
            "valid",
        ),
        sample(
            "one event",
            &secret,
            std::slice::from_ref(&key),
            "msg_000000000000000000001a2b00000066",
            now,
            &one,
            "valid",
        ),
        sample(
            "notify",
            &secret,
            std::slice::from_ref(&key),
            "msg_000000000000000000009c8d00000007",
            now,
            &notify,
            "valid",
        ),
        // A rotation: the new secret signs first, the old one alongside.
        sample(
            "rotation, receiver knows only the old secret",
            &secret,
            &[new_key.clone(), key.clone()],
            "msg_000000000000000000001a2b00000067",
            now,
            &full,
            "valid",
        ),
        sample(
            "rotation, receiver knows only the new secret",
            &new_secret,
            &[new_key, key.clone()],
            "msg_000000000000000000001a2b00000067",
            now,
            &full,
            "valid",
        ),
        sample(
            "stale",
            &secret,
            std::slice::from_ref(&key),
            "msg_000000000000000000001a2b00000068",
            now - args.stale_by,
            &full,
            "stale",
        ),
        sample(
            "future",
            &secret,
            std::slice::from_ref(&key),
            "msg_000000000000000000001a2b00000069",
            now + args.stale_by,
            &full,
            "stale",
        ),
    ];
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}
