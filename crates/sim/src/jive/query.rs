//! The list endpoints' parameters (`filter`, `sort`, `startIndex`, `count`, `fields`), how they
//! select and order content and deletion markers, and the paged envelope with its `links`.

use super::community::{Community, Content, Key, Marker, PlaceId};
use super::wire::{Fields, encode, parse_date};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// `count` when the parameter is absent.
pub const DEFAULT_COUNT: usize = 25;
/// Larger `count`s are clamped to this (and `itemsPerPage` says so).
pub const MAX_COUNT: usize = 100;

/// Why a list request is refused: `400` with Jive's error envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `{"code": "filterInvalid"}`; the payload is the whole expression.
    #[error("Invalid filter expression {0}")]
    Filter(String),
    #[error("Invalid sort value '{0}'; expected one of {1}")]
    Sort(String, &'static str),
    #[error("Invalid value '{1}' for parameter '{0}'; expected a non-negative integer")]
    Number(&'static str, String),
}

impl QueryError {
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::Filter(_) => Some("filterInvalid"),
            Self::Sort(..) => Some("invalidSort"),
            Self::Number(..) => Some("invalidParameter"),
        }
    }
}

/// The raw query string as `(name, value)` pairs, form-decoded, in order.
pub type Params = [(String, String)];

fn get<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `startIndex`, `count` (clamped) and `fields`.
#[derive(Debug, Clone)]
pub struct Paging {
    pub start: usize,
    pub count: usize,
    pub fields: Fields,
}

impl Paging {
    fn parse(params: &Params) -> Result<Self, QueryError> {
        let number = |name: &'static str, default: usize| match get(params, name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| QueryError::Number(name, v.to_owned())),
        };
        let start = number("startIndex", 0)?;
        let count = number("count", DEFAULT_COUNT)?;
        if count == 0 {
            return Err(QueryError::Number("count", "0".to_owned()));
        }
        Ok(Self {
            start,
            count: count.min(MAX_COUNT),
            fields: Fields::parse(get(params, "fields")),
        })
    }
}

/// Splits `name(a,b\,c)` into its name and unescaped arguments; `None` if it is not that shape.
fn expression(expr: &str) -> Option<(&str, Vec<String>)> {
    let open = expr.find('(')?;
    let name = &expr[..open];
    let inner = expr[open + 1..].strip_suffix(')')?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut args = Vec::new();
    let mut current = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next()?),
            ',' => args.push(std::mem::take(&mut current)),
            '(' | ')' => return None,
            c => current.push(c),
        }
    }
    args.push(current);
    Some((name, args))
}

/// `(before, after)` in milliseconds, either open; inclusive.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    before: Option<i64>,
    after: Option<i64>,
}

impl Window {
    fn parse(args: &[String]) -> Option<Self> {
        let [before, after] = args else {
            return None;
        };
        let bound = |s: &str| -> Option<Option<i64>> {
            let s = s.trim();
            if s == "null" {
                Some(None)
            } else {
                parse_date(s).map(|t| Some(t.timestamp_millis()))
            }
        };
        Some(Self {
            before: bound(before)?,
            after: bound(after)?,
        })
    }

    /// Both windows at once (filters are ANDed).
    fn and(self, other: Self) -> Self {
        let pick = |a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64| match (a, b) {
            (Some(x), Some(y)) => Some(f(x, y)),
            (x, y) => x.or(y),
        };
        Self {
            before: pick(self.before, other.before, i64::min),
            after: pick(self.after, other.after, i64::max),
        }
    }

    fn contains(&self, ms: i64) -> bool {
        self.after.is_none_or(|a| ms >= a) && self.before.is_none_or(|b| ms <= b)
    }

    /// The live items of `index` inside the window; none when `after > before`.
    fn range(&self, index: &std::collections::BTreeSet<Key>) -> Vec<u64> {
        let lo = (self.after.unwrap_or(i64::MIN), 0);
        let hi = (self.before.unwrap_or(i64::MAX), u64::MAX);
        if lo > hi {
            return Vec::new();
        }
        index.range(lo..=hi).map(|(_, id)| *id).collect()
    }
}

/// `sort` of `/contents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentSort {
    DateCreatedDesc,
    DateCreatedAsc,
    LatestActivityAsc,
    LatestActivityDesc,
    TitleAsc,
}

const CONTENT_SORTS: &str =
    "dateCreatedDesc, dateCreatedAsc, latestActivityAsc, latestActivityDesc, titleAsc";

impl ContentSort {
    fn parse(s: Option<&str>) -> Result<Self, QueryError> {
        Ok(match s.unwrap_or("dateCreatedDesc") {
            "" | "dateCreatedDesc" => Self::DateCreatedDesc,
            "dateCreatedAsc" => Self::DateCreatedAsc,
            "latestActivityAsc" => Self::LatestActivityAsc,
            "latestActivityDesc" => Self::LatestActivityDesc,
            "titleAsc" => Self::TitleAsc,
            other => return Err(QueryError::Sort(other.to_owned(), CONTENT_SORTS)),
        })
    }

    /// The order without its `contentID` tie-break: `Equal` for items that tie.
    fn key_cmp(self, a: &Content, b: &Content) -> Ordering {
        match self {
            Self::DateCreatedAsc => a.published.cmp(&b.published),
            Self::DateCreatedDesc => b.published.cmp(&a.published),
            Self::LatestActivityAsc => a.last_activity.cmp(&b.last_activity),
            Self::LatestActivityDesc => b.last_activity.cmp(&a.last_activity),
            Self::TitleAsc => a.subject.to_lowercase().cmp(&b.subject.to_lowercase()),
        }
    }

    fn cmp(self, a: &Content, b: &Content) -> Ordering {
        let id = a.content_id.cmp(&b.content_id);
        match self {
            Self::DateCreatedAsc => a.published.cmp(&b.published).then(id),
            Self::DateCreatedDesc => b.published.cmp(&a.published).then(id.reverse()),
            Self::LatestActivityAsc => a.last_activity.cmp(&b.last_activity).then(id),
            Self::LatestActivityDesc => b.last_activity.cmp(&a.last_activity).then(id.reverse()),
            Self::TitleAsc => a
                .subject
                .to_lowercase()
                .cmp(&b.subject.to_lowercase())
                .then(id),
        }
    }
}

/// A parsed `GET /contents`.
#[derive(Debug, Clone)]
pub struct ContentQuery {
    modified: Option<Window>,
    created: Option<Window>,
    types: Option<Vec<String>>,
    places: Vec<PlaceId>,
    authors: Option<Vec<u64>>,
    pub sort: ContentSort,
    pub paging: Paging,
}

/// The number at the end of `…/places/N` or `…/people/N` (absolute or partial URI).
fn trailing_id(arg: &str, collection: &str) -> Option<u64> {
    let (_, rest) = arg.trim().rsplit_once(&format!("/{collection}/"))?;
    rest.trim_end_matches('/').parse().ok()
}

impl ContentQuery {
    pub fn parse(params: &Params) -> Result<Self, QueryError> {
        let mut q = Self {
            modified: None,
            created: None,
            types: None,
            places: Vec::new(),
            authors: None,
            sort: ContentSort::parse(get(params, "sort"))?,
            paging: Paging::parse(params)?,
        };
        for (_, expr) in params.iter().filter(|(k, _)| k == "filter") {
            let invalid = || QueryError::Filter(expr.clone());
            let (name, args) = expression(expr).ok_or_else(invalid)?;
            match name {
                "modificationDate" | "creationDate" => {
                    let w = Window::parse(&args).ok_or_else(invalid)?;
                    let slot = if name == "modificationDate" {
                        &mut q.modified
                    } else {
                        &mut q.created
                    };
                    *slot = Some(slot.map_or(w, |old| old.and(w)));
                }
                "type" => {
                    let types: Vec<String> = args.iter().map(|a| a.trim().to_owned()).collect();
                    if types.iter().any(String::is_empty) {
                        return Err(invalid());
                    }
                    q.types = Some(match q.types.take() {
                        None => types,
                        Some(old) => old.into_iter().filter(|t| types.contains(t)).collect(),
                    });
                }
                "place" => {
                    let [arg] = args.as_slice() else {
                        return Err(invalid());
                    };
                    q.places
                        .push(PlaceId(trailing_id(arg, "places").ok_or_else(invalid)?));
                }
                "author" => {
                    let ids = args
                        .iter()
                        .map(|a| trailing_id(a, "people"))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(invalid)?;
                    q.authors = Some(ids);
                }
                "status" => {
                    if args.iter().any(|a| a.trim() != "published") {
                        // Only published content exists here: any other status matches nothing.
                        q.types = Some(Vec::new());
                    }
                }
                _ => return Err(invalid()),
            }
        }
        Ok(q)
    }

    fn matches(&self, community: &Community, c: &Content) -> bool {
        self.modified
            .is_none_or(|w| w.contains(c.updated.timestamp_millis()))
            && self
                .created
                .is_none_or(|w| w.contains(c.published.timestamp_millis()))
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(&c.content_type))
            && self
                .places
                .iter()
                .all(|p| community.places[c.place].place_id == *p)
            && self
                .authors
                .as_ref()
                .is_none_or(|a| a.contains(&community.people[c.author].id))
    }

    /// The page `paging` asks for, and whether more matching items follow it. With `ties`, items
    /// that tie on the sort key are shuffled with that seed (filtered queries; the unfiltered
    /// `dateCreated*` walk keeps `contentID` order).
    pub fn run<'a>(&self, community: &'a Community, ties: Option<u64>) -> (Vec<&'a Content>, bool) {
        let Paging { start, count, .. } = self.paging;
        let lookup = |id: u64| community.get(super::community::ContentId(id)).ok();
        let candidates: Vec<u64> = match (self.modified, self.created) {
            (Some(w), _) => w.range(&community.by_updated),
            (None, Some(w)) => w.range(&community.by_published),
            (None, None) => {
                let ordered = match self.sort {
                    ContentSort::DateCreatedAsc => Some(false),
                    ContentSort::DateCreatedDesc => Some(true),
                    _ => None,
                };
                if let Some(desc) = ordered {
                    // Already in order: walk the index, stop one past the page.
                    let iter: Box<dyn Iterator<Item = &Key>> = if desc {
                        Box::new(community.by_published.iter().rev())
                    } else {
                        Box::new(community.by_published.iter())
                    };
                    let mut page: Vec<&Content> = iter
                        .filter_map(|(_, id)| lookup(*id))
                        .filter(|c| self.matches(community, c))
                        .skip(start)
                        .take(count + 1)
                        .collect();
                    let more = page.len() > count;
                    page.truncate(count);
                    return (page, more);
                }
                community.by_updated.iter().map(|(_, id)| *id).collect()
            }
        };
        let mut matched: Vec<&Content> = candidates
            .into_iter()
            .filter_map(lookup)
            .filter(|c| self.matches(community, c))
            .collect();
        matched.sort_by(|a, b| self.sort.cmp(a, b));
        if let Some(seed) = ties {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut from = 0;
            while from < matched.len() {
                let tied = matched[from..]
                    .iter()
                    .take_while(|c| self.sort.key_cmp(c, matched[from]) == Ordering::Equal)
                    .count();
                rng.shuffle(&mut matched[from..from + tied]);
                from += tied;
            }
        }
        let more = matched.len() > start.saturating_add(count);
        let page = matched.into_iter().skip(start).take(count).collect();
        (page, more)
    }
}

/// A parsed `GET /deletedObjects/contents`.
#[derive(Debug, Clone)]
pub struct DeletedQuery {
    since: Option<i64>,
    types: Option<Vec<String>>,
    ascending: bool,
    pub paging: Paging,
}

impl DeletedQuery {
    pub fn parse(params: &Params) -> Result<Self, QueryError> {
        let ascending = match get(params, "sort") {
            None | Some("" | "eventDateDesc") => false,
            Some("eventDateAsc") => true,
            Some(other) => {
                return Err(QueryError::Sort(
                    other.to_owned(),
                    "eventDateAsc, eventDateDesc",
                ));
            }
        };
        let mut q = Self {
            since: None,
            types: None,
            ascending,
            paging: Paging::parse(params)?,
        };
        for (_, expr) in params.iter().filter(|(k, _)| k == "filter") {
            let invalid = || QueryError::Filter(expr.clone());
            let (name, args) = expression(expr).ok_or_else(invalid)?;
            match (name, args.as_slice()) {
                ("since", [date]) => {
                    let t = parse_date(date.trim())
                        .ok_or_else(invalid)?
                        .timestamp_millis();
                    q.since = Some(q.since.map_or(t, |s| s.max(t)));
                }
                ("type", types) if types.iter().all(|t| !t.trim().is_empty()) => {
                    q.types = Some(types.iter().map(|t| t.trim().to_owned()).collect());
                }
                _ => return Err(invalid()),
            }
        }
        Ok(q)
    }

    /// The page `paging` asks for, and whether more markers follow it. With `ties`, markers that
    /// share an `eventDate` are shuffled with that seed; without, they keep the order they were
    /// made in.
    pub fn run<'a>(&self, markers: &'a [Marker], ties: Option<u64>) -> (Vec<&'a Marker>, bool) {
        let mut matched: Vec<&Marker> = markers
            .iter()
            .filter(|m| {
                self.since
                    .is_none_or(|s| m.event_date.timestamp_millis() >= s)
                    && self
                        .types
                        .as_ref()
                        .is_none_or(|t| t.contains(&m.object_type))
            })
            .collect();
        matched.sort_by_key(|m| (m.event_date, m.seq));
        if !self.ascending {
            matched.reverse();
        }
        if let Some(seed) = ties {
            let mut rng = fastrand::Rng::with_seed(seed);
            for tied in matched.chunk_by_mut(|a, b| a.event_date == b.event_date) {
                rng.shuffle(tied);
            }
        }
        let Paging { start, count, .. } = self.paging;
        let more = matched.len() > start.saturating_add(count);
        let page = matched.into_iter().skip(start).take(count).collect();
        (page, more)
    }
}

/// The paged envelope: `itemsPerPage` (the effective count), `links` (absent when there is
/// neither a next nor a previous page), `list`, `startIndex`.
pub fn envelope(
    url: &str,
    params: &Params,
    paging: &Paging,
    list: Vec<Value>,
    more: bool,
) -> Value {
    let link = |start: usize| {
        let mut query: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "startIndex" && k != "count")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        query.push(format!("count={}", paging.count));
        query.push(format!("startIndex={start}"));
        format!("{url}?{}", query.join("&"))
    };
    let mut links = Map::new();
    if more {
        links.insert("next".to_owned(), json!(link(paging.start + paging.count)));
    }
    if paging.start > 0 {
        links.insert(
            "previous".to_owned(),
            json!(link(paging.start.saturating_sub(paging.count))),
        );
    }
    let mut out = Map::new();
    out.insert("itemsPerPage".to_owned(), json!(paging.count));
    if !links.is_empty() {
        out.insert("links".to_owned(), Value::Object(links));
    }
    out.insert("list".to_owned(), Value::Array(list));
    out.insert("startIndex".to_owned(), json!(paging.start));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn expressions_split_on_unescaped_commas() {
        assert_eq!(
            expression(r"search(10\,000,a\(b\))"),
            Some(("search", vec!["10,000".to_owned(), "a(b)".to_owned()]))
        );
        assert_eq!(expression("unread"), None);
        assert_eq!(expression("type(a,b"), None);
        assert_eq!(expression("(a)"), None);
    }

    #[test]
    fn bad_filters_name_the_expression() {
        let two = "place(/api/core/v3/places/2523,/api/core/v3/places/2524)";
        let err = ContentQuery::parse(&params(&[("filter", two)])).unwrap_err();
        assert_eq!(err.to_string(), format!("Invalid filter expression {two}"));
        assert_eq!(err.code(), Some("filterInvalid"));
        for bad in [
            "tag(x)",
            "modificationDate(2024-01-01T00:00:00Z)",
            "modificationDate(2024-01-01T00:00:00.000 0000,null)",
            "creationDate(soon,null)",
            "type()",
        ] {
            assert!(
                matches!(
                    ContentQuery::parse(&params(&[("filter", bad)])),
                    Err(QueryError::Filter(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn count_is_clamped_and_must_be_a_number() {
        let q = ContentQuery::parse(&params(&[("count", "500")])).unwrap();
        assert_eq!(q.paging.count, MAX_COUNT);
        assert_eq!(
            ContentQuery::parse(&[]).unwrap().paging.count,
            DEFAULT_COUNT
        );
        assert!(ContentQuery::parse(&params(&[("count", "ten")])).is_err());
        assert!(ContentQuery::parse(&params(&[("startIndex", "-1")])).is_err());
        assert!(ContentQuery::parse(&params(&[("sort", "modificationDateAsc")])).is_err());
    }
}
