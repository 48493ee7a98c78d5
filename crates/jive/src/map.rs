//! Wire items → unified events, by comparing each sighting with what the source last knew of the
//! object (its object memory, keyed on `contentID`).
//!
//! | sighting | known before | event |
//! | --- | --- | --- |
//! | content | nothing, published after the source's origin | `add` |
//! | content | nothing, published before it (pre-existing, never seen) | `update` |
//! | content | deleted | `restore` (`previous`: as it was) |
//! | content | in another place | `move` (`previous`: as it was; also when renamed too) |
//! | content | with another subject | `rename` |
//! | content | with an older `updated` | `update` |
//! | content | with the same `updated` | nothing (seen already: a window boundary) |
//! | deletion marker | anything | `delete` (`object`: the last state known, else the marker's id and type) |
//!
//! Content events occur at the item's `updated`, deletions at the marker's `eventDate`.

use crate::client::{WireContent, WireDeleted};
use crate::config::place_path;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{Actor, Event, EventId, EventType, Object, ObjectKind, SourceId, Upstream};

/// The provider's name on every event.
pub const PROVIDER: &str = "jive";

/// What the source remembers of one content object, in its object memory under [`key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// The content type (`document`, `discussion`, ...).
    pub kind: String,
    pub subject: String,
    /// The container: `/places/N`, or `/people/N` for a person's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(with = "tributary_core::time::millis")]
    pub updated: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A deletion marker was seen after the last sighting.
    #[serde(default)]
    pub deleted: bool,
}

impl Known {
    fn object(&self, content_id: &str) -> Object {
        Object {
            id: content_id.to_owned(),
            kind: ObjectKind::from(self.kind.as_str()),
            name: self.subject.clone(),
            path: None,
            parent: self.parent.clone(),
            size: None,
            modified: Some(self.updated),
            url: self.url.clone(),
        }
    }
}

/// The object-memory key of a `contentID`.
pub fn key(content_id: &str) -> String {
    format!("c:{content_id}")
}

/// What every event of one poll shares.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub source: &'a SourceId,
    pub observed_at: DateTime<Utc>,
    /// Content published after this is new to the source (`add`); before it, it existed when the
    /// source started (`update` at its first sighting). The distant past for a backfill.
    pub origin: DateTime<Utc>,
    pub keep_raw: bool,
}

/// The result of one sighting: the event, if any, and what to remember.
#[derive(Debug, Clone, PartialEq)]
pub struct Synthesized {
    pub event: Option<Event>,
    pub known: Known,
}

/// A content item seen with `updated` in the window.
pub fn content(
    ctx: &Context<'_>,
    item: &WireContent,
    raw: &Value,
    known: Option<&Known>,
) -> Result<Synthesized, tributary_core::IdError> {
    let now = Known {
        kind: item
            .content_type
            .clone()
            .unwrap_or_else(|| "content".into()),
        subject: item.subject.clone().unwrap_or_default(),
        parent: container(item),
        updated: item.updated,
        url: item
            .resources
            .as_ref()
            .and_then(|r| r.html.as_ref())
            .and_then(|h| h.href.clone()),
        deleted: false,
    };
    let (event_type, action, previous) = match known {
        None if item.published > ctx.origin => (EventType::Add, "created", None),
        None => (EventType::Update, "updated", None),
        Some(k) if k.deleted => (EventType::Restore, "restored", Some(k)),
        Some(k) if k.updated >= item.updated => {
            return Ok(Synthesized {
                event: None,
                known: k.clone(),
            });
        }
        Some(k) if k.parent != now.parent => (EventType::Move, "moved", Some(k)),
        Some(k) if k.subject != now.subject => (EventType::Rename, "renamed", Some(k)),
        Some(_) => (EventType::Update, "updated", None),
    };
    let upstream_id = format!("{}@{}", item.content_id, item.updated.timestamp_millis());
    let actor = item
        .author
        .as_ref()
        .filter(|_| event_type == EventType::Add)
        .and_then(|a| {
            Some(Actor {
                id: a.id.clone()?,
                name: a.display_name.clone(),
                email: a.emails.iter().find_map(|e| e.value.clone()),
                via: None,
            })
        });
    let event = Event {
        id: EventId::new(upstream_id.clone())?,
        seq: None,
        source: ctx.source.clone(),
        provider: PROVIDER.into(),
        event_type,
        occurred_at: item.updated,
        observed_at: ctx.observed_at,
        object: now.object(&item.content_id),
        previous: previous.map(|k| k.object(&item.content_id)),
        actor,
        upstream: Upstream {
            id: upstream_id,
            action: action.into(),
            raw: ctx.keep_raw.then(|| raw.clone()),
        },
        late: false,
    };
    Ok(Synthesized {
        event: Some(event),
        known: now,
    })
}

/// A deletion marker seen with `eventDate` in the window.
pub fn deletion(
    ctx: &Context<'_>,
    marker: &WireDeleted,
    raw: &Value,
    known: Option<&Known>,
) -> Result<Synthesized, tributary_core::IdError> {
    let object = match known {
        Some(k) => k.object(&marker.object_id),
        None => Object::new(
            marker.object_id.clone(),
            ObjectKind::from(marker.object_type.as_deref().unwrap_or("content")),
            "",
        ),
    };
    let remembered = Known {
        kind: object.kind.as_str().to_owned(),
        subject: object.name.clone(),
        parent: object.parent.clone(),
        updated: known.map_or(marker.event_date, |k| k.updated),
        url: object.url.clone(),
        deleted: true,
    };
    let event = Event {
        id: EventId::new(format!("deleted:{}", marker.id))?,
        seq: None,
        source: ctx.source.clone(),
        provider: PROVIDER.into(),
        event_type: EventType::Delete,
        occurred_at: marker.event_date,
        observed_at: ctx.observed_at,
        object,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: marker.id.clone(),
            action: "deleted".into(),
            raw: ctx.keep_raw.then(|| raw.clone()),
        },
        late: false,
    };
    Ok(Synthesized {
        event: Some(event),
        known: remembered,
    })
}

/// `/places/N` from `parentPlace.uri`, else the path of `parent` (`/people/N`) after
/// `/api/core/v3`.
fn container(item: &WireContent) -> Option<String> {
    if let Some(uri) = item.parent_place.as_ref().and_then(|p| p.uri.as_deref())
        && let Some(path) = place_path(uri)
    {
        return Some(path);
    }
    let parent = item.parent.as_deref()?;
    Some(match parent.find("/api/core/v3/") {
        Some(at) => parent[at + "/api/core/v3".len()..].to_owned(),
        None => parent.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::wire_time;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        wire_time::parse(s).unwrap()
    }

    fn item(id: &str, subject: &str, place: u32, published: &str, updated: &str) -> Value {
        json!({
            "id": "9", "contentID": id, "type": "document", "subject": subject,
            "published": published, "updated": updated,
            "parentPlace": {"id": "1", "name": "Ops", "type": "group",
                "uri": format!("https://c.example/api/core/v3/places/{place}")},
            "author": {"id": "2001", "displayName": "Ann", "emails": [{"value": "ann@x"}]},
            "resources": {"html": {"ref": format!("https://c.example/docs/DOC-{id}")}}
        })
    }

    fn see(ctx: &Context<'_>, raw: &Value, known: Option<&Known>) -> Synthesized {
        content(ctx, &WireContent::from_json(raw).unwrap(), raw, known).unwrap()
    }

    #[test]
    fn tells_each_change_apart_from_the_last_sighting() {
        let source = SourceId::new("j").unwrap();
        let ctx = Context {
            source: &source,
            observed_at: t("2024-05-01T12:00:00.000+0000"),
            origin: t("2024-05-01T00:00:00.000+0000"),
            keep_raw: false,
        };
        let created = item(
            "7",
            "Plan",
            1,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T09:00:00.020+0000",
        );
        let a = see(&ctx, &created, None);
        let e = a.event.unwrap();
        assert_eq!(e.event_type, EventType::Add);
        assert_eq!(e.id.as_str(), "7@1714554000020");
        assert_eq!(e.occurred_at, t("2024-05-01T09:00:00.020+0000"));
        assert_eq!(e.object.parent.as_deref(), Some("/places/1"));
        assert_eq!(e.actor.unwrap().email.as_deref(), Some("ann@x"));

        let same = see(&ctx, &created, Some(&a.known));
        assert_eq!(same.event, None, "a boundary repeat is not a change");

        let renamed = item(
            "7",
            "Plan v2",
            1,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T10:00:00.000+0000",
        );
        let r = see(&ctx, &renamed, Some(&a.known));
        let e = r.event.unwrap();
        assert_eq!(e.event_type, EventType::Rename);
        assert_eq!(e.previous.unwrap().name, "Plan");
        assert_eq!(e.actor, None);

        let moved = item(
            "7",
            "Plan v3",
            2,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T11:00:00.000+0000",
        );
        let m = see(&ctx, &moved, Some(&r.known));
        let e = m.event.unwrap();
        assert_eq!(
            e.event_type,
            EventType::Move,
            "a move that also renames is a move"
        );
        assert_eq!(e.previous.unwrap().parent.as_deref(), Some("/places/1"));

        let edited = item(
            "7",
            "Plan v3",
            2,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T11:30:00.000+0000",
        );
        assert_eq!(
            see(&ctx, &edited, Some(&m.known)).event.unwrap().event_type,
            EventType::Update
        );

        let old = item(
            "3",
            "Old",
            1,
            "2023-01-01T00:00:00.000+0000",
            "2024-05-01T11:00:00.000+0000",
        );
        assert_eq!(
            see(&ctx, &old, None).event.unwrap().event_type,
            EventType::Update,
            "content older than the source's origin was not created now"
        );
    }

    #[test]
    fn deletions_carry_the_last_known_state_and_restores_follow() {
        let source = SourceId::new("j").unwrap();
        let ctx = Context {
            source: &source,
            observed_at: t("2024-05-01T12:00:00.000+0000"),
            origin: t("2024-05-01T00:00:00.000+0000"),
            keep_raw: true,
        };
        let raw = item(
            "7",
            "Plan",
            1,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T09:00:00.000+0000",
        );
        let seen = see(&ctx, &raw, None);
        let marker = json!({"id": "0b6f3c2e-7d1a-4c55-9a0e-3f1d2b7c9e10", "type": "deletedObject",
            "objectType": "document", "objectId": "7", "eventDate": "2024-05-01T10:00:00.000+0000"});
        let d = deletion(
            &ctx,
            &WireDeleted::from_json(&marker).unwrap(),
            &marker,
            Some(&seen.known),
        )
        .unwrap();
        let e = d.event.clone().unwrap();
        assert_eq!(e.event_type, EventType::Delete);
        assert_eq!(
            e.id.as_str(),
            "deleted:0b6f3c2e-7d1a-4c55-9a0e-3f1d2b7c9e10"
        );
        assert_eq!(e.object.name, "Plan");
        assert_eq!(e.upstream.raw.as_ref(), Some(&marker));
        assert!(d.known.deleted);

        let back = item(
            "7",
            "Plan",
            1,
            "2024-05-01T09:00:00.000+0000",
            "2024-05-01T11:00:00.000+0000",
        );
        let r = see(&ctx, &back, Some(&d.known)).event.unwrap();
        assert_eq!(r.event_type, EventType::Restore);
        assert_eq!(r.previous.unwrap().name, "Plan");

        let unknown = deletion(
            &ctx,
            &WireDeleted::from_json(&marker).unwrap(),
            &marker,
            None,
        )
        .unwrap();
        let o = unknown.event.unwrap().object;
        assert_eq!(
            (o.id.as_str(), o.kind.as_str(), o.name.as_str()),
            ("7", "document", "")
        );
    }
}
