//! Wire items → unified events, and what the source remembers of each object.
//!
//! - An item whose created date is inside the window is an `add`; another is an `update`.
//!   Without a created date, an object the source has not seen (or saw deleted) is an `add`.
//! - An item whose remembered updated date is the same (or later) gives no event: the same
//!   version read again.
//! - An item of a deleted list is a `delete`: dated by its own date field when it has one (once
//!   per date), else at the window's end and only for an object the source knows alive.

use crate::config::Resource;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{Event, EventId, EventType, IdError, Object, ObjectKind, SourceId, Upstream};

/// The provider's name in sources and events.
pub const PROVIDER: &str = "rest";

/// What the source remembers of one object (its object memory, keyed by [`key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    /// The updated date (ms) of the last version emitted, or the deletion's date.
    pub updated_ms: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The object-memory key of an object of a resource.
pub fn key(resource: &str, id: &str) -> String {
    format!("{resource}/{id}")
}

/// One change seen in a window, before it is compared with what the source remembers.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub time: DateTime<Utc>,
    pub id: String,
    /// The resource's index in the config (and its name).
    pub resource: usize,
    pub change: Change,
    pub item: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A listed item; `Some(true)` when its created date is inside the window, `None` when the
    /// resource has no created date.
    Listed { created_in_window: Option<bool> },
    /// An item of the deleted list; `dated` when the list gives deletion dates.
    Deleted { dated: bool },
}

impl Sighting {
    /// Events within a poll: by time, then id (numbers as numbers), then resource.
    pub fn order(&self) -> (DateTime<Utc>, usize, &str, usize, bool) {
        let deleted = matches!(self.change, Change::Deleted { .. });
        (
            self.time,
            self.id.len(),
            self.id.as_str(),
            self.resource,
            deleted,
        )
    }
}

/// What a sighting makes: the event, if any, and the new memory of the object.
#[derive(Debug)]
pub struct Made {
    pub event: Option<Event>,
    pub known: Option<Known>,
}

/// Everything an event needs besides the sighting.
pub struct Context<'a> {
    pub source: &'a SourceId,
    pub observed_at: DateTime<Utc>,
    pub keep_raw: bool,
}

pub fn sighting_event(
    ctx: &Context<'_>,
    resource: &Resource,
    s: &Sighting,
    before_now: Option<&Known>,
) -> Result<Made, IdError> {
    let t = s.time.timestamp_millis();
    let object = object_of(resource, &s.id, &s.item, before_now);
    let (event_type, action, event_id) = match s.change {
        Change::Listed { created_in_window } => {
            if before_now.is_some_and(|k| !k.deleted && k.updated_ms >= t) {
                return Ok(Made {
                    event: None,
                    known: None,
                });
            }
            let alive = before_now.is_some_and(|k| !k.deleted);
            let added = created_in_window.unwrap_or(!alive);
            let (ty, action) = if added {
                (EventType::Add, "CREATED")
            } else {
                (EventType::Update, "UPDATED")
            };
            (ty, action, format!("{}:{}@{t}", resource.name, s.id))
        }
        Change::Deleted { dated } => {
            let skip = match before_now {
                Some(k) if k.deleted => !dated || k.updated_ms >= t,
                Some(_) => false,
                None => !dated,
            };
            if skip {
                return Ok(Made {
                    event: None,
                    known: None,
                });
            }
            (
                EventType::Delete,
                "DELETED",
                format!("{}:{}@{t}:deleted", resource.name, s.id),
            )
        }
    };
    let known = Known {
        updated_ms: t,
        deleted: event_type == EventType::Delete,
        kind: object.kind.as_str().to_owned(),
        name: object.name.clone(),
        path: object.path.clone(),
    };
    let mut object = object;
    if event_type != EventType::Delete {
        object.modified = Some(s.time);
    }
    let event = Event {
        id: EventId::new(event_id)?,
        seq: None,
        source: ctx.source.clone(),
        provider: PROVIDER.to_owned(),
        event_type,
        occurred_at: s.time,
        observed_at: ctx.observed_at,
        object,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: format!("{}@{t}", s.id),
            action: action.to_owned(),
            raw: ctx.keep_raw.then(|| s.item.clone()),
        },
        late: false,
    };
    Ok(Made {
        event: Some(event),
        known: Some(known),
    })
}

/// The unified object of an item: its configured kind, name, path and URL fields; for a deleted
/// item whose list says little, what the source remembers.
fn object_of(resource: &Resource, id: &str, item: &Value, known: Option<&Known>) -> Object {
    let kind = resource
        .kind_field
        .as_ref()
        .and_then(|f| f.text(item))
        .or_else(|| known.map(|k| k.kind.clone()))
        .unwrap_or_else(|| resource.kind.clone());
    let name = resource
        .name_field
        .as_ref()
        .and_then(|f| f.text(item))
        .or_else(|| known.map(|k| k.name.clone()))
        .unwrap_or_else(|| id.to_owned());
    let mut object = Object::new(id, ObjectKind::from(kind.as_str()), name);
    object.path = resource
        .path_field
        .as_ref()
        .and_then(|f| f.text(item))
        .or_else(|| known.and_then(|k| k.path.clone()));
    object.url = resource.url_field.as_ref().and_then(|f| f.text(item));
    object
}
