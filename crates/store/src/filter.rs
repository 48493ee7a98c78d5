//! Which events a reader wants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{EventType, SourceId};

/// A reader's filter. Empty lists and `None` match everything; the parts are and-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Events from any of these sources of the reader's tenant (their current incarnations).
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

/// The fields of a stored event a filter looks at (beside its source, which the store keeps
/// beside the JSON), borrowed from its JSON.
#[derive(Deserialize)]
pub(crate) struct FilterView<'a> {
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

    fn matches_view(&self, e: &FilterView<'_>) -> bool {
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
        Matcher {
            filter: self,
            sources_only: self.types.is_empty()
                && self.since.is_none()
                && self.until.is_none()
                && self.path_prefix.is_none(),
        }
    }
}

/// A [`Filter`] prepared once for a read: its conditions beside the sources, which the store
/// checks by the incarnation it keeps with each entry.
pub(crate) struct Matcher<'f> {
    filter: &'f Filter,
    sources_only: bool,
}

impl Matcher<'_> {
    /// True when the filter has no condition but (maybe) sources: no entry's JSON need be read.
    pub(crate) fn on_sources_only_or_nothing(&self) -> bool {
        self.sources_only
    }

    /// True when the event's JSON passes the filter's conditions other than its sources.
    pub(crate) fn matches(&self, json: &[u8]) -> Result<bool, serde_json::Error> {
        if self.sources_only {
            return Ok(true);
        }
        let view: FilterView<'_> = serde_json::from_slice(json)?;
        Ok(self.filter.matches_view(&view))
    }
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
