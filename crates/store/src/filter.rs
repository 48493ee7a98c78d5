//! Which events a reader wants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{EventType, SourceId};

/// A reader's filter. Empty lists and `None` match everything; the parts are and-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Events from any of these sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceId>,
    /// Events of any of these types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<EventType>,
    /// Events whose object, or previous object, lies at or under this path. Matching is by whole
    /// path segments: `/Shared/A` matches `/Shared/A` and `/Shared/A/b.txt`, not `/Shared/AB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Events that occurred at or after this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "tributary_core::time::millis_opt"
    )]
    pub since: Option<DateTime<Utc>>,
    /// Events that occurred before this time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "tributary_core::time::millis_opt"
    )]
    pub until: Option<DateTime<Utc>>,
}

/// The fields of a stored event a filter looks at, borrowed from its JSON.
#[derive(Deserialize)]
pub(crate) struct FilterView<'a> {
    #[serde(borrow)]
    source: std::borrow::Cow<'a, str>,
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(with = "tributary_core::time::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(borrow)]
    object: PathView<'a>,
    #[serde(borrow, default)]
    previous: Option<PathView<'a>>,
}

#[derive(Deserialize)]
struct PathView<'a> {
    #[serde(borrow, default)]
    path: Option<std::borrow::Cow<'a, str>>,
}

impl Filter {
    /// True when the filter matches everything.
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    pub(crate) fn matches_view(&self, e: &FilterView<'_>) -> bool {
        (self.sources.is_empty() || self.sources.iter().any(|s| s.as_str() == e.source))
            && (self.types.is_empty() || self.types.contains(&e.event_type))
            && self.since.is_none_or(|t| e.occurred_at >= t)
            && self.until.is_none_or(|t| e.occurred_at < t)
            && self.path_prefix.as_deref().is_none_or(|prefix| {
                let under =
                    |o: &PathView<'_>| o.path.as_deref().is_some_and(|p| path_is_under(p, prefix));
                under(&e.object) || e.previous.as_ref().is_some_and(under)
            })
    }

    /// Checks the filter against an event's stored JSON. A filter on sources alone (a tenant's
    /// read) finds the source by a byte search instead of parsing the event.
    pub(crate) fn matches_json(&self, json: &[u8]) -> Result<bool, serde_json::Error> {
        if self.is_empty() {
            return Ok(true);
        }
        let sources_only = self.types.is_empty()
            && self.since.is_none()
            && self.until.is_none()
            && self.path_prefix.is_none();
        if sources_only && let Some(source) = stored_source(json) {
            return Ok(self.sources.iter().any(|s| s.as_str() == source));
        }
        Ok(self.matches_view(&serde_json::from_slice(json)?))
    }
}

/// The top-level `source` of an event's stored JSON, found without parsing it; `None` when the
/// JSON does not have the shape the store writes (the caller then parses it).
///
/// The store writes `id`, `seq` and `source` first, before any nested object, and `,"` never
/// occurs inside a JSON string (a quote in a string is escaped), so the first `,"source":"` is
/// the event's own field; a source id has no character that JSON escapes.
fn stored_source(json: &[u8]) -> Option<&str> {
    const FIELD: &[u8] = b",\"source\":\"";
    let at = json.windows(FIELD.len()).position(|w| w == FIELD)?;
    let rest = &json[at + FIELD.len()..];
    let end = rest.iter().position(|&b| b == b'"')?;
    let value = std::str::from_utf8(&rest[..end]).ok()?;
    (!value.contains('\\')).then_some(value)
}

fn path_is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tributary_core::{Event, EventId, Object, ObjectKind, Seq, SourceId, Upstream};

    #[test]
    fn the_source_of_stored_json_is_found_without_parsing_and_cannot_be_spoofed() {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let only = |source: &str| Filter {
            sources: vec![SourceId::new(source).unwrap()],
            ..Filter::default()
        };
        // Ids and payloads that spell out another `source` field.
        for id in ["e1", r#"x","source":"evil"#, r#"x\",\"source\":\"evil"#] {
            let event = Event {
                id: EventId::new(id).unwrap(),
                seq: Some(Seq(7)),
                source: SourceId::new("egnyte-acme").unwrap(),
                provider: "egnyte".into(),
                event_type: EventType::Add,
                occurred_at: at,
                observed_at: at,
                object: Object::new(r#"o","source":"evil"#, ObjectKind::File, "f"),
                previous: None,
                actor: None,
                upstream: Upstream {
                    id: "u".into(),
                    action: "create".into(),
                    raw: Some(serde_json::json!({"source": "evil"})),
                },
                late: false,
            };
            let json = serde_json::to_vec(&event).unwrap();
            assert_eq!(stored_source(&json), Some("egnyte-acme"), "{id}");
            assert!(only("egnyte-acme").matches_json(&json).unwrap());
            assert!(!only("evil").matches_json(&json).unwrap());
        }
        // Another shape is parsed; no source at all is none.
        assert_eq!(stored_source(br#"{"source":"a1","id":"e"}"#), None);
        assert_eq!(stored_source(br#"{"id":"e"}"#), None);
    }

    #[test]
    fn path_prefix_matches_whole_segments() {
        assert!(path_is_under("/Shared/A", "/Shared/A"));
        assert!(path_is_under("/Shared/A/b.txt", "/Shared/A/"));
        assert!(path_is_under("/Shared/A/b.txt", "/Shared/A"));
        assert!(!path_is_under("/Shared/AB", "/Shared/A"));
        assert!(path_is_under("/anything", "/"));
    }

    #[test]
    fn matches_moves_out_of_the_prefix_by_their_previous_path() {
        let json = br#"{"source":"s","type":"move","occurred_at":"2026-01-01T00:00:00.000Z",
            "object":{"path":"/B/x"},"previous":{"path":"/A/x"}}"#;
        let f = |p: &str| Filter {
            path_prefix: Some(p.into()),
            ..Filter::default()
        };
        assert!(f("/A").matches_json(json).unwrap());
        assert!(f("/B").matches_json(json).unwrap());
        assert!(!f("/C").matches_json(json).unwrap());
    }
}
