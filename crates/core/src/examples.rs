//! One example event of every type: pinned by snapshots, and the same JSON as `docs/events.md`.

use crate::*;
use chrono::{DateTime, Utc};

fn at(s: &str) -> DateTime<Utc> {
    time::parse(s).unwrap()
}

fn egnyte(
    seq: u64,
    upstream_id: u64,
    event_type: EventType,
    action: &str,
    when: &str,
    object: Object,
    previous: Option<Object>,
) -> Event {
    Event {
        id: EventId::new(upstream_id.to_string()).unwrap(),
        seq: Some(Seq(seq)),
        source: SourceId::new("egnyte-acme").unwrap(),
        provider: "egnyte".into(),
        event_type,
        occurred_at: at(when),
        observed_at: at(when) + chrono::Duration::milliseconds(2_417),
        object,
        previous,
        actor: Some(Actor {
            id: "1035".into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@acme.example".into()),
            via: Some("WebUI".into()),
        }),
        upstream: Upstream {
            id: upstream_id.to_string(),
            action: action.into(),
            raw: None,
        },
        late: false,
    }
}

fn file(id: &str, path: &str, size: u64, modified: &str) -> Object {
    let name = path.rsplit('/').next().unwrap();
    let parent = &path[..path.len() - name.len() - 1];
    Object {
        id: id.into(),
        kind: ObjectKind::File,
        name: name.into(),
        path: Some(path.into()),
        parent: Some(parent.into()),
        size: Some(size),
        modified: Some(at(modified)),
        url: Some(format!("https://acme.egnyte.com/navigate/file/{id}")),
    }
}

const GROUP: &str = "f3a0c2b4-5d6e-4f70-8a91-b2c3d4e5f607";
const COPY: &str = "0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c6b";

/// `(type, event)` for every event type, in the order `docs/events.md` shows them.
pub(crate) fn examples() -> Vec<(EventType, Event)> {
    let q3 = |path: &str, size, modified| file(GROUP, path, size, modified);
    let jive_doc = Object {
        id: "1042".into(),
        kind: ObjectKind::Document,
        name: "Onboarding checklist".into(),
        path: None,
        parent: Some("/places/1007".into()),
        size: None,
        modified: Some(at("2026-11-20T16:02:44.310Z")),
        url: Some("https://community.acme.example/docs/DOC-1042".into()),
    };
    let delete = Event {
        id: EventId::new("deleted:6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f").unwrap(),
        seq: Some(Seq(106)),
        source: SourceId::new("jive-community").unwrap(),
        provider: "jive".into(),
        event_type: EventType::Delete,
        occurred_at: at("2026-11-23T09:16:05.118Z"),
        observed_at: at("2026-11-23T09:17:00.004Z"),
        object: jive_doc,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f".into(),
            action: "deleted".into(),
            raw: Some(serde_json::json!({
                "id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
                "type": "deletedObject",
                "objectType": "document",
                "objectId": "1042",
                "url": "https://community.acme.example/api/core/v3/contents/1042",
                "eventDate": "2026-11-23T09:16:05.118+0000"
            })),
        },
        late: false,
    };
    vec![
        (
            EventType::Add,
            egnyte(
                101,
                8812001,
                EventType::Add,
                "create",
                "2026-11-23T09:14:02.000Z",
                q3(
                    "/Shared/Reports/q3.xlsx",
                    48_213,
                    "2026-11-23T09:14:01.000Z",
                ),
                None,
            ),
        ),
        (
            EventType::Update,
            egnyte(
                102,
                8812007,
                EventType::Update,
                "create",
                "2026-11-23T09:14:40.000Z",
                q3(
                    "/Shared/Reports/q3.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                ),
                None,
            ),
        ),
        (
            EventType::Rename,
            egnyte(
                103,
                8812010,
                EventType::Rename,
                "rename",
                "2026-11-23T09:15:03.000Z",
                q3(
                    "/Shared/Reports/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                ),
                Some(q3(
                    "/Shared/Reports/q3.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                )),
            ),
        ),
        (
            EventType::Move,
            egnyte(
                104,
                8812013,
                EventType::Move,
                "move",
                "2026-11-23T09:15:21.000Z",
                q3(
                    "/Shared/Archive/2026/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                ),
                Some(q3(
                    "/Shared/Reports/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                )),
            ),
        ),
        (
            EventType::Copy,
            egnyte(
                105,
                8812020,
                EventType::Copy,
                "copy",
                "2026-11-23T09:15:48.000Z",
                file(
                    COPY,
                    "/Shared/Board/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:15:48.000Z",
                ),
                Some(q3(
                    "/Shared/Archive/2026/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:14:39.000Z",
                )),
            ),
        ),
        (EventType::Delete, delete),
        (
            EventType::Restore,
            egnyte(
                107,
                8812031,
                EventType::Restore,
                "restore",
                "2026-11-23T09:16:30.000Z",
                file(
                    COPY,
                    "/Shared/Board/q3-final.xlsx",
                    51_877,
                    "2026-11-23T09:15:48.000Z",
                ),
                None,
            ),
        ),
    ]
}

/// The ```json blocks of `docs/events.md`, in order.
fn documented() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/events.md"))
        .unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(block.trim_end().to_owned());
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_event_type_has_an_example() {
    let mut types: Vec<EventType> = examples().iter().map(|(t, _)| *t).collect();
    types.sort();
    assert_eq!(types, EventType::ALL);
    for (t, e) in examples() {
        assert_eq!(e.event_type, t);
    }
}

#[test]
fn event_json_is_pinned() {
    for (t, event) in examples() {
        let json = serde_json::to_string_pretty(&event).unwrap();
        insta::assert_snapshot!(format!("event_{t}"), json);
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{t} does not round-trip");
    }
}

#[test]
fn docs_show_exactly_the_pinned_json() {
    let pinned: Vec<String> = examples()
        .iter()
        .map(|(_, e)| serde_json::to_string_pretty(e).unwrap())
        .collect();
    let documented = documented();
    assert_eq!(
        documented.len(),
        pinned.len(),
        "docs/events.md must have one json block per event type"
    );
    for ((t, _), (doc, pinned)) in examples().iter().zip(documented.iter().zip(&pinned)) {
        assert_eq!(
            doc, pinned,
            "docs/events.md's {t} example differs from the serialized event"
        );
    }
}
