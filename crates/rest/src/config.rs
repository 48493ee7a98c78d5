//! What one REST source is configured with (the JSON a user writes, Cloud Elements' spellings
//! accepted beside ours), and [`RestConfig::compile`], which checks all of it and turns it into
//! the [`Resource`]s the provider reads. Every message names the field it is about.

pub use crate::paging::Paging;
use crate::pattern::DateFormat;
use crate::template::UrlTemplate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary_core::{PollPolicy, Secret};
use tributary_provider_kit::ClientAuth;

/// A config that cannot work, said before the first request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Where: `resources.contacts.datesConfiguration.updatedDateFormat`.
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.to_string(),
    }
}

/// One REST source. Unknown keys are refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// Where every resource URL is resolved (`https://api.acme.com/v2`).
    pub base_url: String,
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// Where OAuth tokens are refreshed (and, for the server's OAuth flow, authorized).
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The resources polled, by name; Cloud Elements' `event.poller.configuration` (an object,
    /// or that object as a JSON string) is read as is.
    #[serde(
        default,
        alias = "event.poller.configuration",
        deserialize_with = "object_or_json_string"
    )]
    pub resources: BTreeMap<String, ResourceConfig>,
    /// Where a new source starts: `latest` (now; default) or an RFC 3339 time.
    #[serde(default)]
    pub start: Start,
    /// The longest window one poll reads (default 1 day).
    #[serde(default = "d_max_window_ms")]
    pub max_window_ms: u64,
    /// How far behind now a window ends, so that changes still being written are not missed
    /// (default 5000 ms).
    #[serde(default = "d_skew_ms")]
    pub skew_ms: u64,
    #[serde(default = "d_request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "d_max_requests_per_poll")]
    pub max_requests_per_poll: u32,
    #[serde(default = "d_max_poll_time_ms")]
    pub max_poll_time_ms: u64,
    #[serde(default = "d_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Pages one pass over one resource may read before the poll fails (default 100).
    #[serde(default = "d_max_pages")]
    pub max_pages: u32,
    /// Passes over a window before it is declared unstable (default 3, at least 2).
    #[serde(default = "d_max_passes")]
    pub max_passes: u32,
    /// Text some APIs put before their JSON (Jive's `throw 'allowIllegalResourceCall is false.';`),
    /// removed when a body starts with it.
    #[serde(default)]
    pub response_prefix: Option<String>,
    /// Put each item read in `upstream.raw`.
    #[serde(default)]
    pub keep_raw: bool,
    #[serde(
        default = "default_poll_policy",
        deserialize_with = "poll_over_defaults"
    )]
    pub poll: PollPolicy,
}

fn d_max_window_ms() -> u64 {
    86_400_000
}
fn d_skew_ms() -> u64 {
    5_000
}
fn d_request_timeout_ms() -> u64 {
    30_000
}
fn d_max_requests_per_poll() -> u32 {
    500
}
fn d_max_poll_time_ms() -> u64 {
    120_000
}
fn d_max_response_bytes() -> u64 {
    tributary_http::DEFAULT_MAX_RESPONSE_BYTES
}
fn d_max_pages() -> u32 {
    100
}
fn d_max_passes() -> u32 {
    3
}

/// One poll per minute at the busiest, fifteen when idle: a REST list costs a request per page
/// and resource, and these APIs are often metered.
pub fn default_poll_policy() -> PollPolicy {
    PollPolicy {
        min_interval_ms: 60_000,
        max_interval_ms: 900_000,
        multiplier: 2.0,
        jitter: 0.1,
    }
}

fn poll_over_defaults<'de, D: Deserializer<'de>>(d: D) -> Result<PollPolicy, D::Error> {
    PollPolicy::deserialize_over(d, &default_poll_policy())
}

fn object_or_json_string<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<T, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => serde_json::from_str(&s).map_err(serde::de::Error::custom),
        v => serde_json::from_value(v).map_err(serde::de::Error::custom),
    }
}

/// Where a source without a checkpoint starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Start {
    /// Now (less the skew): nothing before it is read.
    #[default]
    Latest,
    /// Everything updated after this time is read (as `add` when created after it too).
    At(DateTime<Utc>),
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "latest" {
            return Ok(Start::Latest);
        }
        DateTime::parse_from_rfc3339(&s)
            .map(|t| Start::At(t.with_timezone(&Utc)))
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "start must be \"latest\" or an RFC 3339 time, got {s:?}: {e}"
                ))
            })
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    None,
    Bearer {
        token: Secret,
    },
    Basic {
        username: String,
        password: Secret,
    },
    /// A key in a header (`X-Api-Key: …`) or in the query (`?api_key=…`).
    ApiKey {
        #[serde(rename = "in")]
        location: KeyLocation,
        name: String,
        value: Secret,
    },
    /// OAuth 2.0 refresh-token credentials; the token URL is `oauth.token_url`.
    Oauth {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        #[serde(default)]
        access_token: Option<Secret>,
        #[serde(default, with = "tributary_core::time::millis_opt")]
        access_token_expires_at: Option<DateTime<Utc>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    Header,
    Query,
}

/// The OAuth endpoints of the API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub token_url: String,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How the client authenticates at the token URL: `form` (default) or `basic`.
    #[serde(default = "form")]
    pub client_auth: ClientAuth,
}

fn form() -> ClientAuth {
    ClientAuth::Form
}

/// One polled resource. Cloud Elements' keys (`idField`, `datesConfiguration`,
/// `createdCheckTolerance`) are accepted beside ours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// The list's URL, relative to `base_url` (or absolute on its origin), with window
    /// placeholders (see `template.rs`).
    pub url: String,
    /// The zone `${after:…}` and `${before:…}` are written in (default UTC).
    #[serde(default, alias = "urlTimezone")]
    pub url_timezone: Option<String>,
    /// A JSON pointer to the array of items in an answer (default: the answer is the array).
    #[serde(default, alias = "listPointer")]
    pub list: String,
    #[serde(alias = "idField")]
    pub id_field: String,
    #[serde(alias = "datesConfiguration")]
    pub dates: DatesConfig,
    #[serde(default)]
    pub paging: Paging,
    /// The unified object's kind: a constant (default: the resource's name)...
    #[serde(default)]
    pub kind: Option<String>,
    /// ... or read from this field.
    #[serde(default, alias = "kindField")]
    pub kind_field: Option<String>,
    /// The object's name (default: its id).
    #[serde(default, alias = "nameField")]
    pub name_field: Option<String>,
    #[serde(default, alias = "pathField")]
    pub path_field: Option<String>,
    #[serde(default, alias = "urlField")]
    pub url_field: Option<String>,
    /// A list of deleted items: those listed become `delete` events.
    #[serde(default)]
    pub deleted: Option<DeletedConfig>,
    /// Cloud Elements' tolerance: accepted so a configuration can be pasted, not used (an item
    /// is `add` when its created date is inside the window).
    #[serde(default, alias = "createdCheckTolerance")]
    pub created_check_tolerance: Option<serde_json::Value>,
}

/// `datesConfiguration`: which fields hold the dates, in what format and zone. Both Cloud
/// Elements' `updatedDate…` and the `updatedAt…` spelling are read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatesConfig {
    #[serde(default, alias = "updatedAtField", alias = "updated_field")]
    pub updated_date_field: Option<String>,
    #[serde(default, alias = "updatedAtFormat", alias = "updated_format")]
    pub updated_date_format: Option<String>,
    #[serde(default, alias = "updatedAtTimezone", alias = "updated_timezone")]
    pub updated_date_timezone: Option<String>,
    #[serde(default, alias = "createdAtField", alias = "created_field")]
    pub created_date_field: Option<String>,
    #[serde(default, alias = "createdAtFormat", alias = "created_format")]
    pub created_date_format: Option<String>,
    #[serde(default, alias = "createdAtTimezone", alias = "created_timezone")]
    pub created_date_timezone: Option<String>,
}

/// A list of deleted items.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletedConfig {
    pub url: String,
    #[serde(default, alias = "urlTimezone")]
    pub url_timezone: Option<String>,
    #[serde(default, alias = "listPointer")]
    pub list: String,
    /// The deleted object's id (default: the resource's `id_field`).
    #[serde(default, alias = "idField")]
    pub id_field: Option<String>,
    /// When it was deleted; without it, a deletion is dated at the window's end and emitted once
    /// for an object the source knows.
    #[serde(default, alias = "dateField")]
    pub date_field: Option<String>,
    #[serde(default, alias = "dateFormat")]
    pub date_format: Option<String>,
    #[serde(default, alias = "dateTimezone")]
    pub date_timezone: Option<String>,
    #[serde(default)]
    pub paging: Paging,
}

/// A field of an item: a JSON pointer (`/author/name`) or a top-level key (`updated_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef(String);

impl FieldRef {
    pub fn new(field: &str) -> Self {
        if field.starts_with('/') {
            Self(field.to_owned())
        } else {
            Self(format!("/{}", field.replace('~', "~0").replace('/', "~1")))
        }
    }

    pub fn get<'a>(&self, item: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        item.pointer(&self.0).filter(|v| !v.is_null())
    }

    /// The field as text: a string as is, a number or boolean written out.
    pub fn text(&self, item: &serde_json::Value) -> Option<String> {
        match self.get(item)? {
            serde_json::Value::String(s) => Some(s.clone()),
            v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => Some(v.to_string()),
            _ => None,
        }
    }
}

/// A list read in windows: the parts a resource and a deleted list share.
#[derive(Debug, Clone)]
pub struct ListSpec {
    pub url: UrlTemplate,
    pub list: String,
    pub paging: Paging,
}

/// A resource, checked and ready to read.
#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub spec: ListSpec,
    pub id: FieldRef,
    pub updated: (FieldRef, DateFormat),
    pub created: Option<(FieldRef, DateFormat)>,
    pub kind: String,
    pub kind_field: Option<FieldRef>,
    pub name_field: Option<FieldRef>,
    pub path_field: Option<FieldRef>,
    pub url_field: Option<FieldRef>,
    pub deleted: Option<Deleted>,
}

/// A deleted list, checked.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub spec: ListSpec,
    pub id: FieldRef,
    pub date: Option<(FieldRef, DateFormat)>,
}

/// The smallest `max_poll_time_ms`: 1 s.
pub const MIN_POLL_TIME_MS: u64 = 1_000;
/// The bounds of `max_response_bytes`: 1 KiB to 1 GiB.
pub const RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;
/// The largest page size asked for.
pub const MAX_PAGE_SIZE: u32 = 10_000;

impl RestConfig {
    /// Reads a source's `config` (credentials inside), naming the field serde could not read.
    pub fn from_json(config: serde_json::Value) -> Result<Self, ConfigError> {
        serde_json::from_value(config).map_err(|e| err("config", e))
    }

    /// Checks everything; returns the base URL (without trailing slash) and the resources.
    pub fn compile(&self) -> Result<(String, Vec<Resource>), ConfigError> {
        let base =
            tributary_http::check_base_url(&self.base_url).map_err(|e| err("base_url", e))?;
        if self.resources.is_empty() {
            return Err(err(
                "resources",
                "at least one resource is needed (or event.poller.configuration)",
            ));
        }
        for (name, v) in [
            ("max_window_ms", self.max_window_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            (
                "max_requests_per_poll",
                u64::from(self.max_requests_per_poll),
            ),
            ("max_pages", u64::from(self.max_pages)),
        ] {
            if v == 0 {
                return Err(err(name, "must be greater than 0"));
            }
        }
        if self.max_passes < 2 {
            return Err(err(
                "max_passes",
                "must be at least 2 (two passes must agree)",
            ));
        }
        if self.max_poll_time_ms < MIN_POLL_TIME_MS {
            return Err(err("max_poll_time_ms", "must be at least 1000 (1 s)"));
        }
        if !RESPONSE_BYTES_RANGE.contains(&self.max_response_bytes) {
            return Err(err(
                "max_response_bytes",
                "must be between 1024 (1 KiB) and 1073741824 (1 GiB)",
            ));
        }
        self.poll.validate().map_err(|e| err("poll", e))?;
        self.check_credentials()?;
        let base_url = reqwest::Url::parse(&base).map_err(|e| err("base_url", e))?;
        let mut resources = Vec::with_capacity(self.resources.len());
        for (name, r) in &self.resources {
            resources.push(resource(&base_url, name, r)?);
        }
        Ok((base, resources))
    }

    fn check_credentials(&self) -> Result<(), ConfigError> {
        match &self.credentials {
            Some(Credentials::Basic { username, .. })
                if username.is_empty() || username.contains(':') =>
            {
                Err(err(
                    "credentials.username",
                    "must be non-empty and have no ':'",
                ))
            }
            Some(Credentials::ApiKey { name, value, .. })
                if name.is_empty() || value.expose().is_empty() =>
            {
                Err(err("credentials", "an API key needs a name and a value"))
            }
            Some(Credentials::Oauth {
                client_id,
                refresh_token,
                ..
            }) => {
                if client_id.is_empty() || refresh_token.expose().is_empty() {
                    return Err(err(
                        "credentials",
                        "OAuth needs a client_id and a refresh_token",
                    ));
                }
                let oauth = self.oauth.as_ref().ok_or_else(|| {
                    err(
                        "oauth.token_url",
                        "OAuth credentials need the token URL they refresh at",
                    )
                })?;
                tributary_http::check_base_url(&oauth.token_url)
                    .map_err(|e| err("oauth.token_url", e))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn poll_limits(&self) -> tributary_http::PollLimits {
        tributary_http::PollLimits {
            max_requests: self.max_requests_per_poll,
            max_time: Duration::from_millis(self.max_poll_time_ms),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

fn resource(base: &reqwest::Url, name: &str, r: &ResourceConfig) -> Result<Resource, ConfigError> {
    let at = |field: &str| format!("resources.{name}.{field}");
    if name.is_empty() || name.len() > 64 {
        return Err(err("resources", "a resource name has 1 to 64 characters"));
    }
    let spec = list_spec(
        base,
        &r.url,
        r.url_timezone.as_deref(),
        &r.list,
        &r.paging,
        &at(""),
    )?;
    if r.id_field.is_empty() {
        return Err(err(at("idField"), "must name a field"));
    }
    let d = &r.dates;
    let dates = |field: &str| at(&format!("datesConfiguration.{field}"));
    let updated_field = d
        .updated_date_field
        .as_deref()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            err(
                dates("updatedDateField"),
                "is required: windows are read by the updated date (updatedAtField is read too)",
            )
        })?;
    let format = |f: &Option<String>, z: &Option<String>, field: &str, zone_field: &str| {
        if let Some(z) = z {
            crate::pattern::parse_zone(z).map_err(|e| err(dates(zone_field), e))?;
        }
        match f {
            None => Ok(match z {
                None => DateFormat::rfc3339(),
                Some(z) => {
                    DateFormat::new("rfc3339", Some(z)).map_err(|e| err(dates(zone_field), e))?
                }
            }),
            Some(f) => DateFormat::new(f, z.as_deref()).map_err(|e| err(dates(field), e)),
        }
    };
    let updated = (
        FieldRef::new(updated_field),
        format(
            &d.updated_date_format,
            &d.updated_date_timezone,
            "updatedDateFormat",
            "updatedDateTimezone",
        )?,
    );
    let created = match d.created_date_field.as_deref().filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => Some((
            FieldRef::new(f),
            format(
                &d.created_date_format,
                &d.created_date_timezone,
                "createdDateFormat",
                "createdDateTimezone",
            )?,
        )),
    };
    let deleted = match &r.deleted {
        None => None,
        Some(del) => {
            let field = |f: &str| at(&format!("deleted.{f}"));
            let spec = list_spec(
                base,
                &del.url,
                del.url_timezone.as_deref(),
                &del.list,
                &del.paging,
                &field(""),
            )?;
            let date = match del.date_field.as_deref() {
                None => None,
                Some(f) => Some((
                    FieldRef::new(f),
                    match &del.date_format {
                        None => DateFormat::new("rfc3339", del.date_timezone.as_deref()),
                        Some(p) => DateFormat::new(p, del.date_timezone.as_deref()),
                    }
                    .map_err(|e| err(field("date_format"), e))?,
                )),
            };
            Some(Deleted {
                spec,
                id: FieldRef::new(del.id_field.as_deref().unwrap_or(&r.id_field)),
                date,
            })
        }
    };
    let opt = |f: &Option<String>| f.as_deref().filter(|f| !f.is_empty()).map(FieldRef::new);
    Ok(Resource {
        name: name.to_owned(),
        spec,
        id: FieldRef::new(&r.id_field),
        updated,
        created,
        kind: r
            .kind
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| name.to_owned()),
        kind_field: opt(&r.kind_field),
        name_field: opt(&r.name_field),
        path_field: opt(&r.path_field),
        url_field: opt(&r.url_field),
        deleted,
    })
}

/// Checks a list's URL (on the base URL's origin), pointer and paging; `at` is the field prefix.
fn list_spec(
    base: &reqwest::Url,
    url: &str,
    zone: Option<&str>,
    list: &str,
    paging: &Paging,
    at: &str,
) -> Result<ListSpec, ConfigError> {
    if let Some(zone) = zone {
        crate::pattern::parse_zone(zone).map_err(|e| err(format!("{at}url_timezone"), e))?;
    }
    let template = UrlTemplate::parse(url, zone).map_err(|e| err(format!("{at}url"), e))?;
    let sample = template.render(DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH);
    let resolved = resolve(base, &sample).map_err(|e| err(format!("{at}url"), e))?;
    if resolved.origin() != base.origin() {
        return Err(err(
            format!("{at}url"),
            "must be on the base URL's origin (scheme, host and port)",
        ));
    }
    if !list.is_empty() && !list.starts_with('/') {
        return Err(err(
            format!("{at}list"),
            "must be a JSON pointer (\"/data/items\") or empty for the answer itself",
        ));
    }
    let size_ok = |s: Option<u32>, max: Option<u32>, field: &str| {
        if let Some(s) = s
            && !(1..=MAX_PAGE_SIZE).contains(&s)
        {
            return Err(err(
                format!("{at}paging.{field}"),
                format!("must be 1..={MAX_PAGE_SIZE}"),
            ));
        }
        match (s, max) {
            (_, Some(m)) if !(1..=MAX_PAGE_SIZE).contains(&m) => Err(err(
                format!("{at}paging.max_size"),
                format!("must be 1..={MAX_PAGE_SIZE}"),
            )),
            (Some(s), Some(m)) if m < s => {
                Err(err(format!("{at}paging.max_size"), "must be at least size"))
            }
            (None, Some(_)) => Err(err(
                format!("{at}paging.max_size"),
                "needs size and size_param",
            )),
            _ => Ok(()),
        }
    };
    match paging {
        Paging::Page {
            size,
            max_size,
            size_param,
            param,
            ..
        } => {
            size_ok(*size, *max_size, "size")?;
            if param.is_empty() {
                return Err(err(format!("{at}paging.param"), "must not be empty"));
            }
            if max_size.is_some() && size_param.is_none() {
                return Err(err(
                    format!("{at}paging.max_size"),
                    "needs size_param (the page size is sent)",
                ));
            }
        }
        Paging::Offset {
            size,
            max_size,
            size_param,
            param,
        } => {
            size_ok(Some(*size), *max_size, "size")?;
            if param.is_empty() {
                return Err(err(format!("{at}paging.param"), "must not be empty"));
            }
            if max_size.is_some() && size_param.is_none() {
                return Err(err(
                    format!("{at}paging.max_size"),
                    "needs size_param (the page size is sent)",
                ));
            }
        }
        Paging::Cursor { param, field } if param.is_empty() || !field.starts_with('/') => {
            return Err(err(
                format!("{at}paging"),
                "a cursor needs a param and a field (a JSON pointer)",
            ));
        }
        Paging::NextUrl { field } if !field.starts_with('/') => {
            return Err(err(
                format!("{at}paging.field"),
                "must be a JSON pointer (\"/links/next\")",
            ));
        }
        _ => {}
    }
    Ok(ListSpec {
        url: template,
        list: list.to_owned(),
        paging: paging.clone(),
    })
}

/// A rendered URL resolved against the base URL: a path is appended to it (`/hubs/crm/x` on
/// `https://h/elements/api-v2` is `https://h/elements/api-v2/hubs/crm/x`), an absolute URL is
/// taken as is.
pub fn resolve(base: &reqwest::Url, rendered: &str) -> Result<reqwest::Url, String> {
    if rendered.starts_with("http://") || rendered.starts_with("https://") {
        return reqwest::Url::parse(rendered).map_err(|e| e.to_string());
    }
    let base = base.as_str().trim_end_matches('/');
    let sep = if rendered.starts_with('/') || rendered.starts_with('?') {
        ""
    } else {
        "/"
    };
    reqwest::Url::parse(&format!("{base}{sep}{rendered}")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn compile(config: serde_json::Value) -> Result<Vec<Resource>, String> {
        RestConfig::from_json(config)
            .map_err(|e| e.to_string())?
            .compile()
            .map(|(_, r)| r)
            .map_err(|e| e.to_string())
    }

    fn minimal(resource: serde_json::Value) -> serde_json::Value {
        json!({"base_url": "https://api.example.com", "resources": {"items": resource}})
    }

    #[test]
    fn a_bad_date_pattern_is_refused_naming_the_field_and_letter() {
        let e = compile(minimal(json!({
            "url": "/items", "idField": "id",
            "datesConfiguration": {"updatedDateField": "u", "updatedDateFormat": "yyyy-Q"}
        })))
        .unwrap_err();
        assert_eq!(
            e,
            "resources.items.datesConfiguration.updatedDateFormat: unsupported letter 'Q' at position 5"
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        for (resource, message) in [
            (
                json!({"url": "/i", "idField": "id", "datesConfiguration": {}}),
                "resources.items.datesConfiguration.updatedDateField: is required",
            ),
            (
                json!({"url": "/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u", "updatedDateTimezone": "Europe/Paris"}}),
                "resources.items.datesConfiguration.updatedDateTimezone: unsupported time zone",
            ),
            (
                json!({"url": "https://elsewhere.example.com/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}}),
                "resources.items.url: must be on the base URL's origin",
            ),
            (
                json!({"url": "/i?s=${since:yyyy}", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}}),
                "resources.items.url: unknown placeholder",
            ),
            (
                json!({"url": "/i", "list": "data", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}}),
                "resources.items.list: must be a JSON pointer",
            ),
            (
                json!({"url": "/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}, "paging": {"mode": "offset", "size": 0}}),
                "resources.items.paging.size: must be 1..=10000",
            ),
            (
                json!({"url": "/i?a=${after:yyyy}", "url_timezone": "Asia/Tokyo", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}}),
                "resources.items.url_timezone: unsupported time zone",
            ),
            (
                json!({"url": "/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}, "paging": {"mode": "page", "bogus": 1}}),
                "unknown field `bogus`",
            ),
            (
                json!({"url": "/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}, "bogus": 1}),
                "unknown field `bogus`",
            ),
        ] {
            let e = compile(minimal(resource)).unwrap_err();
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn oauth_needs_a_token_url() {
        let mut c = minimal(
            json!({"url": "/i", "idField": "id", "datesConfiguration": {"updatedDateField": "u"}}),
        );
        c["credentials"] =
            json!({"kind": "oauth", "client_id": "c", "client_secret": "s", "refresh_token": "r"});
        assert!(
            compile(c.clone())
                .unwrap_err()
                .starts_with("oauth.token_url:")
        );
        c["oauth"] = json!({"token_url": "https://auth.example.com/token"});
        assert!(compile(c).is_ok());
    }

    #[test]
    fn fields_are_keys_or_pointers() {
        let item = json!({"a/b": 1, "n": {"m": "x"}, "z": null});
        assert_eq!(FieldRef::new("a/b").text(&item).as_deref(), Some("1"));
        assert_eq!(FieldRef::new("/n/m").text(&item).as_deref(), Some("x"));
        assert_eq!(FieldRef::new("z").text(&item), None);
    }

    #[test]
    fn paths_are_appended_to_the_base_url() {
        let base = reqwest::Url::parse("https://h.example.com/elements/api-v2").unwrap();
        assert_eq!(
            resolve(&base, "/hubs/crm/contacts?where=a>'b'")
                .unwrap()
                .as_str(),
            "https://h.example.com/elements/api-v2/hubs/crm/contacts?where=a%3E%27b%27"
        );
    }
}
