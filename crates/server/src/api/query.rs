//! The query parameters of the event endpoints, checked one by one so each refusal names the
//! parameter and the value.

use super::ApiError;
use super::request::{excerpt, quote};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use chrono::{DateTime, Utc};
use tributary_core::{EventType, SourceId};

/// The largest `page_size`.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The `page_size` when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The raw query as name/value pairs, in order, repeats kept.
pub(crate) type RawQuery = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// How a list decodes its `cursor`.
pub(crate) type CursorDecoder<'a, C> = &'a dyn Fn(&str) -> Result<C, ApiError>;

/// The `limit` (1 to `max`, `default` when absent) and, when `decode` is given, the `cursor` of
/// a list query (`GET /v1/sources`, `/v1/subscriptions`, `…/attempts`); any other parameter, or
/// one given twice, is refused by name.
pub(crate) fn page_query<C>(
    raw: RawQuery,
    default: usize,
    max: usize,
    decode: Option<CursorDecoder<'_, C>>,
) -> Result<(usize, Option<C>), ApiError> {
    let Query(pairs) =
        raw.map_err(|e| ApiError::invalid(format!("the query string cannot be read: {e}")))?;
    let (mut limit, mut cursor) = (None, None);
    for (name, value) in &pairs {
        match (name.as_str(), decode) {
            ("limit" | "cursor", _) if pairs.iter().filter(|(n, _)| n == name).count() > 1 => {
                return Err(ApiError::invalid(format!(
                    "query parameter `{name}` is given more than once"
                )));
            }
            ("limit", _) => match value.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => limit = Some(n),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "invalid `limit` {}: must be a whole number from 1 to {max}",
                        quote(value)
                    )));
                }
            },
            ("cursor", Some(decode)) => cursor = Some(decode(value)?),
            _ => {
                let takes = if decode.is_some() {
                    "limit, cursor"
                } else {
                    "limit"
                };
                return Err(ApiError::invalid(format!(
                    "unknown query parameter `{}` (this endpoint takes {takes})",
                    excerpt(name)
                )));
            }
        }
    }
    Ok((limit.unwrap_or(default), cursor))
}

/// What a reader asked for, before tenant scoping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct EventQuery {
    pub cursor: Option<String>,
    pub page_size: usize,
    /// Sources named by the reader (empty: all the tenant's sources).
    pub sources: Vec<SourceId>,
    pub types: Vec<EventType>,
    pub path_prefix: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Which parameters an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    List,
    Stream,
    /// The Kloudless-compatible `/v1/accounts/{account}/events`.
    Account,
}

impl Endpoint {
    fn params(self) -> &'static [&'static str] {
        match self {
            Endpoint::List => &[
                "cursor",
                "page_size",
                "source",
                "type",
                "path_prefix",
                "since",
                "until",
            ],
            Endpoint::Stream => &["cursor", "source", "type", "path_prefix", "since", "until"],
            Endpoint::Account => &["cursor", "page_size"],
        }
    }
}

pub(crate) fn parse(raw: RawQuery, endpoint: Endpoint) -> Result<EventQuery, ApiError> {
    let Query(pairs) =
        raw.map_err(|e| ApiError::invalid(format!("the query string cannot be read: {e}")))?;
    let mut q = EventQuery {
        page_size: DEFAULT_PAGE_SIZE,
        ..EventQuery::default()
    };
    // The parameter names given (at most one entry per name the endpoint takes).
    let mut seen: Vec<&str> = Vec::new();
    let mut named = std::collections::HashSet::new();
    for (name, value) in &pairs {
        let Some(&known) = endpoint.params().iter().find(|p| **p == name.as_str()) else {
            return Err(ApiError::invalid(format!(
                "unknown query parameter `{}` (this endpoint takes {})",
                excerpt(name),
                endpoint.params().join(", ")
            )));
        };
        let list = matches!(known, "source" | "type");
        if !list && seen.contains(&known) {
            return Err(ApiError::invalid(format!(
                "query parameter `{known}` is given more than once"
            )));
        }
        if !seen.contains(&known) {
            seen.push(known);
        }
        match known {
            "cursor" => {
                if value.is_empty() {
                    return Err(ApiError::invalid(
                        "`cursor` is empty: leave it out to start from the oldest retained event",
                    ));
                }
                q.cursor = Some(value.clone());
            }
            "page_size" => q.page_size = page_size(value)?,
            "source" => {
                for item in items("source", value)? {
                    let id = SourceId::new(item)
                        .map_err(|e| ApiError::invalid(format!("invalid `source`: {e}")))?;
                    // A set beside the list: a query naming thousands of ids costs linear time.
                    if named.insert(id.clone()) {
                        q.sources.push(id);
                    }
                }
            }
            "type" => {
                for item in items("type", value)? {
                    let t: EventType = item
                        .parse()
                        .map_err(|e| ApiError::invalid(format!("invalid `type`: {e}")))?;
                    if !q.types.contains(&t) {
                        q.types.push(t);
                    }
                }
            }
            "path_prefix" => {
                if !value.starts_with('/') {
                    return Err(ApiError::invalid(format!(
                        "invalid `path_prefix` {}: a path starts with `/`",
                        quote(value)
                    )));
                }
                q.path_prefix = Some(value.clone());
            }
            "since" => q.since = Some(time("since", value)?),
            "until" => q.until = Some(time("until", value)?),
            _ => {}
        }
    }
    if let (Some(since), Some(until)) = (q.since, q.until)
        && since >= until
    {
        return Err(ApiError::invalid(format!(
            "`since` ({}) must be before `until` ({})",
            since.to_rfc3339(),
            until.to_rfc3339()
        )));
    }
    Ok(q)
}

fn page_size(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(format!(
            "invalid `page_size` {}: must be a whole number from 1 to {MAX_PAGE_SIZE}",
            quote(value)
        ))),
    }
}

/// A list parameter: comma-separated, and may be repeated.
fn items<'a>(name: &str, value: &'a str) -> Result<impl Iterator<Item = &'a str>, ApiError> {
    if value.split(',').any(str::is_empty) {
        return Err(ApiError::invalid(format!(
            "invalid `{name}` {}: an empty item (give one or more comma-separated values)",
            quote(value)
        )));
    }
    Ok(value.split(','))
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::invalid(format!(
                "invalid `{name}` {}: expected an RFC 3339 time such as 2026-11-23T09:00:00Z ({e}; \
                 a `+` offset must be sent as %2B)",
                quote(value)
            ))
        })
}
