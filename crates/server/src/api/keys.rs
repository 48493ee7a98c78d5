//! `/v1/keys`: tenants' API keys, created, listed and deleted with an admin key.
//!
//! A created key is a [`ApiKeyRecord`] in the store: its id, tenant, optional source and label,
//! and the SHA-256 of the key. The key itself (`trb_` and 64 hex digits: 256 random bits) is
//! answered once, by `POST /v1/keys`, and never again. Creating or deleting a key changes the
//! in-process key table too ([`ApiKeys`](super::ApiKeys)), so a new key works as soon as it is
//! answered and a deleted one is refused as soon as the delete is.
//!
//! Keys from the configuration (`[[keys]]`) are not listed here and cannot be deleted here: they
//! live in the configuration file.

use super::query::RawQuery;
use super::request::{Body, excerpt, parse_body, random_hex};
use super::{Admin, ApiError, ApiState, key_sha256_hex, openapi};
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{Clock, SourceId, SystemClock};
use tributary_store::ApiKeyRecord;
use utoipa::ToSchema;

/// What every created key starts with, so a leaked one is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "trb_";
/// The longest tenant name a key can be created for, in characters.
pub const MAX_TENANT_LEN: usize = 128;
/// The longest label, in characters.
pub const MAX_LABEL_LEN: usize = 200;

/// `POST /v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// The tenant whose sources the key reads: 1 to 128 characters, no control characters, no
    /// space at either end.
    #[schema(min_length = 1, max_length = 128)]
    tenant: String,
    /// Limits the key to this one source, which must exist and belong to `tenant`; absent or
    /// `null`: every source of the tenant.
    #[serde(default)]
    #[schema(value_type = Option<SourceId>)]
    source: Option<String>,
    /// A note for people: what the key is for (at most 200 characters).
    #[serde(default)]
    #[schema(max_length = 200)]
    label: Option<String>,
}

/// A created key, as listed: never the key nor its hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyBody {
    /// `key-` and 16 hex digits.
    id: String,
    tenant: String,
    /// The one source the key reads; `null`: every source of the tenant.
    #[schema(required = true, value_type = Option<SourceId>)]
    source: Option<String>,
    #[schema(required = true)]
    label: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<&ApiKeyRecord> for KeyBody {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            tenant: r.tenant.clone(),
            source: r.source.as_ref().map(|s| s.as_str().to_owned()),
            label: r.label.clone(),
            created_at: tributary_core::time::format(&r.created_at),
        }
    }
}

/// `POST /v1/keys`' answer: the key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    id: String,
    /// The key: send it as `Authorization: Bearer <key>`. Answered only here: the server keeps
    /// its SHA-256 alone.
    #[schema(pattern = "^trb_[0-9a-f]{64}$")]
    key: String,
    tenant: String,
    /// The one source the key reads; `null`: every source of the tenant.
    #[schema(required = true, value_type = Option<SourceId>)]
    source: Option<String>,
    #[schema(required = true)]
    label: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// `GET /v1/keys`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyList {
    /// The created keys, oldest first.
    objects: Vec<KeyBody>,
    #[schema(minimum = 0)]
    count: u64,
}

/// A tenant name a key can be created for.
fn check_tenant(tenant: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::InvalidBody(format!("invalid `tenant`: {why}")));
    if tenant.is_empty() {
        return refuse("must not be empty");
    }
    if tenant.chars().count() > MAX_TENANT_LEN {
        return refuse(&format!("longer than {MAX_TENANT_LEN} characters"));
    }
    if tenant.chars().any(char::is_control) {
        return refuse("must not hold control characters");
    }
    if tenant.trim() != tenant {
        return refuse("must not start or end with a space");
    }
    Ok(())
}

/// The time a key is created at: the source control's clock when the server has one (tests
/// give a fake one), the system's otherwise.
fn now(state: &ApiState) -> DateTime<Utc> {
    match state.sources() {
        Ok(control) => control.clock().now(),
        Err(_) => SystemClock.now(),
    }
}

/// The created key `id`, or `404 key_not_found`.
async fn find(state: &ApiState, id: &str) -> Result<ApiKeyRecord, ApiError> {
    let lookup = id.to_owned();
    let record = state
        .blocking(move |store| Ok(store.api_keys()?.into_iter().find(|r| r.id == lookup)))
        .await?;
    record.ok_or_else(|| ApiError::KeyNotFound(id.to_owned()))
}

/// The `{id}` of a path.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid(format!("invalid key id: {e}")))?;
    Ok(id)
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "create_key",
    summary = "Create a tenant's API key",
    description = "Creates a key of `tenant`, which reads that tenant's sources (with `source`, \
        only that one source, which must exist and belong to the tenant: `404 source_not_found` \
        otherwise). The answer holds the key itself, once: only its SHA-256 is stored. The key \
        works as soon as it is answered. Needs an admin key.",
    request_body = NewKey,
    security(("admin" = [])),
    responses(
        (status = 201, description = "Created: the key, shown this once", body = CreatedKey),
        (status = 400, description = "A body that is not the JSON described, or an invalid \
            `tenant`, `source` or `label` (`invalid_body`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::AdminKeyRequired,
        (status = 404, description = "`source` does not exist or belongs to another tenant \
            (`source_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    _admin: Admin,
    Body(body): Body,
) -> Result<Response, ApiError> {
    // serde would take a struct from a JSON array too (`["acme"]`): only an object is a key.
    if body.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::InvalidBody(
            "the request body is not valid: expected a JSON object".into(),
        ));
    }
    let new: NewKey = parse_body(&body)?;
    check_tenant(&new.tenant)?;
    let source = new
        .source
        .map(|s| {
            SourceId::new(s).map_err(|e| ApiError::InvalidBody(format!("invalid `source`: {e}")))
        })
        .transpose()?;
    if let Some(label) = &new.label
        && label.chars().count() > MAX_LABEL_LEN
    {
        return Err(ApiError::InvalidBody(format!(
            "invalid `label`: longer than {MAX_LABEL_LEN} characters"
        )));
    }
    if let Some(source) = &source {
        let (lookup, tenant) = (source.clone(), new.tenant.clone());
        let exists = state
            .blocking(move |store| Ok(store.source(&tenant, &lookup)?.is_some()))
            .await?;
        if !exists {
            return Err(ApiError::SourceNotFound(source.as_str().to_owned()));
        }
    }
    let key = format!("{KEY_PREFIX}{}", random_hex(32)?);
    let record = ApiKeyRecord {
        id: format!("key-{}", random_hex(8)?),
        tenant: new.tenant,
        source,
        key_sha256: key_sha256_hex(&key),
        label: new.label,
        created_at: now(&state),
    };
    state.store().put_api_key(record.clone()).await?;
    state.keys().add_created(&record).map_err(|e| {
        tracing::error!(error = %e, "a created key has a bad hash");
        ApiError::Internal
    })?;
    tracing::info!(key = %record.id, tenant = %record.tenant, source = ?record.source.as_ref().map(SourceId::as_str), "API key created");
    let KeyBody {
        id,
        tenant,
        source,
        label,
        created_at,
    } = KeyBody::from(&record);
    let created = CreatedKey {
        id,
        key,
        tenant,
        source,
        label,
        created_at,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "list_keys",
    summary = "The created API keys",
    description = "Every key created with `POST /v1/keys` (with `tenant`, that tenant's only), \
        oldest first; never a key itself nor its hash. Keys from the configuration file \
        (`[[keys]]`) are not listed: they live in that file. Needs an admin key.",
    params(openapi::KeyListParams),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 400, description = "A bad query parameter (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::AdminKeyRequired,
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _admin: Admin,
    raw: RawQuery,
) -> Result<Json<KeyList>, ApiError> {
    let Query(pairs) =
        raw.map_err(|e| ApiError::invalid(format!("the query string cannot be read: {e}")))?;
    let mut tenant = None;
    for (name, value) in pairs {
        match name.as_str() {
            "tenant" if tenant.is_some() => {
                return Err(ApiError::invalid(
                    "query parameter `tenant` is given more than once",
                ));
            }
            "tenant" if value.is_empty() => {
                return Err(ApiError::invalid(
                    "`tenant` is empty: leave it out to list every tenant's keys",
                ));
            }
            "tenant" => tenant = Some(value),
            _ => {
                return Err(ApiError::invalid(format!(
                    "unknown query parameter `{}` (this endpoint takes tenant)",
                    excerpt(name.as_str())
                )));
            }
        }
    }
    let mut records: Vec<ApiKeyRecord> = state
        .blocking(|store| Ok(store.api_keys()?))
        .await?
        .into_iter()
        .filter(|r| tenant.as_ref().is_none_or(|t| *t == r.tenant))
        .collect();
    records.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let objects: Vec<KeyBody> = records.iter().map(KeyBody::from).collect();
    Ok(Json(KeyList {
        count: objects.len() as u64,
        objects,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "get_key",
    summary = "One created API key",
    description = "The key's id, tenant, source, label and creation time; never the key itself \
        nor its hash. Needs an admin key.",
    params(("id" = String, Path, description = "The key id")),
    security(("admin" = [])),
    responses(
        (status = 200, description = "The key", body = KeyBody),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::AdminKeyRequired,
        (status = 404, description = "No created key has this id (`key_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<KeyBody>, ApiError> {
    let id = path_id(path)?;
    Ok(Json(KeyBody::from(&find(&state, &id).await?)))
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "delete_key",
    summary = "Delete a created API key",
    description = "Removes the key: it is refused (`401`) from the moment this answers. Keys from \
        the configuration file cannot be deleted here. Needs an admin key.",
    params(("id" = String, Path, description = "The key id")),
    security(("admin" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "A malformed id (`invalid_parameter`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::AdminKeyRequired,
        (status = 404, description = "No created key has this id (`key_not_found`)", body = openapi::ErrorBody),
        openapi::StoreUnavailable,
    )
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    _admin: Admin,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(path)?;
    let record = find(&state, &id).await?;
    // The store first: a delete that fails leaves the key working, as the error says.
    if !state.store().delete_api_key(&record.id).await? {
        // Another request deleted it meanwhile (and removed it from the table).
        return Err(ApiError::KeyNotFound(id));
    }
    state.keys().remove_created(&record);
    tracing::info!(key = %record.id, tenant = %record.tenant, "API key deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_checked() {
        for good in [
            "a",
            "acme",
            "ACME Corp",
            "t-1.2",
            &"x".repeat(MAX_TENANT_LEN),
        ] {
            assert!(check_tenant(good).is_ok(), "{good:?}");
        }
        for (bad, says) in [
            ("", "must not be empty"),
            (&"x".repeat(MAX_TENANT_LEN + 1) as &str, "longer than 128"),
            ("a\nb", "control characters"),
            (" acme", "start or end with a space"),
            ("acme ", "start or end with a space"),
        ] {
            let e = check_tenant(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_body");
            assert!(e.to_string().contains(says), "{bad:?}: {e}");
        }
    }
}
