//! The community's state: places, people, content and deletion markers, with the indexes the list
//! endpoints read: live content by `(updated, contentID)` and by `(published, contentID)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The first `contentID` handed out. Type-specific `id`s start at [`FIRST_TYPE_ID`], so an item's
/// `id` is always smaller than its `contentID` and never equal to it.
pub(crate) const FIRST_CONTENT_ID: u64 = 10_001;
const FIRST_TYPE_ID: u64 = 1001;
/// `placeID`s (the number in `parentPlace.uri`) start here; the places' own `id`s at 1001.
const FIRST_PLACE_ID: u64 = 1100;

/// A content item's `contentID`: the id behind `/api/core/v3/contents/{contentID}`. On the wire
/// and in JSON it is a string (`"10001"`); the control API also accepts a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentId(pub u64);

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ContentId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(Self)
    }
}

impl From<u64> for ContentId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl Serialize for ContentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(Self(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A place's `placeID`: the number in its `uri` (`…/api/core/v3/places/{placeID}`), not its `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlaceId(pub u64);

impl fmt::Display for PlaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A place as [`JiveSim::places`](super::JiveSim::places) lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaceInfo {
    #[serde(rename = "placeID")]
    pub place_id: PlaceId,
    /// The type-specific id (`parentPlace.id`), different from `place_id`.
    pub id: u64,
    /// `{base}/api/core/v3/places/{placeID}`.
    pub uri: String,
    pub name: String,
    /// `group`, `space` or `project`.
    #[serde(rename = "type")]
    pub place_type: String,
}

/// A content item as it stands, from [`JiveSim::content`](super::JiveSim::content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContentSnapshot {
    pub content_id: ContentId,
    /// The type-specific `id`.
    pub id: u64,
    pub content_type: String,
    pub subject: String,
    pub place: PlaceId,
    pub author: String,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub reply_count: u32,
    /// 1 on create, +1 per edit.
    pub version: u32,
    /// Deleted content is gone from `/contents` until restored.
    pub deleted: bool,
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("no content with contentID {0}")]
    NotFound(ContentId),
    #[error("content {0} is deleted")]
    Deleted(ContentId),
    #[error("content {0} is not deleted")]
    NotDeleted(ContentId),
    #[error("no place with placeID {0}")]
    UnknownPlace(PlaceId),
    #[error("content type must be a non-empty word, got {0:?}")]
    BadType(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub place_id: PlaceId,
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub place_type: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub id: u64,
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub content_id: ContentId,
    pub id: u64,
    pub content_type: String,
    pub subject: String,
    pub text: String,
    pub author: usize,
    pub place: usize,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub reply_count: u32,
    pub like_count: u32,
    pub view_count: u32,
    pub version: u32,
    pub tags: Vec<String>,
    pub deleted: bool,
}

/// One deletion marker of `/deletedObjects/contents`.
#[derive(Debug, Clone)]
pub(crate) struct Marker {
    /// Order of creation: ties on `event_date` are broken by it.
    pub seq: u64,
    pub uuid: String,
    pub content_id: ContentId,
    pub object_type: String,
    pub event_date: DateTime<Utc>,
}

/// Index key: milliseconds since the epoch, then the contentID.
pub(crate) type Key = (i64, u64);

#[derive(Debug)]
pub(crate) struct Community {
    pub places: Vec<Place>,
    pub people: Vec<Person>,
    /// Every item ever created, indexed by `contentID - FIRST_CONTENT_ID`.
    pub contents: Vec<Content>,
    pub markers: Vec<Marker>,
    /// Live content by `(updated, contentID)`.
    pub by_updated: BTreeSet<Key>,
    /// Live content by `(published, contentID)`.
    pub by_published: BTreeSet<Key>,
    /// Deleted contentIDs, for the workload's restores.
    pub deleted: Vec<ContentId>,
    /// Next type-specific id per type name.
    type_ids: Vec<(String, u64)>,
}

const PLACE_TYPES: [&str; 3] = ["group", "space", "project"];
const PLACE_NAMES: [&str; 12] = [
    "Ops",
    "Engineering",
    "Sales",
    "Marketing",
    "Support",
    "Finance",
    "Legal",
    "HR",
    "Design",
    "Research",
    "Partners",
    "Announcements",
];
const PEOPLE: [(&str, &str); 6] = [
    ("alice", "Alice Martin"),
    ("bob", "Bob Okafor"),
    ("carol", "Carol Nguyễn"),
    ("dave", "Dave Schmidt"),
    ("erin", "Erin O'Brien"),
    ("frank", "Frank Müller"),
];

impl Community {
    pub fn new(places: usize) -> Self {
        let places = (0..places.max(1))
            .map(|i| {
                let base = PLACE_NAMES[i % PLACE_NAMES.len()];
                let name = if i < PLACE_NAMES.len() {
                    base.to_owned()
                } else {
                    format!("{base} {}", i / PLACE_NAMES.len() + 1)
                };
                let n = i as u64;
                Place {
                    place_id: PlaceId(FIRST_PLACE_ID + n),
                    id: FIRST_TYPE_ID + n,
                    slug: name.to_lowercase().replace(' ', "-"),
                    name,
                    place_type: PLACE_TYPES[i % PLACE_TYPES.len()],
                }
            })
            .collect();
        let people = PEOPLE
            .iter()
            .zip(2001..)
            .map(|((username, display), id)| Person {
                id,
                username: (*username).to_owned(),
                display_name: (*display).to_owned(),
            })
            .collect();
        Self {
            places,
            people,
            contents: Vec::new(),
            markers: Vec::new(),
            by_updated: BTreeSet::new(),
            by_published: BTreeSet::new(),
            deleted: Vec::new(),
            type_ids: Vec::new(),
        }
    }

    pub fn place_index(&self, id: PlaceId) -> Result<usize, OpError> {
        self.places
            .iter()
            .position(|p| p.place_id == id)
            .ok_or(OpError::UnknownPlace(id))
    }

    pub fn get(&self, id: ContentId) -> Result<&Content, OpError> {
        id.0.checked_sub(FIRST_CONTENT_ID)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.contents.get(i))
            .ok_or(OpError::NotFound(id))
    }

    fn get_mut(&mut self, id: ContentId) -> Result<&mut Content, OpError> {
        id.0.checked_sub(FIRST_CONTENT_ID)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.contents.get_mut(i))
            .ok_or(OpError::NotFound(id))
    }

    /// A live item, for changing it.
    pub fn live_mut(&mut self, id: ContentId) -> Result<&mut Content, OpError> {
        let c = self.get_mut(id)?;
        if c.deleted {
            return Err(OpError::Deleted(id));
        }
        Ok(c)
    }

    pub fn live_count(&self) -> usize {
        self.by_updated.len()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        content_type: &str,
        subject: &str,
        text: String,
        place: usize,
        author: usize,
        published: DateTime<Utc>,
        updated: DateTime<Utc>,
        tags: Vec<String>,
    ) -> Result<ContentId, OpError> {
        if content_type.is_empty()
            || !content_type
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(OpError::BadType(content_type.to_owned()));
        }
        let content_id = ContentId(FIRST_CONTENT_ID + self.contents.len() as u64);
        let id = match self.type_ids.iter_mut().find(|(t, _)| t == content_type) {
            Some((_, next)) => {
                *next += 1;
                *next - 1
            }
            None => {
                self.type_ids
                    .push((content_type.to_owned(), FIRST_TYPE_ID + 1));
                FIRST_TYPE_ID
            }
        };
        self.contents.push(Content {
            content_id,
            id,
            content_type: content_type.to_owned(),
            subject: subject.to_owned(),
            text,
            author,
            place,
            published,
            updated,
            last_activity: updated,
            reply_count: 0,
            like_count: 0,
            view_count: 0,
            version: 1,
            tags,
            deleted: false,
        });
        self.by_updated
            .insert((updated.timestamp_millis(), content_id.0));
        self.by_published
            .insert((published.timestamp_millis(), content_id.0));
        Ok(content_id)
    }

    /// Sets `updated` (and the latest activity) of a live item, keeping the index in step.
    pub fn touch(&mut self, id: ContentId, at: DateTime<Utc>) -> Result<&mut Content, OpError> {
        let c = self.live_mut(id)?;
        let old = c.updated.timestamp_millis();
        c.updated = at;
        c.last_activity = c.last_activity.max(at);
        self.by_updated.remove(&(old, id.0));
        self.by_updated.insert((at.timestamp_millis(), id.0));
        self.live_mut(id)
    }

    pub fn delete(&mut self, id: ContentId, marker: Marker) -> Result<&Content, OpError> {
        let c = self.live_mut(id)?;
        c.deleted = true;
        let keys = (
            (c.updated.timestamp_millis(), id.0),
            (c.published.timestamp_millis(), id.0),
        );
        self.by_updated.remove(&keys.0);
        self.by_published.remove(&keys.1);
        self.markers.push(marker);
        self.deleted.push(id);
        self.get(id)
    }

    pub fn restore(&mut self, id: ContentId, at: DateTime<Utc>) -> Result<&Content, OpError> {
        let c = self.get_mut(id)?;
        if !c.deleted {
            return Err(OpError::NotDeleted(id));
        }
        c.deleted = false;
        c.updated = at;
        c.last_activity = c.last_activity.max(at);
        let published = c.published.timestamp_millis();
        self.by_updated.insert((at.timestamp_millis(), id.0));
        self.by_published.insert((published, id.0));
        self.deleted.retain(|d| *d != id);
        self.get(id)
    }

    pub fn snapshot(&self, c: &Content) -> ContentSnapshot {
        ContentSnapshot {
            content_id: c.content_id,
            id: c.id,
            content_type: c.content_type.clone(),
            subject: c.subject.clone(),
            place: self.places[c.place].place_id,
            author: self.people[c.author].username.clone(),
            published: c.published,
            updated: c.updated,
            last_activity: c.last_activity,
            reply_count: c.reply_count,
            version: c.version,
            deleted: c.deleted,
        }
    }

    /// Whether `name` is a username of the community's people.
    pub fn person_index(&self, username: &str) -> Option<usize> {
        self.people.iter().position(|p| p.username == username)
    }
}
