//! Egnyte wire events → unified [`Event`]s (notes §4, §5).
//!
//! | Egnyte `type` / `action` | unified type |
//! | --- | --- |
//! | `file_system` / `create`, folder, or a file whose group id is new | `add` |
//! | `file_system` / `create`, a file whose group id is known | `update` (a new version) |
//! | `file_system` / `delete` | `delete` |
//! | `file_system` / `rename`, `move`, `copy`, `restore` | `rename`, `move`, `copy`, `restore` |
//! | `note` / `create`, `delete` | `add`, `delete` (object kind `note`) |
//! | anything else (`permission_change`, `lock`, `edit`, ...) | `update`, *unmapped*: `upstream.action` is the raw action and `upstream.raw` the wire event, always; counted by the provider |
//!
//! An event without `type` is read as `file_system` (Egnyte's connector schemas omit it).
//!
//! Objects: a file's id is its `target_group_id` (the file as a whole, across versions); folders
//! have no ids on the wire, so a folder's id is `folder:` + its path (a renamed folder therefore
//! gets a new id, and `previous.id` is `folder:` + the old path); a file without a group id falls
//! back to `file:` + path; a note's id is its `note_id`, its name the note id and its parent the
//! path it is attached to, when given. `name` is the last path segment, `parent` the path's dirname,
//! `url` the `object_detail` (absent on deletes). When `is_folder` is missing, an event with no
//! file ids is taken for a folder.
//!
//! Add or update: a file `create` is an `add` the first time its group id is seen, in the source's
//! object memory or earlier in the same poll (on this page or an earlier one). The first file event
//! with a group id records it, with the path and event id of that sighting (a group already known
//! writes nothing); `delete` forgets a known group, so a re-created or restored-as-`create` file is
//! an `add` again. A source
//! that starts at `latest` has never seen the files that existed before it, so the first new
//! version of such a file is an `add`.

use crate::client::WireEvent;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use tributary_core::{
    Actor, Event, EventId, EventType, Object, ObjectChange, ObjectKind, ObjectStateError,
    ObjectStateRead, SourceId, Upstream,
};

/// The provider name in every event.
pub const PROVIDER: &str = "egnyte";

/// Why an event could not become a unified event.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// No usable `id`: the event cannot be placed in the stream.
    #[error("unreadable Egnyte event {raw}: {reason}")]
    Unreadable { raw: String, reason: String },
    #[error(transparent)]
    ObjectState(#[from] ObjectStateError),
}

/// One mapped event, with what it changes in the object memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The Egnyte event id: the stream position this event is at.
    pub upstream_id: u64,
    pub event: Event,
    pub object_change: Option<ObjectChange>,
    /// `type/action` when the action has no unified meaning (the event is an `update` carrying the
    /// raw payload).
    pub unmapped: Option<String>,
}

/// Maps the events of one poll (one or more pages), remembering the group ids seen earlier in it.
pub struct Mapper<'a> {
    source: &'a SourceId,
    objects: &'a dyn ObjectStateRead,
    observed_at: DateTime<Utc>,
    keep_raw: bool,
    epoch: u32,
    /// Group id → known after the events mapped so far in this poll.
    seen: HashMap<String, bool>,
}

impl<'a> Mapper<'a> {
    /// `epoch` counts the upstream store resets this source has seen: after one, event ids are
    /// `r{epoch}-{id}` so that reused Egnyte ids are not taken for events already stored.
    pub fn new(
        source: &'a SourceId,
        objects: &'a dyn ObjectStateRead,
        observed_at: DateTime<Utc>,
        keep_raw: bool,
        epoch: u32,
    ) -> Self {
        Self {
            source,
            objects,
            observed_at,
            keep_raw,
            epoch,
            seen: HashMap::new(),
        }
    }

    /// When the next events were received (each page of a poll has its own time).
    pub fn observed_at(&mut self, at: DateTime<Utc>) {
        self.observed_at = at;
    }

    fn known(&self, group_id: &str) -> Result<bool, ObjectStateError> {
        match self.seen.get(group_id) {
            Some(known) => Ok(*known),
            None => Ok(self.objects.get(group_id)?.is_some()),
        }
    }

    pub fn map(&mut self, raw: &Value) -> Result<Mapped, MapError> {
        let wire = WireEvent::from_json(raw).map_err(|e| MapError::Unreadable {
            raw: cut(&raw.to_string()),
            reason: e.to_string(),
        })?;
        let event_id = event_id(wire.id, self.epoch).map_err(|e| MapError::Unreadable {
            raw: cut(&raw.to_string()),
            reason: e.to_string(),
        })?;
        let d = &wire.data;
        let etype = wire
            .event_type
            .as_deref()
            .unwrap_or("file_system")
            .to_ascii_lowercase();
        let action = wire.action.clone().unwrap_or_default();
        let act = action.to_ascii_lowercase();

        let kind = if etype == "note" {
            ObjectKind::Note
        } else {
            let folder = d.is_folder.unwrap_or(
                d.target_group_id.is_none() && d.target_id.is_none() && d.source_group_id.is_none(),
            );
            if folder {
                ObjectKind::Folder
            } else {
                ObjectKind::File
            }
        };
        let target_path = d.target_path.as_deref().map(normalize);
        let source_path = d.source_path.as_deref().map(normalize);
        let fallback_id = || format!("event:{}", wire.id);

        let mut object = match &kind {
            ObjectKind::Note => {
                let id = d.note_id.clone().unwrap_or_else(fallback_id);
                let mut o = Object::new(id.clone(), ObjectKind::Note, id);
                o.parent = target_path.clone();
                o
            }
            ObjectKind::Folder => {
                let id = target_path
                    .as_deref()
                    .map(|p| format!("folder:{p}"))
                    .unwrap_or_else(fallback_id);
                at_path(id, ObjectKind::Folder, target_path.as_deref())
            }
            _ => {
                let id = d
                    .target_group_id
                    .clone()
                    .or_else(|| target_path.as_deref().map(|p| format!("file:{p}")))
                    .unwrap_or_else(fallback_id);
                at_path(id, ObjectKind::File, target_path.as_deref())
            }
        };
        object.url = wire.object_detail.clone().filter(|u| !u.is_empty());

        let previous = source_path.as_deref().map(|p| {
            let id = match &kind {
                ObjectKind::Folder => format!("folder:{p}"),
                _ if act == "copy" => d
                    .source_group_id
                    .clone()
                    .unwrap_or_else(|| format!("file:{p}")),
                ObjectKind::File => d
                    .source_group_id
                    .clone()
                    .or_else(|| d.target_group_id.clone())
                    .unwrap_or_else(|| format!("file:{p}")),
                _ => object.id.clone(),
            };
            at_path(id, kind.clone(), Some(p))
        });

        let group_id = match kind {
            ObjectKind::File => d.target_group_id.clone(),
            _ => None,
        };
        let fs = etype == "file_system";
        let (event_type, unmapped) = match (etype.as_str(), act.as_str()) {
            ("file_system", "create") => match &group_id {
                Some(g) if self.known(g)? => (EventType::Update, None),
                _ => (EventType::Add, None),
            },
            ("file_system", "delete") | ("note", "delete") => (EventType::Delete, None),
            ("file_system", "rename") => (EventType::Rename, None),
            ("file_system", "move") => (EventType::Move, None),
            ("file_system", "copy") => (EventType::Copy, None),
            ("file_system", "restore") => (EventType::Restore, None),
            ("note", "create") => (EventType::Add, None),
            _ => (EventType::Update, Some(format!("{etype}/{action}"))),
        };

        // The memory changes only when what is known of the group changes: a group seen again
        // writes nothing (it was one key per file event, about half of a drain's storage cost).
        let object_change = match (&group_id, unmapped.is_some(), fs) {
            (Some(g), false, true) if event_type == EventType::Delete => {
                let was_known = self.known(g)?;
                self.seen.insert(g.clone(), false);
                was_known.then(|| ObjectChange::forget(g.clone()))
            }
            (Some(g), false, true) => {
                let was_known = self.known(g)?;
                self.seen.insert(g.clone(), true);
                (!was_known).then(|| {
                    ObjectChange::set(g.clone(), json!({ "path": target_path, "event": wire.id }))
                })
            }
            _ => None,
        };

        let occurred_at = match wire.timestamp.as_deref().and_then(parse_time) {
            Some(t) => t,
            None => {
                tracing::warn!(
                    source = %self.source,
                    event = wire.id,
                    timestamp = ?wire.timestamp,
                    "Egnyte event without a readable timestamp: using the time it was observed"
                );
                self.observed_at
            }
        };

        let event = Event {
            id: event_id,
            seq: None,
            source: self.source.clone(),
            provider: PROVIDER.to_owned(),
            event_type,
            occurred_at,
            observed_at: self.observed_at,
            object,
            previous: if unmapped.is_some()
                || matches!(
                    event_type,
                    EventType::Rename | EventType::Move | EventType::Copy | EventType::Restore
                ) {
                previous
            } else {
                None
            },
            actor: wire
                .actor
                .clone()
                .filter(|a| !a.is_empty())
                .map(|id| Actor {
                    id,
                    name: None,
                    email: None,
                    via: wire.action_source.clone(),
                }),
            upstream: Upstream {
                id: wire.id.to_string(),
                action,
                raw: (self.keep_raw || unmapped.is_some()).then(|| raw.clone()),
            },
            late: false,
        };
        Ok(Mapped {
            upstream_id: wire.id,
            event,
            object_change,
            unmapped,
        })
    }
}

/// The unified event id of Egnyte event `id` in store epoch `epoch`.
pub fn event_id(id: u64, epoch: u32) -> Result<EventId, tributary_core::IdError> {
    if epoch == 0 {
        EventId::new(id.to_string())
    } else {
        EventId::new(format!("r{epoch}-{id}"))
    }
}

fn at_path(id: String, kind: ObjectKind, path: Option<&str>) -> Object {
    let (name, parent) = match path {
        Some(p) => split(p),
        None => (id.clone(), None),
    };
    let mut o = Object::new(id, kind, name);
    o.path = path.map(str::to_owned);
    o.parent = parent;
    o
}

/// Drops a trailing slash (but keeps the root `/`).
fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// `(last segment, dirname)`: `/Shared/a.txt` → `("a.txt", "/Shared")`, `/Shared` → `("Shared",
/// "/")`, `/` → `("/", None)`.
fn split(path: &str) -> (String, Option<String>) {
    if path == "/" {
        return ("/".to_owned(), None);
    }
    match path.rfind('/') {
        Some(0) => (path[1..].to_owned(), Some("/".to_owned())),
        Some(i) => (path[i + 1..].to_owned(), Some(path[..i].to_owned())),
        None => (path.to_owned(), None),
    }
}

/// Egnyte's `2026-01-05T09:15:10.000Z`, and a few looser spellings: an offset without a colon,
/// no zone at all (read as UTC), a space for the `T`.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = tributary_core::time::parse(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(tributary_core::time::truncate(t.with_timezone(&Utc)));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| tributary_core::time::truncate(n.and_utc()))
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_core::MemoryObjectState;

    const OBSERVED: &str = "2026-01-05T09:17:00.123Z";
    const GROUP: &str = "e3c7a1d0-88b2-4f5e-a0c4-6b2d9e7f1a35";

    fn t(s: &str) -> DateTime<Utc> {
        tributary_core::time::parse(s).unwrap()
    }

    fn source() -> SourceId {
        SourceId::new("egnyte-acme").unwrap()
    }

    fn file(id: &str, path: &str, url: Option<&str>) -> Object {
        let mut o = at_path(id.into(), ObjectKind::File, Some(path));
        o.url = url.map(str::to_owned);
        o
    }

    fn folder(path: &str, url: Option<&str>) -> Object {
        let mut o = at_path(format!("folder:{path}"), ObjectKind::Folder, Some(path));
        o.url = url.map(str::to_owned);
        o
    }

    fn event(
        id: u64,
        event_type: EventType,
        action: &str,
        when: &str,
        object: Object,
        previous: Option<Object>,
        actor: Option<(&str, &str)>,
    ) -> Event {
        Event {
            id: EventId::new(id.to_string()).unwrap(),
            seq: None,
            source: source(),
            provider: "egnyte".into(),
            event_type,
            occurred_at: t(when),
            observed_at: t(OBSERVED),
            object,
            previous,
            actor: actor.map(|(id, via)| Actor {
                id: id.into(),
                name: None,
                email: None,
                via: Some(via.into()),
            }),
            upstream: Upstream {
                id: id.to_string(),
                action: action.into(),
                raw: None,
            },
            late: false,
        }
    }

    fn map_all(memory: &MemoryObjectState, raws: &[Value]) -> Vec<Mapped> {
        let source = source();
        let mut m = Mapper::new(&source, memory, t(OBSERVED), false, 0);
        raws.iter().map(|r| m.map(r).unwrap()).collect()
    }

    /// The notes' §11 example page.
    fn example_page() -> Value {
        serde_json::from_str(include_str!("../tests/fixtures/notes-example-page.json")).unwrap()
    }

    #[test]
    fn maps_the_notes_example_page() {
        let page = example_page();
        let memory = MemoryObjectState::new();
        let mapped = map_all(&memory, page["events"].as_array().unwrap());
        let events: Vec<Event> = mapped.iter().map(|m| m.event.clone()).collect();
        assert_eq!(
            events,
            vec![
                event(
                    70413,
                    EventType::Add,
                    "create",
                    "2026-01-05T09:15:10.000Z",
                    file(
                        GROUP,
                        "/Shared/Plans/Q1 budget.xlsx",
                        Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/Plans/Q1%20budget.xlsx")
                    ),
                    None,
                    Some(("1204", "WebUI")),
                ),
                event(
                    70414,
                    EventType::Rename,
                    "rename",
                    "2026-01-05T09:15:10.000Z",
                    file(
                        GROUP,
                        "/Shared/Plans/Budget Q1.xlsx",
                        Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/Plans/Budget%20Q1.xlsx")
                    ),
                    Some(file(GROUP, "/Shared/Plans/Q1 budget.xlsx", None)),
                    Some(("1204", "WebUI")),
                ),
                event(
                    70415,
                    EventType::Delete,
                    "delete",
                    "2026-01-05T09:16:44.000Z",
                    file(
                        "5a1e0c9b-2f3d-4e6a-8b7c-9d0e1f2a3b4c",
                        "/Shared/Old/notes.txt",
                        None
                    ),
                    None,
                    Some(("1187", "SyncEngine")),
                ),
            ]
        );
        // The group is recorded when first seen; the rename of a known group and the delete of
        // one never seen change nothing.
        let changes: Vec<_> = mapped.iter().map(|m| m.object_change.clone()).collect();
        assert_eq!(
            changes,
            vec![
                Some(ObjectChange::set(
                    GROUP,
                    json!({"path": "/Shared/Plans/Q1 budget.xlsx", "event": 70413})
                )),
                None,
                None,
            ]
        );
        assert!(mapped.iter().all(|m| m.unmapped.is_none()));
    }

    fn create(id: u64, version: &str) -> Value {
        json!({"id": id, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1204, "type": "file_system",
               "action": "create", "action_source": "PublicAPI",
               "data": {"target_path": "/Shared/a.txt", "target_id": version,
                        "target_group_id": GROUP, "is_folder": false}})
    }

    #[test]
    fn a_known_group_id_is_a_new_version() {
        let memory = MemoryObjectState::new();
        // Within one page: the second create of the same group is an update.
        let mapped = map_all(&memory, &[create(1, "v1"), create(2, "v2")]);
        assert_eq!(mapped[0].event.event_type, EventType::Add);
        assert_eq!(mapped[1].event.event_type, EventType::Update);
        assert_eq!(mapped[1].event.object, file(GROUP, "/Shared/a.txt", None));
        // Across pages: through the committed memory.
        memory.apply(&[mapped[0].object_change.clone().unwrap()]);
        let next = map_all(&memory, &[create(3, "v3")]);
        assert_eq!(next[0].event.event_type, EventType::Update);
        assert_eq!(next[0].event.upstream.action, "create");
    }

    #[test]
    fn a_deleted_then_recreated_file_is_added_again() {
        let memory = MemoryObjectState::new();
        let delete = json!({"id": 2, "timestamp": "2026-01-05T09:15:11.000Z", "actor": 1, "action": "delete",
                            "type": "file_system",
                            "data": {"target_path": "/Shared/a.txt", "target_group_id": GROUP, "is_folder": false}});
        let mapped = map_all(&memory, &[create(1, "v1"), delete, create(3, "v1")]);
        let types: Vec<_> = mapped.iter().map(|m| m.event.event_type).collect();
        assert_eq!(types, [EventType::Add, EventType::Delete, EventType::Add]);
    }

    #[test]
    fn maps_folder_actions_by_path() {
        let memory = MemoryObjectState::new();
        let raws = [
            // The live test's shape: an API-made folder.
            json!({"id": 10, "timestamp": "2026-01-05T09:00:00.000Z", "actor": 7, "type": "file_system",
                   "action": "create", "action_source": "PublicAPI",
                   "object_detail": "https://acme.egnyte.com/pubapi/v1/fs/Shared/New",
                   "data": {"target_path": "/Shared/New", "is_folder": true, "folder_id": "abc"}}),
            json!({"id": 11, "timestamp": "2026-01-05T09:00:01.000Z", "actor": 7, "type": "file_system",
                   "action": "rename", "action_source": "WebUI",
                   "object_detail": "https://acme.egnyte.com/pubapi/v1/fs/Shared/Newer",
                   "data": {"source_path": "/Shared/New", "target_path": "/Shared/Newer", "is_folder": true}}),
            json!({"id": 12, "timestamp": "2026-01-05T09:00:02.000Z", "actor": 7, "type": "file_system",
                   "action": "move", "action_source": "WebUI",
                   "object_detail": "https://acme.egnyte.com/pubapi/v1/fs/Shared/Archive/Newer",
                   "data": {"source_path": "/Shared/Newer", "target_path": "/Shared/Archive/Newer", "is_folder": true}}),
            json!({"id": 13, "timestamp": "2026-01-05T09:00:03.000Z", "actor": 7, "type": "file_system",
                   "action": "delete", "action_source": "WebUI",
                   "data": {"target_path": "/Shared/Archive/Newer/", "is_folder": true}}),
        ];
        let events: Vec<Event> = map_all(&memory, &raws)
            .into_iter()
            .map(|m| {
                assert_eq!(m.object_change, None, "folders are not remembered");
                m.event
            })
            .collect();
        assert_eq!(
            events,
            vec![
                event(
                    10,
                    EventType::Add,
                    "create",
                    "2026-01-05T09:00:00.000Z",
                    folder(
                        "/Shared/New",
                        Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/New")
                    ),
                    None,
                    Some(("7", "PublicAPI")),
                ),
                event(
                    11,
                    EventType::Rename,
                    "rename",
                    "2026-01-05T09:00:01.000Z",
                    folder(
                        "/Shared/Newer",
                        Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/Newer")
                    ),
                    Some(folder("/Shared/New", None)),
                    Some(("7", "WebUI")),
                ),
                event(
                    12,
                    EventType::Move,
                    "move",
                    "2026-01-05T09:00:02.000Z",
                    folder(
                        "/Shared/Archive/Newer",
                        Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/Archive/Newer")
                    ),
                    Some(folder("/Shared/Newer", None)),
                    Some(("7", "WebUI")),
                ),
                event(
                    13,
                    EventType::Delete,
                    "delete",
                    "2026-01-05T09:00:03.000Z",
                    folder("/Shared/Archive/Newer", None),
                    None,
                    Some(("7", "WebUI")),
                ),
            ]
        );
    }

    #[test]
    fn a_copy_points_at_its_source() {
        let memory = MemoryObjectState::new();
        let copy = json!({"id": 20, "timestamp": "2026-01-05T09:20:00.000Z", "actor": 3, "type": "file_system",
            "action": "copy", "action_source": "WebUI",
            "object_detail": "https://acme.egnyte.com/pubapi/v1/fs/Shared/Board/b.txt",
            "data": {"target_path": "/Shared/Board/b.txt", "target_id": "v-new", "target_group_id": "g-new",
                     "source_path": "/Shared/a.txt", "source_id": "v-old", "source_group_id": "g-old",
                     "is_folder": false}});
        let folder_copy = json!({"id": 21, "timestamp": "2026-01-05T09:20:01.000Z", "actor": 3,
            "type": "file_system", "action": "copy", "action_source": "WebUI",
            "data": {"target_path": "/Shared/Copy", "source_path": "/Shared/Orig", "is_folder": true}});
        let mapped = map_all(&memory, &[copy, folder_copy]);
        assert_eq!(
            mapped[0].event,
            event(
                20,
                EventType::Copy,
                "copy",
                "2026-01-05T09:20:00.000Z",
                file(
                    "g-new",
                    "/Shared/Board/b.txt",
                    Some("https://acme.egnyte.com/pubapi/v1/fs/Shared/Board/b.txt")
                ),
                Some(file("g-old", "/Shared/a.txt", None)),
                Some(("3", "WebUI")),
            )
        );
        assert_eq!(
            mapped[0].object_change,
            Some(ObjectChange::set(
                "g-new",
                json!({"path": "/Shared/Board/b.txt", "event": 20})
            ))
        );
        assert_eq!(mapped[1].event.object, folder("/Shared/Copy", None));
        assert_eq!(mapped[1].event.previous, Some(folder("/Shared/Orig", None)));
    }

    #[test]
    fn maps_file_moves_restores_and_notes() {
        let memory = MemoryObjectState::new();
        let raws = [
            json!({"id": 30, "timestamp": "2026-01-05T09:30:00.000Z", "actor": 3, "type": "file_system",
                   "action": "move", "action_source": "WebUI",
                   "data": {"source_path": "/Shared/a.txt", "target_path": "/Private/a.txt",
                            "source_id": "v1", "target_id": "v1", "target_group_id": "g1", "is_folder": false}}),
            json!({"id": 31, "timestamp": "2026-01-05T09:30:01.000Z", "actor": 3, "type": "file_system",
                   "action": "restore", "action_source": "WebUI",
                   "data": {"target_path": "/Shared/b.txt", "target_group_id": "g2", "is_folder": false}}),
            json!({"id": 32, "timestamp": "2026-01-05T09:30:02.000Z", "actor": 3, "type": "note",
                   "action": "create", "action_source": "WebUI", "data": {"note_id": "n-1"}}),
            json!({"id": 33, "timestamp": "2026-01-05T09:30:03.000Z", "actor": 3, "type": "note",
                   "action": "delete", "action_source": "WebUI", "data": {"note_id": "n-1"}}),
        ];
        let mapped = map_all(&memory, &raws);
        assert_eq!(mapped[0].event.event_type, EventType::Move);
        assert_eq!(mapped[0].event.object, file("g1", "/Private/a.txt", None));
        assert_eq!(
            mapped[0].event.previous,
            Some(file("g1", "/Shared/a.txt", None))
        );
        assert_eq!(mapped[1].event.event_type, EventType::Restore);
        assert_eq!(mapped[1].event.previous, None);
        assert_eq!(
            mapped[1].object_change,
            Some(ObjectChange::set(
                "g2",
                json!({"path": "/Shared/b.txt", "event": 31})
            ))
        );
        let note = Object::new("n-1", ObjectKind::Note, "n-1");
        assert_eq!(
            mapped[2].event,
            event(
                32,
                EventType::Add,
                "create",
                "2026-01-05T09:30:02.000Z",
                note.clone(),
                None,
                Some(("3", "WebUI"))
            )
        );
        assert_eq!(mapped[3].event.event_type, EventType::Delete);
        assert_eq!(mapped[3].event.object, note);
        assert!(mapped[2..].iter().all(|m| m.object_change.is_none()));
    }

    #[test]
    fn unknown_types_and_actions_are_kept_as_unmapped_updates_with_the_raw_event() {
        let memory = MemoryObjectState::new();
        let permission = json!({"id": 40, "timestamp": "2026-01-05T09:40:00.000Z", "actor": 9,
            "type": "permission_change", "action": "permission_change", "action_source": "WebUI",
            "data": {"target_path": "/Shared/Team", "is_folder": true},
            "eventTypeSpecificAttributes": {"changeGroupEvents": [], "groupChange": false,
                "changePermissionEvent": {"changedPermissions": [
                    {"action": "ADD", "entry": {"subject": "/user/12", "priv": "READ"}}]},
                "changeContext": null, "targetFolderId": "f-9"}});
        let lock = json!({"id": 41, "timestamp": "2026-01-05T09:40:01.000Z", "actor": 9,
            "type": "file_system", "action": "lock", "action_source": "WebUI",
            "data": {"target_path": "/Shared/a.txt", "target_group_id": GROUP, "is_folder": false}});
        let mapped = map_all(&memory, &[permission.clone(), lock.clone()]);
        let mut expected = event(
            40,
            EventType::Update,
            "permission_change",
            "2026-01-05T09:40:00.000Z",
            folder("/Shared/Team", None),
            None,
            Some(("9", "WebUI")),
        );
        expected.upstream.raw = Some(permission);
        assert_eq!(mapped[0].event, expected);
        assert_eq!(
            mapped[0].unmapped.as_deref(),
            Some("permission_change/permission_change")
        );
        assert_eq!(mapped[1].event.event_type, EventType::Update);
        assert_eq!(mapped[1].event.upstream.action, "lock");
        assert_eq!(mapped[1].event.upstream.raw, Some(lock));
        assert_eq!(mapped[1].unmapped.as_deref(), Some("file_system/lock"));
        assert_eq!(
            mapped[1].object_change, None,
            "unmapped events change no memory"
        );
    }

    #[test]
    fn reads_lenient_payloads() {
        let memory = MemoryObjectState::new();
        // Text ids, no `type`, no `is_folder`, extra keys, no object_detail, an offset without colon.
        let raw = json!({"id": "50", "timestamp": "2026-01-05T10:40:00.000+0100", "actor": "1204",
            "action": "create", "action_source": "Mobile", "unexpected": [1, 2],
            "data": {"target_path": "/Shared/c.txt", "target_group_id": "g3", "target_id": 99,
                     "new_key": {"x": 1}}});
        let no_actor = json!({"id": 51, "timestamp": "2026-01-05T09:40:01Z", "action": "create",
            "data": {"target_path": "/Shared/Dir", "is_folder": "true"}});
        let no_time = json!({"id": 52, "action": "delete", "data": null});
        let mapped = map_all(&memory, &[raw, no_actor, no_time]);
        assert_eq!(
            mapped[0].event,
            event(
                50,
                EventType::Add,
                "create",
                "2026-01-05T09:40:00.000Z",
                file("g3", "/Shared/c.txt", None),
                None,
                Some(("1204", "Mobile"))
            )
        );
        assert_eq!(mapped[1].event.object, folder("/Shared/Dir", None));
        assert_eq!(mapped[1].event.actor, None);
        assert_eq!(mapped[2].event.event_type, EventType::Delete);
        assert_eq!(mapped[2].event.occurred_at, t(OBSERVED));
        assert_eq!(
            mapped[2].event.object,
            Object::new("event:52", ObjectKind::Folder, "event:52")
        );
    }

    #[test]
    fn keeps_raw_when_asked_and_prefixes_ids_after_a_reset() {
        let memory = MemoryObjectState::new();
        let source = source();
        let mut m = Mapper::new(&source, &memory, t(OBSERVED), true, 2);
        let raw = create(7, "v1");
        let mapped = m.map(&raw).unwrap();
        assert_eq!(mapped.event.id.as_str(), "r2-7");
        assert_eq!(mapped.event.upstream.id, "7");
        assert_eq!(mapped.event.upstream.raw, Some(raw));
    }

    #[test]
    fn refuses_events_without_an_id() {
        let memory = MemoryObjectState::new();
        let source = source();
        let mut m = Mapper::new(&source, &memory, t(OBSERVED), false, 0);
        let err = m.map(&json!({"action": "create"})).unwrap_err().to_string();
        assert!(
            err.starts_with(r#"unreadable Egnyte event {"action":"create"}: missing field `id`"#),
            "{err}"
        );
    }

    #[test]
    fn splits_paths() {
        assert_eq!(
            split("/Shared/a.txt"),
            ("a.txt".into(), Some("/Shared".into()))
        );
        assert_eq!(split("/Shared"), ("Shared".into(), Some("/".into())));
        assert_eq!(split("/"), ("/".into(), None));
        assert_eq!(normalize("/Shared/x/"), "/Shared/x");
        assert_eq!(normalize("/"), "/");
    }
}
