//! One event as the simulator keeps it and as Egnyte sends it on the wire.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The wire `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    FileSystem,
    Note,
    /// v2 only: never returned by `/pubapi/v1/events`.
    PermissionChange,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FileSystem => "file_system",
            Self::Note => "note",
            Self::PermissionChange => "permission_change",
        }
    }

    /// Parses one value of the `type` query parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file_system" => Some(Self::FileSystem),
            "note" => Some(Self::Note),
            "permission_change" => Some(Self::PermissionChange),
            _ => None,
        }
    }
}

/// The wire `action` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Delete,
    Rename,
    Move,
    Copy,
    Restore,
    PermissionChange,
}

/// The wire `action_source`: where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionSource {
    WebUI,
    SyncEngine,
    Mobile,
    PublicAPI,
    System,
}

/// Who performs an operation: the user (the event's `actor`), where from, and through which API
/// client. Only `PublicAPI` actions carry a `client_id`, so only they can be suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorSpec {
    pub user: i64,
    pub source: ActionSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl ActorSpec {
    /// `user` acting through the public API with the key `client_id`.
    pub fn api(user: i64, client_id: impl Into<String>) -> Self {
        Self {
            user,
            source: ActionSource::PublicAPI,
            client_id: Some(client_id.into()),
        }
    }

    /// `user` acting in the web UI.
    pub fn web(user: i64) -> Self {
        Self {
            user,
            source: ActionSource::WebUI,
            client_id: None,
        }
    }

    /// `user` acting through the desktop sync client.
    pub fn desktop(user: i64) -> Self {
        Self {
            user,
            source: ActionSource::SyncEngine,
            client_id: None,
        }
    }

    /// `user` acting in the mobile app.
    pub fn mobile(user: i64) -> Self {
        Self {
            user,
            source: ActionSource::Mobile,
            client_id: None,
        }
    }
}

/// The wire `data` object: which fields are present depends on the action (protocol notes §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_folder: Option<bool>,
}

/// An event exactly as `/pubapi/v{1,2}/events` serializes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    pub id: i64,
    pub timestamp: String,
    pub actor: i64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub action: Action,
    pub action_source: ActionSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_detail: Option<String>,
    pub data: EventData,
    /// Only on `permission_change` events (v2).
    #[serde(
        rename = "eventTypeSpecificAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub type_specific: Option<serde_json::Value>,
}

/// An event with what the wire does not show: the API client that caused it and the log's epoch
/// (which increases at every id reset).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedEvent {
    #[serde(flatten)]
    pub wire: WireEvent,
    #[serde(skip)]
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub client_id: Option<String>,
    #[serde(skip)]
    pub epoch: u32,
}

impl LoggedEvent {
    pub fn id(&self) -> i64 {
        self.wire.id
    }

    /// The paths a `folder` filter matches against: the target, and the source of a rename, move
    /// or copy.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        let data = &self.wire.data;
        data.target_path
            .iter()
            .chain(data.source_path.iter())
            .map(String::as_str)
    }
}

/// What an operation on the tree produces, before the log gives it an id and a time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub kind: EventKind,
    pub action: Action,
    pub object_detail: Option<String>,
    pub data: EventData,
    pub type_specific: Option<serde_json::Value>,
}

/// Egnyte's timestamp format: UTC, whole seconds, `.000Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    let secs = t.timestamp();
    let whole = DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(t);
    whole.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{base}/pubapi/v1/fs{path}` with the path percent-encoded segment by segment.
pub fn fs_url(base: &str, path: &str) -> String {
    format!("{base}/pubapi/v1/fs{}", encode_path(path))
}

/// Percent-encodes every byte but the unreserved characters (RFC 3986) and `/`.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_paths_like_the_fs_api() {
        assert_eq!(
            fs_url(
                "https://acme.egnyte.com",
                "/Shared/Egnyte Reports/R&D ü.txt"
            ),
            "https://acme.egnyte.com/pubapi/v1/fs/Shared/Egnyte%20Reports/R%26D%20%C3%BC.txt"
        );
    }

    #[test]
    fn timestamps_have_whole_seconds() {
        let t = DateTime::<Utc>::from_timestamp_millis(1_767_604_510_789).unwrap();
        assert_eq!(format_timestamp(t), "2026-01-05T09:15:10.000Z");
    }
}
