//! The unified event: what every provider's changes become, and what readers receive.

use crate::{EventId, Seq, SourceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What happened to the object. Serialized in lowercase: `"add"`, `"move"`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The object appeared.
    Add,
    /// The object was removed (or moved to the trash).
    Delete,
    /// The object's content or metadata changed in place (a new file version, an edit).
    Update,
    /// The object's name changed within the same parent.
    Rename,
    /// The object moved to another parent; `previous` holds where it was.
    Move,
    /// A new object was made from another; `previous` holds the original.
    Copy,
    /// A deleted object came back.
    Restore,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::Add,
        EventType::Delete,
        EventType::Update,
        EventType::Rename,
        EventType::Move,
        EventType::Copy,
        EventType::Restore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Add => "add",
            EventType::Delete => "delete",
            EventType::Update => "update",
            EventType::Rename => "rename",
            EventType::Move => "move",
            EventType::Copy => "copy",
            EventType::Restore => "restore",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A string that names no event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event type {0:?}: expected one of add, delete, update, rename, move, copy, restore"
)]
pub struct ParseEventTypeError(pub String);

impl std::str::FromStr for EventType {
    type Err = ParseEventTypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseEventTypeError(s.to_owned()))
    }
}

/// What kind of thing the object is. Known kinds have variants; any other provider word is kept
/// as it is in [`ObjectKind::Other`], so a new upstream kind is never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    File,
    Folder,
    Document,
    Note,
    Other(String),
}

impl ObjectKind {
    pub fn as_str(&self) -> &str {
        match self {
            ObjectKind::File => "file",
            ObjectKind::Folder => "folder",
            ObjectKind::Document => "document",
            ObjectKind::Note => "note",
            ObjectKind::Other(s) => s,
        }
    }
}

impl From<&str> for ObjectKind {
    fn from(s: &str) -> Self {
        match s {
            "file" => ObjectKind::File,
            "folder" => ObjectKind::Folder,
            "document" => ObjectKind::Document,
            "note" => ObjectKind::Note,
            other => ObjectKind::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for ObjectKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ObjectKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(ObjectKind::from(s.as_ref()))
    }
}

/// `utoipa` reads any type whose name ends in `Object` as "any JSON object": the event's fields
/// name [`Object`]'s schema through this alias instead.
#[cfg(feature = "openapi")]
type EventObject = Object;

/// The object an event is about, as it was right after the event (or, in `previous`, before it).
/// Fields left out of the JSON when unknown are never `null`.
// Its schema is named `EventObject`: a bare `Object` reads as "any JSON object" in OpenAPI tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EventObject))]
pub struct Object {
    /// The provider's stable id of the object (Egnyte's group id, Jive's `contentID`, ...).
    pub id: String,
    /// `file`, `folder`, `document`, `note`, or the provider's own word for anything else.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, examples("file", "folder", "document", "note"))
    )]
    pub kind: ObjectKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub path: Option<String>,
    /// The id of the containing folder or place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, minimum = 0))]
    pub size: Option<u64>,
    /// When the object last changed (RFC 3339, UTC, milliseconds).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::millis_opt"
    )]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<String>, format = DateTime, nullable = false)
    )]
    pub modified: Option<DateTime<Utc>>,
    /// Where a person can open the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub url: Option<String>,
}

impl Object {
    /// An object with only the required fields set.
    pub fn new(id: impl Into<String>, kind: ObjectKind, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind,
            name: name.into(),
            path: None,
            parent: None,
            size: None,
            modified: None,
            url: None,
        }
    }
}

/// Who made the change, as far as the upstream says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub email: Option<String>,
    /// How the change was made, in the provider's words (Egnyte's `action_source`: `WebUI`,
    /// `PublicAPI`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub via: Option<String>,
}

/// Where the event came from upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Upstream {
    /// The upstream's own id for the event or change (an Egnyte event id, a Jive deletion marker
    /// id, or a synthesized `contentID@updated`).
    pub id: String,
    /// The upstream's own word for what happened (`create`, `rename`, ...), kept even when it maps
    /// to a unified type, and the only record of an action we do not know.
    pub action: String,
    /// The upstream payload, when the source is configured to keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

/// One change, in the unified model (`docs/events.md`). Optional fields are left out when
/// unknown, never `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Stable across re-polls: the store's deduplication key within a source.
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, min_length = 1, max_length = 512)
    )]
    pub id: EventId,
    /// The position in the tenant's log, from 1, strictly increasing, gap-free (absent until the
    /// store's merge assigns it).
    // Required in the schema: every event a reader receives comes from the merged log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = u64, required = true, minimum = 1)
    )]
    pub seq: Option<Seq>,
    pub source: SourceId,
    /// The provider's name: `egnyte`, `jive`, ...
    pub provider: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the change happened, by the upstream's clock (RFC 3339, UTC, milliseconds).
    #[serde(with = "crate::time::millis")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub occurred_at: DateTime<Utc>,
    /// When tributary first saw it (RFC 3339, UTC, milliseconds).
    #[serde(with = "crate::time::millis")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub observed_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(value_type = EventObject))]
    pub object: Object,
    /// The object before the change, for move, rename, copy (the original) and restore, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<EventObject>, nullable = false)
    )]
    pub previous: Option<Object>,
    /// Who made the change, when the upstream says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub actor: Option<Actor>,
    pub upstream: Upstream,
    /// True when the event reached the unified stream after events with a later `occurred_at`
    /// (its source was lagging behind the merge frontier).
    // Always written (the `default` is for reading older JSON), so the schema requires it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub late: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_as_lowercase_words() {
        for t in EventType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), t);
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        }
        assert_eq!(
            "Add".parse::<EventType>().unwrap_err().to_string(),
            "unknown event type \"Add\": expected one of add, delete, update, rename, move, copy, restore"
        );
    }

    #[test]
    fn unknown_object_kinds_are_kept() {
        let k: ObjectKind = serde_json::from_str("\"discussion\"").unwrap();
        assert_eq!(k, ObjectKind::Other("discussion".into()));
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"discussion\"");
        assert_eq!(
            serde_json::from_str::<ObjectKind>("\"file\"").unwrap(),
            ObjectKind::File
        );
    }

    #[test]
    fn absent_optional_fields_are_omitted_not_null() {
        let o = Object::new("1", ObjectKind::File, "a.txt");
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"id":"1","kind":"file","name":"a.txt"}"#
        );
    }
}
