//! A resource's URL with placeholders for the window's bounds.
//!
//! - `${gmtDate:PATTERN}`: the window's start (`after`), written in UTC: Cloud Elements' spelling
//!   (`/hubs/crm/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'`), where it
//!   is the time of the last poll.
//! - `${after:PATTERN}`, `${before:PATTERN}`: the window's start and end, written in the
//!   resource's `url_timezone` (UTC by default).
//!
//! PATTERN is a [`DateFormat`] (a `SimpleDateFormat` pattern, `epoch_seconds`, ...); a `}` inside
//! a quoted literal does not end it. The written value is percent-encoded (`+0000` → `%2B0000`),
//! so it reaches the server as written whatever the characters.

use crate::pattern::{DateFormat, PatternError};
use chrono::{DateTime, Utc};

/// Why a URL template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown placeholder ${{{name}:…}} at position {position}: use gmtDate, after or before"
    )]
    Unknown { name: String, position: usize },
    #[error("the placeholder at position {position} is not closed with }}")]
    Unclosed { position: usize },
    #[error(
        "the placeholder at position {position} has no pattern (write ${{{name}:yyyy-MM-dd'T'HH:mm:ss'Z'}})"
    )]
    NoPattern { name: String, position: usize },
    #[error("the pattern of the placeholder at position {position}: {source}")]
    Pattern {
        position: usize,
        #[source]
        source: PatternError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    After,
    Before,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Date { bound: Bound, format: DateFormat },
}

/// A parsed URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Parses `template`; `${after}` and `${before}` are written in `zone` (`None`: UTC).
    pub fn parse(template: &str, zone: Option<&str>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(at) = rest.find("${") {
            text.push_str(&rest[..at]);
            let position = offset + at;
            let body = &rest[at + 2..];
            let end = closing_brace(body).ok_or(TemplateError::Unclosed { position })?;
            let inner = &body[..end];
            let (name, pattern) = inner.split_once(':').unwrap_or((inner, ""));
            let (bound, zone) = match name {
                "gmtDate" => (Bound::After, None),
                "after" => (Bound::After, zone),
                "before" => (Bound::Before, zone),
                _ => {
                    return Err(TemplateError::Unknown {
                        name: name.to_owned(),
                        position,
                    });
                }
            };
            if pattern.is_empty() {
                return Err(TemplateError::NoPattern {
                    name: name.to_owned(),
                    position,
                });
            }
            let format = DateFormat::new(pattern, zone)
                .map_err(|source| TemplateError::Pattern { position, source })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Date { bound, format });
            let consumed = at + 2 + end + 1;
            rest = &rest[consumed..];
            offset += consumed;
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// The URL for the window `(after, before]`.
    pub fn render(&self, after: DateTime<Utc>, before: DateTime<Utc>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(s) => out.push_str(s),
                Part::Date { bound, format } => {
                    let t = match bound {
                        Bound::After => after,
                        Bound::Before => before,
                    };
                    percent_encode(&mut out, &format.format(t));
                }
            }
        }
        out
    }

    /// The coarsest unit a placeholder writes, in ms (1 without placeholders): windows are
    /// aligned to it, so that a bound written in the URL is the bound itself.
    pub fn precision_ms(&self) -> i64 {
        self.formats().map(|f| f.precision_ms()).max().unwrap_or(1)
    }

    /// The formats of the placeholders, in order.
    fn formats(&self) -> impl Iterator<Item = &DateFormat> {
        self.parts.iter().filter_map(|p| match p {
            Part::Date { format, .. } => Some(format),
            Part::Text(_) => None,
        })
    }

    /// Whether the window's end is in the URL (else the server answers up to now, and what is
    /// after the window is left for the next).
    pub fn has_before(&self) -> bool {
        self.parts.iter().any(|p| {
            matches!(
                p,
                Part::Date {
                    bound: Bound::Before,
                    ..
                }
            )
        })
    }

    /// The offset (seconds east of UTC) windows are aligned in: the first placeholder's zone.
    pub fn zone_seconds(&self) -> i32 {
        self.formats()
            .next()
            .map_or(0, |f| f.zone().local_minus_utc())
    }
}

/// The index of the `}` that closes a placeholder, skipping quoted literals.
fn closing_brace(body: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in body.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn percent_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cloud_elements_placeholder_writes_the_window_start_in_utc() {
        let u = UrlTemplate::parse(
            "/hubs/crm/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            Some("+02:00"),
        )
        .unwrap();
        assert_eq!(
            u.render(t("2024-05-01T09:15:02Z"), t("2024-05-01T10:00:00Z")),
            "/hubs/crm/contacts?where=lastUpdated>'2024-05-01T09:15:02Z'"
        );
        assert_eq!(u.precision_ms(), 1000);
        assert!(!u.has_before());
    }

    #[test]
    fn both_bounds_are_written_in_the_zone_and_encoded() {
        let u = UrlTemplate::parse(
            "/c?filter=modificationDate(${before:yyyy-MM-dd'T'HH:mm:ss.SSSZ},${after:yyyy-MM-dd'T'HH:mm:ss.SSSZ})&q=${after:yyyy-MM-dd HH:mm}",
            None,
        )
        .unwrap();
        assert_eq!(
            u.render(t("2024-05-01T09:15:00Z"), t("2024-05-01T10:00:00.250Z")),
            "/c?filter=modificationDate(2024-05-01T10:00:00.250%2B0000,2024-05-01T09:15:00.000%2B0000)&q=2024-05-01%2009:15"
        );
        assert_eq!(u.precision_ms(), 60_000);
        assert!(u.has_before());
    }

    #[test]
    fn bad_placeholders_are_refused_with_their_position() {
        for (template, message) in [
            (
                "/x?since=${now:yyyy}",
                "unknown placeholder ${now:…} at position 9: use gmtDate, after or before",
            ),
            (
                "/x?since=${after:yyyy",
                "the placeholder at position 9 is not closed with }",
            ),
            (
                "/x?since=${after}",
                "the placeholder at position 9 has no pattern (write ${after:yyyy-MM-dd'T'HH:mm:ss'Z'})",
            ),
            (
                "/x?since=${after:yyyy-Q}",
                "the pattern of the placeholder at position 9: unsupported letter 'Q' at position 5",
            ),
        ] {
            assert_eq!(
                UrlTemplate::parse(template, None).unwrap_err().to_string(),
                message
            );
        }
    }
}
