//! The same provider polls the Jive simulator's `/contents` and `/deletedObjects/contents` by
//! configuration alone: Jive's dates (`2024-05-01T09:15:02.511+0000`, pattern
//! `yyyy-MM-dd'T'HH:mm:ss.SSSZ`), its `modificationDate(before,after)` filter, `startIndex` /
//! `count` paging, `links.next` on the deleted list, Basic auth and the JSON security prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use std::sync::Arc;
use tributary_core::{
    Checkpoint, Event, EventType, ManualClock, MemoryObjectState, NoCredentialWriter, SourceId,
};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::{BuildContext, ProviderFactory, SourceSpec};
use tributary_rest::RestFactory;
use tributary_sim::jive::{JiveSim, JiveSimConfig};

const JIVE_DATE: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn polls_the_jive_simulator_by_configuration_alone() {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = JiveSim::new(JiveSimConfig::new("api", "secret"), clock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sim.clone().serve(listener, async {
        let _ = stopped.await;
    }));

    let config = json!({
        "base_url": base,
        "credentials": {"kind": "basic", "username": "api", "password": "secret"},
        "response_prefix": "throw 'allowIllegalResourceCall is false.';",
        "skew_ms": 1000,
        "resources": {
            "contents": {
                "url": format!("/api/core/v3/contents?filter=modificationDate(${{before:{JIVE_DATE}}},${{after:{JIVE_DATE}}})&sort=dateCreatedAsc&fields=contentID,type,subject,published,updated"),
                "list": "/list",
                "idField": "contentID",
                "datesConfiguration": {
                    "updatedDateField": "updated", "updatedDateFormat": JIVE_DATE,
                    "createdDateField": "published", "createdDateFormat": JIVE_DATE
                },
                "paging": {"mode": "offset", "param": "startIndex", "size_param": "count", "size": 2},
                "kind_field": "type",
                "name_field": "subject",
                "deleted": {
                    "url": format!("/api/core/v3/deletedObjects/contents?filter=since(${{after:{JIVE_DATE}}})&sort=eventDateAsc&count=2"),
                    "list": "/list",
                    "idField": "objectId",
                    "date_field": "eventDate",
                    "date_format": JIVE_DATE,
                    "paging": {"mode": "next_url", "field": "/links/next"}
                }
            }
        }
    });
    let objects = Arc::new(MemoryObjectState::new());
    let id = SourceId::new("jive-by-rest").unwrap();
    let built = RestFactory
        .build(
            SourceSpec { id: &id, config },
            BuildContext {
                outbound: Outbound::new(AddressPolicy::loopback()).unwrap(),
                clock: clock.clone(),
                objects: objects.clone(),
                credentials: Arc::new(NoCredentialWriter),
            },
        )
        .unwrap();
    let provider = built.provider;
    let mut checkpoint: Option<Checkpoint> = None;
    let mut drain = async || {
        let mut events: Vec<Event> = Vec::new();
        for _ in 0..50 {
            let page = provider.poll(checkpoint.as_ref()).await.unwrap();
            objects.apply(&page.objects);
            checkpoint = Some(page.checkpoint.clone());
            events.extend(page.events);
            if !page.more {
                return events;
            }
        }
        panic!("never caught up");
    };
    assert!(drain().await.is_empty());

    let place = sim.places()[0].place_id;
    let advance = |ms: i64| clock.advance(TimeDelta::milliseconds(ms).to_std().unwrap());
    advance(2_000);
    let a = sim.create("document", "Roadmap", place).unwrap();
    advance(100);
    let b = sim.create("discussion", "Lunch?", place).unwrap();
    advance(100);
    let c = sim.create("file", "deck.pdf", place).unwrap();
    advance(5_000);
    let first: Vec<_> = drain()
        .await
        .iter()
        .map(|e| {
            (
                e.event_type,
                e.object.id.clone(),
                e.object.kind.to_string(),
                e.object.name.clone(),
            )
        })
        .collect();
    assert_eq!(
        first,
        vec![
            (
                EventType::Add,
                a.to_string(),
                "document".into(),
                "Roadmap".into()
            ),
            (
                EventType::Add,
                b.to_string(),
                "discussion".into(),
                "Lunch?".into()
            ),
            (
                EventType::Add,
                c.to_string(),
                "file".into(),
                "deck.pdf".into()
            ),
        ]
    );

    advance(1_000);
    sim.rename(a, "Roadmap 2027").unwrap();
    advance(100);
    sim.delete(b).unwrap();
    advance(5_000);
    let events = drain().await;
    let second: Vec<_> = events
        .iter()
        .map(|e| (e.event_type, e.object.id.clone(), e.object.name.clone()))
        .collect();
    assert_eq!(
        second,
        vec![
            (EventType::Update, a.to_string(), "Roadmap 2027".into()),
            (EventType::Delete, b.to_string(), "Lunch?".into()),
        ]
    );
    let updated = sim.content(a).unwrap().updated;
    assert_eq!(events[0].occurred_at, updated);
    assert!(
        events
            .iter()
            .all(|e| e.provider == "rest" && e.source == id)
    );

    advance(60_000);
    assert!(drain().await.is_empty(), "nothing changed: nothing emitted");
}
