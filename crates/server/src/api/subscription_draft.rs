//! A subscription to create or change, checked: its url (and the address it names), secret,
//! filter, batch and description, and the log positions a start or a replay names (an events
//! cursor of the tenant, or a time). Nothing here writes.

use super::request::quote;
use super::subscription_json::{
    FilterBody, MAX_BATCH, MAX_DESCRIPTION_CHARS, MAX_FILTER_SOURCES, MAX_FILTER_TYPES,
    MAX_PATH_PREFIX_BYTES, MAX_URL_BYTES, Mode, NewSubscription, StartBody, to_filter,
};
use super::{ApiError, ApiState, Tenant};
use crate::webhooks::signature::{SigningKey, generate_secret};
use chrono::{DateTime, Utc};
use tributary_core::{Cursor, Seq};
use tributary_store::{DEFAULT_MAX_BATCH, Filter};

/// A webhook URL: `http`/`https`, a host, no credentials, no fragment, bounded; and a host
/// outbound requests may reach (the registry's address policy, or the strict one when the
/// server has no registry). Answers the URL as parsed.
pub(crate) async fn check_url(
    state: &ApiState,
    url: &str,
    field: &str,
) -> Result<String, ApiError> {
    if url.len() > MAX_URL_BYTES {
        return Err(ApiError::InvalidBody(format!(
            "`{field}` is {} bytes; the limit is {MAX_URL_BYTES}",
            url.len()
        )));
    }
    let refuse = |why: &str| ApiError::InvalidBody(format!("`{field}` {}: {why}", quote(url)));
    let parsed = reqwest::Url::parse(url).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse("the scheme must be http or https"));
    }
    if parsed.host_str().is_none() {
        return Err(refuse("it has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::InvalidBody(format!(
            "`{field}` must not carry credentials (requests are signed instead)"
        )));
    }
    if parsed.fragment().is_some() {
        return Err(refuse("it must not have a fragment"));
    }
    let timeout = crate::registry::ADDRESS_CHECK_TIMEOUT;
    let checked = match state.sources() {
        Ok(control) => {
            control
                .registry()
                .outbound()
                .check_target(&parsed, timeout)
                .await
        }
        Err(_) => {
            let outbound = tributary_http::Outbound::new(tributary_http::AddressPolicy::strict())
                .map_err(|e| {
                tracing::error!(error = %e, "building the outbound client failed");
                ApiError::Internal
            })?;
            outbound.check_target(&parsed, timeout).await
        }
    };
    checked.map_err(|e| ApiError::AddressNotAllowed(format!("`{field}`: {e}")))?;
    Ok(parsed.to_string())
}

/// A secret given by the caller, checked; never echoed in a refusal.
pub(crate) fn check_secret(secret: &str) -> Result<(), ApiError> {
    SigningKey::parse(secret)
        .map(|_| ())
        .map_err(|e| ApiError::InvalidBody(format!("`secret` is refused: {e}")))
}

pub(crate) fn fresh_secret() -> Result<String, ApiError> {
    generate_secret().map_err(|e| {
        tracing::error!(error = %e, "generating a webhook secret failed");
        ApiError::Internal
    })
}

/// A filter body checked against the tenant's sources: bounded, and naming only its sources.
pub(crate) async fn check_filter(
    state: &ApiState,
    tenant: &Tenant,
    body: &FilterBody,
) -> Result<Filter, ApiError> {
    if body.sources.len() > MAX_FILTER_SOURCES {
        return Err(ApiError::InvalidBody(format!(
            "`filter.sources` names {} sources; at most {MAX_FILTER_SOURCES}",
            body.sources.len()
        )));
    }
    if body.types.len() > MAX_FILTER_TYPES {
        return Err(ApiError::InvalidBody(format!(
            "`filter.types` names {} types; at most {MAX_FILTER_TYPES}",
            body.types.len()
        )));
    }
    if let Some(prefix) = &body.path_prefix {
        if prefix.len() > MAX_PATH_PREFIX_BYTES {
            return Err(ApiError::InvalidBody(format!(
                "`filter.path_prefix` is {} bytes; the limit is {MAX_PATH_PREFIX_BYTES}",
                prefix.len()
            )));
        }
        if !prefix.starts_with('/') {
            return Err(ApiError::InvalidBody(
                "`filter.path_prefix` must start with `/`".into(),
            ));
        }
    }
    let filter = to_filter(body)?;
    let (owner, sources) = (tenant.as_str().to_owned(), filter.sources.clone());
    let unknown = state
        .blocking(move |store| {
            for id in sources {
                if store.source(&owner, &id)?.is_none() {
                    return Ok(Some(id));
                }
            }
            Ok(None)
        })
        .await?;
    match unknown {
        Some(id) => Err(ApiError::InvalidBody(format!(
            "`filter.sources`: the tenant has no source {}",
            quote(id.as_str())
        ))),
        None => Ok(filter),
    }
}

pub(crate) fn check_max_batch(max_batch: u32) -> Result<u32, ApiError> {
    if (1..=MAX_BATCH).contains(&max_batch) {
        Ok(max_batch)
    } else {
        Err(ApiError::InvalidBody(format!(
            "`max_batch` is {max_batch}; it must be from 1 to {MAX_BATCH}"
        )))
    }
}

/// A description, bounded; `""` is none.
pub(crate) fn check_description(description: Option<String>) -> Result<Option<String>, ApiError> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => Err(ApiError::InvalidBody(
            format!("`description` is longer than {MAX_DESCRIPTION_CHARS} characters"),
        )),
        Some(d) if d.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// An events cursor of the tenant, within its retained log: the position it stands for.
pub(crate) async fn position_of(
    state: &ApiState,
    tenant: &str,
    cursor: &str,
) -> Result<Seq, ApiError> {
    let store = state.store();
    let cursor = Cursor::decode(cursor, store.stream_key(tenant))
        .map_err(|e| ApiError::InvalidCursor(format!("`cursor`: {e}")))?;
    let latest = store.latest(tenant).await?;
    if cursor.seq > latest.seq {
        return Err(ApiError::CursorAhead(format!(
            "`cursor` is past the end of the log (position {}, the last is {})",
            cursor.seq.get(),
            latest.seq.get()
        )));
    }
    let oldest = store.oldest(tenant).await?;
    if cursor.seq < oldest.seq {
        return Err(ApiError::CursorExpired { oldest });
    }
    Ok(cursor.seq)
}

/// The position before the first event of the tenant's log that occurred at or after `since`
/// (the log's end when there is none).
pub(crate) async fn position_since(
    state: &ApiState,
    tenant: &str,
    since: DateTime<Utc>,
) -> Result<Seq, ApiError> {
    let store = state.store();
    let filter = Filter {
        since: Some(since),
        ..Filter::default()
    };
    let mut after: Option<Cursor> = None;
    // Each read examines at most MAX_SCAN entries: a bounded walk of the whole log.
    loop {
        let page = store.read(tenant, after.as_ref(), 1, &filter).await?;
        if let Some(first) = page.events.first() {
            return Ok(Seq(first.seq.get().saturating_sub(1)));
        }
        if page.remaining == 0 || after.as_ref() == Some(&page.cursor) {
            return Ok(store.latest(tenant).await?.seq);
        }
        after = Some(page.cursor);
    }
}

/// Checked creation input, shared with the Cloud Elements shape of `POST /v1/sources`.
pub(crate) struct SubscriptionDraft {
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) filter: Filter,
    pub(crate) mode: Mode,
    pub(crate) max_batch: u32,
    pub(crate) description: Option<String>,
    pub(crate) start: Option<StartBody>,
}

/// Checks what needs no store write: url (and its address), secret, filter, batch, description.
pub(crate) async fn check_new(
    state: &ApiState,
    tenant: &Tenant,
    new: NewSubscription,
    url_field: &str,
) -> Result<SubscriptionDraft, ApiError> {
    let url = check_url(state, &new.url, url_field).await?;
    if let Some(secret) = &new.secret {
        check_secret(secret)?;
    }
    let filter = match &new.filter {
        Some(body) => check_filter(state, tenant, body).await?,
        None => Filter::default(),
    };
    Ok(SubscriptionDraft {
        url,
        secret: new.secret,
        filter,
        mode: new.mode.unwrap_or(Mode::Full),
        max_batch: check_max_batch(new.max_batch.unwrap_or(DEFAULT_MAX_BATCH))?,
        description: check_description(new.description)?,
        start: new.start,
    })
}
