//! What goes on the wire: Jive dates, content and deleted-object entities, the `fields` selection,
//! the JSON security prefix and URL encoding of `links`.

use super::community::{Community, Content, Marker, Place};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

/// The JSON security prefix, newline included (notes §4).
pub const PREFIX: &str = "throw 'allowIllegalResourceCall is false.';\n";

/// `2024-05-01T09:15:02.511+0000`: UTC, milliseconds, an offset without a colon.
pub fn format_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parses a date argument: `2024-05-01T09:15:02.511+0000`, `…+00:00`, `2024-05-01T09:15:02Z` or
/// `…02.511Z`. A `+` sent unencoded arrives as a space and does not parse.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(naive) = s.strip_suffix('Z') {
        return NaiveDateTime::parse_from_str(naive, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc());
    }
    None
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as Jive's `links` are
/// (`fields=%40all`, `filter=type%28a%2Cb%29`, `%2B0000`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn place_uri(base: &str, place: &Place) -> String {
    format!("{base}/api/core/v3/places/{}", place.place_id)
}

fn html_path(c: &Content) -> String {
    match c.content_type.as_str() {
        "document" => format!("/docs/DOC-{}", c.id),
        "discussion" => format!("/thread/{}", c.id),
        "file" => format!("/files/{}", c.id),
        "idea" => format!("/ideas/{}", c.id),
        "post" => format!("/blogs/posts/{}", c.id),
        other => format!("/{other}s/{}", c.id),
    }
}

/// A content entity (notes §2.7, §8), every field.
pub fn content(base: &str, community: &Community, c: &Content) -> Value {
    let place = &community.places[c.place];
    let author = &community.people[c.author];
    json!({
        "id": c.id.to_string(),
        "contentID": c.content_id.to_string(),
        "type": c.content_type,
        "subject": c.subject,
        "content": {"text": c.text, "type": "text/html", "editable": false},
        "author": {
            "id": author.id.to_string(),
            "displayName": author.display_name,
            "jive": {"username": author.username},
            "resources": {"self": {"ref": format!("{base}/api/core/v3/people/{}", author.id), "allowed": ["GET"]}},
        },
        "published": format_date(c.published),
        "updated": format_date(c.updated),
        "lastActivityDate": format_date(c.last_activity),
        "status": "published",
        "parentPlace": {
            "id": place.id.to_string(),
            "html": format!("{base}/{}s/{}", place.place_type, place.slug),
            "name": place.name,
            "type": place.place_type,
            "uri": place_uri(base, place),
        },
        "resources": {
            "self": {"ref": format!("{base}/api/core/v3/contents/{}", c.content_id), "allowed": ["GET", "PUT", "DELETE"]},
            "html": {"ref": format!("{base}{}", html_path(c)), "allowed": ["GET"]},
        },
        "followerCount": 1,
        "likeCount": c.like_count,
        "replyCount": c.reply_count,
        "viewCount": c.view_count,
        "tags": c.tags,
        "visibleToExternalContributors": false,
        "parentVisible": true,
        "parentContentVisible": true,
    })
}

/// A `deletedObject` entity (notes §3, §8).
pub fn marker(base: &str, m: &Marker) -> Value {
    json!({
        "id": m.uuid,
        "type": "deletedObject",
        "objectType": m.object_type,
        "objectId": m.content_id.to_string(),
        "url": format!("{base}/api/core/v3/contents/{}", m.content_id),
        "eventDate": format_date(m.event_date),
        "resources": {"self": {"ref": format!("{base}/api/core/v3/deletedObjects/{}", m.uuid), "allowed": ["GET"]}},
    })
}

/// Which fields of an entity to send: `fields=` parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// Dotted paths to keep; empty: every field (`@all` or no `fields`).
    include: Vec<Vec<String>>,
    /// Dotted paths to drop (`-author.resources`).
    exclude: Vec<Vec<String>>,
}

/// Always sent, whatever `fields` says: what the entity is.
const ALWAYS: [&str; 2] = ["id", "type"];

impl Fields {
    pub fn parse(spec: Option<&str>) -> Self {
        let mut out = Self::default();
        for item in spec.unwrap_or("").split(',').map(str::trim) {
            if item.is_empty() || item == "@all" {
                continue;
            }
            if let Some(rest) = item.strip_prefix('-') {
                out.exclude.push(path(rest));
            } else {
                out.include.push(path(item));
            }
        }
        if !out.include.is_empty() {
            for f in ALWAYS {
                out.include.push(vec![f.to_owned()]);
            }
        }
        out
    }

    pub fn apply(&self, value: Value) -> Value {
        let mut value = if self.include.is_empty() {
            value
        } else {
            let mut kept = Value::Object(Map::new());
            for p in &self.include {
                copy_path(&value, &mut kept, p);
            }
            kept
        };
        for p in &self.exclude {
            remove_path(&mut value, p);
        }
        value
    }
}

fn path(s: &str) -> Vec<String> {
    s.split('.').map(str::to_owned).collect()
}

fn copy_path(from: &Value, to: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let (Some(src), Value::Object(dst)) = (from.get(first), to) else {
        return;
    };
    if rest.is_empty() {
        dst.insert(first.clone(), src.clone());
        return;
    }
    if !src.is_object() {
        return;
    }
    let child = dst
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    copy_path(src, child, rest);
}

fn remove_path(value: &mut Value, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            if let Value::Object(m) = value {
                m.remove(last);
            }
        }
        [first, rest @ ..] => {
            if let Some(child) = value.get_mut(first) {
                remove_path(child, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_have_milliseconds_and_an_offset_without_colon() {
        let t = Utc.timestamp_millis_opt(1_714_554_902_511).unwrap();
        assert_eq!(format_date(t), "2024-05-01T09:15:02.511+0000");
        assert_eq!(parse_date("2024-05-01T09:15:02.511+0000"), Some(t));
        assert_eq!(parse_date("2024-05-01T09:15:02.511Z"), Some(t));
        assert_eq!(parse_date("2024-05-01T09:15:02.511+00:00"), Some(t));
        assert_eq!(
            parse_date("2024-05-01T09:15:02Z"),
            Some(Utc.with_ymd_and_hms(2024, 5, 1, 9, 15, 2).unwrap())
        );
        assert_eq!(parse_date("2024-05-01T09:15:02.511 0000"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn fields_keep_listed_paths_plus_id_and_type() {
        let v = json!({"id": "1", "type": "document", "subject": "s", "author": {"id": "2", "resources": {}}, "x": 1});
        assert_eq!(Fields::parse(Some("@all")).apply(v.clone()), v);
        assert_eq!(
            Fields::parse(Some("subject,author.id")).apply(v.clone()),
            json!({"id": "1", "type": "document", "subject": "s", "author": {"id": "2"}})
        );
        assert_eq!(
            Fields::parse(Some("-author.resources,-x")).apply(v),
            json!({"id": "1", "type": "document", "subject": "s", "author": {"id": "2"}})
        );
    }

    #[test]
    fn encoding_matches_jive_links() {
        assert_eq!(encode("@all"), "%40all");
        assert_eq!(
            encode("modificationDate(2024-05-01T10:00:00.000+0000,null)"),
            "modificationDate%282024-05-01T10%3A00%3A00.000%2B0000%2Cnull%29"
        );
    }
}
