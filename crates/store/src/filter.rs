//! Which events a reader wants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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

    fn matches_view_but_source(&self, e: &FilterView<'_>) -> bool {
        (self.types.is_empty() || self.types.contains(&e.event_type))
            && self.since.is_none_or(|t| e.occurred_at >= t)
            && self.until.is_none_or(|t| e.occurred_at < t)
            && self.path_prefix.as_deref().is_none_or(|prefix| {
                let under =
                    |o: &PathView<'_>| o.path.as_deref().is_some_and(|p| path_is_under(p, prefix));
                under(&e.object) || e.previous.as_ref().is_some_and(under)
            })
    }

    /// The filter prepared for checking many stored events.
    pub(crate) fn matcher(&self) -> Matcher<'_> {
        let sources = if self.sources.len() > FEW_SOURCES {
            Sources::Many(self.sources.iter().map(SourceId::as_str).collect())
        } else {
            Sources::Few(&self.sources)
        };
        Matcher {
            filter: self,
            empty: self.is_empty(),
            sources_only: self.types.is_empty()
                && self.since.is_none()
                && self.until.is_none()
                && self.path_prefix.is_none(),
            sources,
            source_field: memchr::memmem::Finder::new(SOURCE_FIELD),
        }
    }
}

/// Up to this many sources are compared one by one; more are looked up in a set.
const FEW_SOURCES: usize = 8;

/// How the store writes an event's source: `id`, `seq` and `source` come first.
const SOURCE_FIELD: &[u8] = b",\"source\":\"";

enum Sources<'f> {
    Few(&'f [SourceId]),
    Many(HashSet<&'f str>),
}

impl Sources<'_> {
    /// True when the source is one of them; every source when there are none.
    fn admit(&self, source: &str) -> bool {
        match self {
            Sources::Few([]) => true,
            Sources::Few(few) => few.iter().any(|s| s.as_str() == source),
            Sources::Many(set) => set.contains(source),
        }
    }
}

/// A [`Filter`] prepared once for a read: a filter on sources alone (a tenant's read) finds each
/// event's source by a byte search in its stored JSON instead of parsing it, and many sources are
/// looked up in a set.
pub(crate) struct Matcher<'f> {
    filter: &'f Filter,
    empty: bool,
    sources_only: bool,
    sources: Sources<'f>,
    source_field: memchr::memmem::Finder<'static>,
}

impl Matcher<'_> {
    /// True when the filter looks at sources only (and names at least one).
    pub(crate) fn on_sources_only(&self) -> bool {
        self.sources_only && !self.empty
    }

    /// True when an event of `source` passes the filter's sources.
    pub(crate) fn admits_source(&self, source: &str) -> bool {
        self.sources.admit(source)
    }

    pub(crate) fn matches(&self, json: &[u8]) -> Result<bool, serde_json::Error> {
        if self.empty {
            return Ok(true);
        }
        if self.sources_only
            && let Some(source) = stored_source(json, &self.source_field)
        {
            return Ok(self.sources.admit(source));
        }
        let view: FilterView<'_> = serde_json::from_slice(json)?;
        Ok(self.sources.admit(&view.source) && self.filter.matches_view_but_source(&view))
    }
}

/// The top-level `source` of an event's stored JSON, found without parsing it; `None` when the
/// JSON does not have the shape the store writes (the caller then parses it).
///
/// The store writes `id`, `seq` and `source` first, before any nested object, and `,"` never
/// occurs inside a JSON string (a quote in a string is escaped), so the first `,"source":"` is
/// the event's own field; a source id has no character that JSON escapes.
fn stored_source<'j>(json: &'j [u8], field: &memchr::memmem::Finder<'_>) -> Option<&'j str> {
    let at = field.find(json)?;
    let rest = &json[at + SOURCE_FIELD.len()..];
    let end = memchr::memchr(b'"', rest)?;
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
        let finder = memchr::memmem::Finder::new(SOURCE_FIELD);
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
            assert_eq!(stored_source(&json, &finder), Some("egnyte-acme"), "{id}");
            assert!(only("egnyte-acme").matcher().matches(&json).unwrap());
            assert!(!only("evil").matcher().matches(&json).unwrap());
        }
        // Another shape is parsed; no source at all is none.
        assert_eq!(stored_source(br#"{"source":"a1","id":"e"}"#, &finder), None);
        assert_eq!(stored_source(br#"{"id":"e"}"#, &finder), None);
    }

    #[test]
    fn many_sources_are_matched_as_a_set_with_or_without_parsing() {
        let sources: Vec<SourceId> = (0..20)
            .map(|i| SourceId::new(format!("s{i}")).unwrap())
            .collect();
        let json = |source: &str, kind: &str| {
            format!(
                r#"{{"id":"e","seq":1,"source":"{source}","type":"{kind}","occurred_at":"2026-01-01T00:00:00.000Z","object":{{"path":"/a"}}}}"#
            )
        };
        let by_source = Filter {
            sources: sources.clone(),
            ..Filter::default()
        };
        let by_source_and_type = Filter {
            sources,
            types: vec![EventType::Add],
            ..Filter::default()
        };
        for (filter, parsed) in [(&by_source, false), (&by_source_and_type, true)] {
            let m = filter.matcher();
            assert!(matches!(m.sources, Sources::Many(_)));
            assert_eq!(m.sources_only, !parsed);
            assert!(m.matches(json("s0", "add").as_bytes()).unwrap());
            assert!(m.matches(json("s19", "add").as_bytes()).unwrap());
            assert!(!m.matches(json("s20", "add").as_bytes()).unwrap());
            assert!(!m.matches(json("s", "add").as_bytes()).unwrap());
            assert_eq!(m.matches(json("s7", "delete").as_bytes()).unwrap(), !parsed);
        }
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
        assert!(f("/A").matcher().matches(json).unwrap());
        assert!(f("/B").matcher().matches(json).unwrap());
        assert!(!f("/C").matcher().matches(json).unwrap());
    }
}
