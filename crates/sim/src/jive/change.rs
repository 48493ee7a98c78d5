//! The ground truth: every change the community went through, in order.

use super::community::{ContentId, PlaceId};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happened to a content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    /// A new version: `updated` moves.
    Edit,
    Rename,
    Move,
    /// Gone from `/contents`; a marker is appended to `/deletedObjects/contents`.
    Delete,
    /// Back in `/contents` with a new `updated`; the old marker stays.
    Restore,
    /// A reply or comment: only `lastActivityDate` moves, not `updated`.
    Comment,
}

/// One entry of [`JiveSim::changes`](super::JiveSim::changes) and `GET /_sim/jive/log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// 1, 2, 3, … in the order the changes were made.
    pub seq: u64,
    /// When it happened: the new `updated` (create, edit, rename, move, restore), the marker's
    /// `eventDate` (delete) or the new `lastActivityDate` (comment).
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
    pub content_id: String,
    pub content_type: String,
    /// The subject after the change.
    pub subject: String,
    /// The place URI after the change (`{base}/api/core/v3/places/{placeID}`).
    pub place: String,
    /// Rename only: the subject before.
    pub previous_subject: Option<String>,
    /// Move only: the place URI before.
    pub previous_place: Option<String>,
    /// The item's `published` (for a create: `at` minus the create lag).
    pub published: DateTime<Utc>,
    /// Delete only: the deletion marker's UUID `id`.
    pub marker_id: Option<String>,
    /// The username of who made the change.
    pub by: String,
}

/// A change as stored: places by id, rendered with the base URL when read.
#[derive(Debug, Clone)]
pub(crate) struct Logged {
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
    pub content_id: ContentId,
    pub content_type: String,
    pub subject: String,
    pub place: PlaceId,
    pub previous_subject: Option<String>,
    pub previous_place: Option<PlaceId>,
    pub published: DateTime<Utc>,
    pub marker_id: Option<String>,
    pub by: String,
}

impl Logged {
    pub fn render(&self, seq: u64, base: &str) -> Change {
        let uri = |p: PlaceId| format!("{base}/api/core/v3/places/{p}");
        Change {
            seq,
            at: self.at,
            kind: self.kind,
            content_id: self.content_id.to_string(),
            content_type: self.content_type.clone(),
            subject: self.subject.clone(),
            place: uri(self.place),
            previous_subject: self.previous_subject.clone(),
            previous_place: self.previous_place.map(uri),
            published: self.published,
            marker_id: self.marker_id.clone(),
            by: self.by.clone(),
        }
    }
}
