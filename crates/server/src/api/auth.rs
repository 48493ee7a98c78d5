//! API keys: who may call, for which tenant, and optionally for which one source. Only SHA-256
//! hashes of the keys are kept.
//!
//! Three kinds of key:
//! - tenant keys from the configuration (`[[keys]]`): fixed while the server runs;
//! - admin keys from the configuration (`[[admin_keys]]`): they manage keys (`/v1/keys`) and read
//!   no tenant's data;
//! - tenant keys created with an admin key (`POST /v1/keys`): stored in the store (their hash
//!   only), loaded at start-up, and added or removed here as they are created or deleted, so a
//!   new key works at once and a deleted one stops at once. sled locks its directory, so this
//!   process is the store's only writer and this table cannot go stale.
//!
//! Every request looks its key up: the configured keys (few) are all compared in constant time,
//! as before; a created key is found by its SHA-256 in a hash map behind a read lock.

use super::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tributary_core::SourceId;
use tributary_store::{ApiKeyRecord, SourceRecord};

/// One configured key: `{tenant, key}` (the key itself) or `{tenant, key_sha256}` (the hex
/// SHA-256 of the key, so the configuration need not hold the secret). With `source`, the key
/// reads only that source's events (a Kloudless-style account token: `/v1/accounts/me/...`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub tenant: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// The one source this key may read; `None`: every source of the tenant.
    #[serde(default)]
    pub source: Option<String>,
}

impl KeyEntry {
    /// A tenant-wide key given as the secret itself.
    pub fn new(tenant: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            key: Some(key.into()),
            key_sha256: None,
            source: None,
        }
    }

    /// A tenant-wide key given as the hex SHA-256 of the secret.
    pub fn hashed(tenant: impl Into<String>, key_sha256: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            key: None,
            key_sha256: Some(key_sha256.into()),
            source: None,
        }
    }

    /// The same key, limited to one source of its tenant.
    pub fn for_source(self, source: impl Into<String>) -> Self {
        Self {
            source: Some(source.into()),
            ..self
        }
    }
}

/// One configured admin key: `{key}` or `{key_sha256}` (the hex SHA-256 of the key). An admin
/// key belongs to no tenant: it creates, lists and deletes API keys (`/v1/keys`) and is refused
/// everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminKeyEntry {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
}

impl AdminKeyEntry {
    /// An admin key given as the secret itself.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: Some(key.into()),
            key_sha256: None,
        }
    }

    /// An admin key given as the hex SHA-256 of the secret.
    pub fn hashed(key_sha256: impl Into<String>) -> Self {
        Self {
            key: None,
            key_sha256: Some(key_sha256.into()),
        }
    }
}

/// Why a key table could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyConfigError {
    #[error("API key entry {index}: the tenant must not be empty")]
    EmptyTenant { index: usize },
    #[error(
        "API key entry {index} (tenant {tenant:?}): give exactly one of `key` and `key_sha256`"
    )]
    KeyOrHash { index: usize, tenant: String },
    #[error("API key entry {index} (tenant {tenant:?}): the key must not be empty")]
    EmptyKey { index: usize, tenant: String },
    #[error(
        "API key entry {index} (tenant {tenant:?}): `key_sha256` must be 64 hexadecimal characters"
    )]
    BadHash { index: usize, tenant: String },
    #[error("API key entry {index} (tenant {tenant:?}): invalid `source`: {reason}")]
    BadSource {
        index: usize,
        tenant: String,
        reason: String,
    },
    #[error("API key entry {index} (tenant {tenant:?}) repeats the key of entry {first}")]
    Duplicate {
        index: usize,
        first: usize,
        tenant: String,
    },
    #[error("admin key entry {index}: give exactly one of `key` and `key_sha256`")]
    AdminKeyOrHash { index: usize },
    #[error("admin key entry {index}: the key must not be empty")]
    AdminEmptyKey { index: usize },
    #[error("admin key entry {index}: `key_sha256` must be 64 hexadecimal characters")]
    AdminBadHash { index: usize },
    #[error("admin key entry {index} repeats the key of admin key entry {first}")]
    AdminDuplicate { index: usize, first: usize },
    #[error(
        "admin key entry {index} is also a key of tenant {tenant:?}: an admin key must not be a tenant's key"
    )]
    AdminIsTenantKey { index: usize, tenant: String },
    #[error("stored API key {id:?}: `key_sha256` is not 64 hexadecimal characters")]
    StoredBadHash { id: String },
}

/// What is wrong with a `key`/`key_sha256` pair.
enum SecretError {
    KeyOrHash,
    EmptyKey,
    BadHash,
}

/// The SHA-256 a `key`/`key_sha256` pair stands for: exactly one must be given.
fn secret_hash(key: Option<String>, key_sha256: Option<String>) -> Result<[u8; 32], SecretError> {
    match (key, key_sha256) {
        (Some(key), None) if key.is_empty() => Err(SecretError::EmptyKey),
        (Some(key), None) => Ok(hash_key(&key)),
        (None, Some(hex)) => decode_hex(&hex).ok_or(SecretError::BadHash),
        _ => Err(SecretError::KeyOrHash),
    }
}

/// The tenant a request acts for, and the one source it is limited to when its key is
/// source-scoped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    name: Arc<str>,
    source: Option<SourceId>,
}

impl Tenant {
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The source a source-scoped key is limited to.
    pub fn source(&self) -> Option<&SourceId> {
        self.source.as_ref()
    }

    /// True when this caller may read the source's events: the tenant owns it and, for a
    /// source-scoped key, it is the key's source.
    pub fn may_read(&self, record: &SourceRecord) -> bool {
        record.tenant == *self.name && self.source.as_ref().is_none_or(|s| *s == record.id)
    }
}

/// Whom a presented key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Tenant(Tenant),
    Admin,
}

/// The key table: the SHA-256 of each key and whom it belongs to. Cheap to clone; clones share
/// the created keys, so a key created through one is known to all.
#[derive(Clone, Default)]
pub struct ApiKeys {
    /// Configured tenant keys.
    keys: Arc<[([u8; 32], Tenant)]>,
    /// Configured admin keys.
    admins: Arc<[[u8; 32]]>,
    /// Keys created through the API, by the SHA-256 of the key.
    created: Arc<RwLock<HashMap<[u8; 32], Tenant>>>,
}

impl std::fmt::Debug for ApiKeys {
    /// Counts only: not even a hash of a key is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .field("admins", &self.admins.len())
            .field("created", &self.created_read().len())
            .finish()
    }
}

impl ApiKeys {
    /// The configured tenant keys; no admin key, no created key.
    pub fn new(entries: impl IntoIterator<Item = KeyEntry>) -> Result<Self, KeyConfigError> {
        let mut keys: Vec<([u8; 32], Tenant)> = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let KeyEntry {
                tenant,
                key,
                key_sha256,
                source,
            } = entry;
            if tenant.is_empty() {
                return Err(KeyConfigError::EmptyTenant { index });
            }
            let hash = match secret_hash(key, key_sha256) {
                Ok(hash) => hash,
                Err(SecretError::EmptyKey) => {
                    return Err(KeyConfigError::EmptyKey { index, tenant });
                }
                Err(SecretError::BadHash) => {
                    return Err(KeyConfigError::BadHash { index, tenant });
                }
                Err(SecretError::KeyOrHash) => {
                    return Err(KeyConfigError::KeyOrHash { index, tenant });
                }
            };
            if let Some(first) = keys.iter().position(|(h, _)| *h == hash) {
                return Err(KeyConfigError::Duplicate {
                    index,
                    first,
                    tenant,
                });
            }
            let source =
                source
                    .map(SourceId::new)
                    .transpose()
                    .map_err(|e| KeyConfigError::BadSource {
                        index,
                        tenant: tenant.clone(),
                        reason: e.to_string(),
                    })?;
            keys.push((
                hash,
                Tenant {
                    name: tenant.into(),
                    source,
                },
            ));
        }
        Ok(Self {
            keys: keys.into(),
            ..Self::default()
        })
    }

    /// The same table with these admin keys (replacing any before). An admin key must not be
    /// one of the tenant keys, nor repeat another admin key.
    pub fn with_admins(
        self,
        entries: impl IntoIterator<Item = AdminKeyEntry>,
    ) -> Result<Self, KeyConfigError> {
        let mut admins: Vec<[u8; 32]> = Vec::new();
        for (index, AdminKeyEntry { key, key_sha256 }) in entries.into_iter().enumerate() {
            let hash = secret_hash(key, key_sha256).map_err(|e| match e {
                SecretError::KeyOrHash => KeyConfigError::AdminKeyOrHash { index },
                SecretError::EmptyKey => KeyConfigError::AdminEmptyKey { index },
                SecretError::BadHash => KeyConfigError::AdminBadHash { index },
            })?;
            if let Some(first) = admins.iter().position(|h| *h == hash) {
                return Err(KeyConfigError::AdminDuplicate { index, first });
            }
            if let Some((_, tenant)) = self.keys.iter().find(|(h, _)| *h == hash) {
                return Err(KeyConfigError::AdminIsTenantKey {
                    index,
                    tenant: tenant.as_str().to_owned(),
                });
            }
            admins.push(hash);
        }
        Ok(Self {
            admins: admins.into(),
            ..self
        })
    }

    /// The same table knowing these created keys too (those in the store at start-up).
    pub fn with_created(
        self,
        records: impl IntoIterator<Item = ApiKeyRecord>,
    ) -> Result<Self, KeyConfigError> {
        for record in records {
            self.add_created(&record)?;
        }
        Ok(self)
    }

    /// Makes a created key work, at once, in every clone of this table.
    pub(crate) fn add_created(&self, record: &ApiKeyRecord) -> Result<(), KeyConfigError> {
        let hash = decode_hex(&record.key_sha256).ok_or_else(|| KeyConfigError::StoredBadHash {
            id: record.id.clone(),
        })?;
        let tenant = Tenant {
            name: record.tenant.as_str().into(),
            source: record.source.clone(),
        };
        self.created
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hash, tenant);
        Ok(())
    }

    /// Makes a deleted key stop working, at once, in every clone of this table.
    pub(crate) fn remove_created(&self, record: &ApiKeyRecord) {
        if let Some(hash) = decode_hex(&record.key_sha256) {
            self.created
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&hash);
        }
    }

    fn created_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<[u8; 32], Tenant>> {
        // A writer that panicked left the map whole: an insert or a remove either happened or not.
        self.created.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant owning `key` (configured or created); `None` for an admin key or an unknown one.
    pub fn tenant(&self, key: &str) -> Option<Tenant> {
        match self.caller(key)? {
            Caller::Tenant(tenant) => Some(tenant),
            Caller::Admin => None,
        }
    }

    /// Whom `key` belongs to. Every configured entry (tenant and admin keys) is compared, without
    /// stopping early and with a comparison whose time does not depend on where the hashes
    /// differ; a key none of them holds is then looked up among the created keys by its hash.
    pub(crate) fn caller(&self, key: &str) -> Option<Caller> {
        let presented = hash_key(key);
        let mut found = None;
        for (hash, tenant) in self.keys.iter() {
            if constant_time_eq(hash, &presented) {
                found = Some(tenant);
            }
        }
        let mut admin = false;
        for hash in self.admins.iter() {
            admin |= constant_time_eq(hash, &presented);
        }
        // Configured admin and tenant keys never share a hash (`with_admins` refuses it).
        if admin {
            return Some(Caller::Admin);
        }
        if let Some(tenant) = found {
            return Some(Caller::Tenant(tenant.clone()));
        }
        self.created_read()
            .get(&presented)
            .map(|tenant| Caller::Tenant(tenant.clone()))
    }
}

/// The hex SHA-256 of a key, as `key_sha256` takes it.
pub fn key_sha256_hex(key: &str) -> String {
    hash_key(key).iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Whom the request's key belongs to, from `Authorization: Bearer <key>` (or `APIKey <key>`, the
/// scheme the Kloudless SDKs use for application keys); 401 when the header is missing or
/// malformed or the key unknown. The one parser of the header, for [`Tenant`] and [`Admin`].
fn caller(parts: &Parts, state: &ApiState) -> Result<Caller, ApiError> {
    let key = presented_key(parts)?;
    state
        .keys()
        .caller(key)
        .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))
}

/// The SHA-256 of the key a request presents: the key's identity for per-key limits.
pub(crate) fn presented_key_hash(headers: &axum::http::HeaderMap) -> Option<[u8; 32]> {
    presented_key_in(headers).ok().map(hash_key)
}

fn presented_key(parts: &Parts) -> Result<&str, ApiError> {
    presented_key_in(&parts.headers)
}

fn presented_key_in(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("missing Authorization header: send `Bearer <api key>`".into())
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    match value.split_once(' ') {
        Some((scheme, key))
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey") =>
        {
            Ok(key.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "the Authorization header must use the Bearer scheme: `Bearer <api key>`".into(),
        )),
    }
}

/// Extracts the tenant of a tenant key (configured or created); 401 without a known key, 403
/// `admin_key_not_allowed` for an admin key.
impl FromRequestParts<ApiState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match caller(parts, state)? {
            Caller::Tenant(tenant) => Ok(tenant),
            Caller::Admin => Err(ApiError::AdminKeyNotAllowed),
        }
    }
}

/// Proof that the request carries an admin key (`[[admin_keys]]`): what the `/v1/keys`
/// endpoints take. 401 without a known key, 403 `admin_key_required` for a tenant's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin(());

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match caller(parts, state)? {
            Caller::Admin => Ok(Admin(())),
            Caller::Tenant(_) => Err(ApiError::AdminKeyRequired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, key: Option<&str>, hash: Option<&str>) -> KeyEntry {
        KeyEntry {
            tenant: tenant.into(),
            key: key.map(Into::into),
            key_sha256: hash.map(Into::into),
            source: None,
        }
    }

    #[test]
    fn finds_the_tenant_by_key_or_by_configured_hash() {
        let hash = key_sha256_hex("b-secret");
        let keys = ApiKeys::new([
            entry("a", Some("a-secret"), None),
            entry("b", None, Some(&hash.to_uppercase())),
        ])
        .unwrap();
        assert_eq!(keys.tenant("a-secret").unwrap().as_str(), "a");
        assert_eq!(keys.tenant("b-secret").unwrap().as_str(), "b");
        assert!(keys.tenant("c-secret").is_none());
        assert!(keys.tenant("").is_none());
    }

    #[test]
    fn refuses_bad_entries_with_a_reason() {
        let err = |e: Vec<KeyEntry>| ApiKeys::new(e).unwrap_err();
        assert!(matches!(
            err(vec![entry("", Some("k"), None)]),
            KeyConfigError::EmptyTenant { index: 0 }
        ));
        assert!(matches!(
            err(vec![entry("a", Some("k"), Some(&key_sha256_hex("k")))]),
            KeyConfigError::KeyOrHash { .. }
        ));
        assert!(matches!(
            err(vec![entry("a", None, None)]),
            KeyConfigError::KeyOrHash { .. }
        ));
        assert!(matches!(
            err(vec![entry("a", None, Some("abc"))]),
            KeyConfigError::BadHash { .. }
        ));
        assert!(matches!(
            err(vec![
                entry("a", Some("k"), None),
                entry("b", None, Some(&key_sha256_hex("k")))
            ]),
            KeyConfigError::Duplicate {
                index: 1,
                first: 0,
                ..
            }
        ));
    }

    #[test]
    fn entries_deserialize_from_config() {
        let e: KeyEntry = serde_json::from_str(r#"{"tenant":"a","key":"k"}"#).unwrap();
        assert_eq!(e, entry("a", Some("k"), None));
        assert_eq!(e, KeyEntry::new("a", "k"));
        let e: KeyEntry =
            serde_json::from_str(r#"{"tenant":"a","key":"k","source":"s1"}"#).unwrap();
        assert_eq!(e, KeyEntry::new("a", "k").for_source("s1"));
        assert!(serde_json::from_str::<KeyEntry>(r#"{"tenant":"a","secret":"k"}"#).is_err());
    }

    fn created(id: &str, tenant: &str, key: &str, source: Option<&str>) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            tenant: tenant.into(),
            source: source.map(|s| SourceId::new(s).unwrap()),
            key_sha256: key_sha256_hex(key),
            label: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn admin_keys_are_told_apart_from_tenant_keys() {
        let keys = ApiKeys::new([KeyEntry::new("a", "a-secret")])
            .unwrap()
            .with_admins([
                AdminKeyEntry::new("root"),
                AdminKeyEntry::hashed(key_sha256_hex("root-2")),
            ])
            .unwrap();
        assert_eq!(keys.caller("root"), Some(Caller::Admin));
        assert_eq!(keys.caller("root-2"), Some(Caller::Admin));
        assert!(matches!(keys.caller("a-secret"), Some(Caller::Tenant(t)) if t.as_str() == "a"));
        assert_eq!(keys.caller("nobody"), None);
        // An admin key has no tenant.
        assert!(keys.tenant("root").is_none());
    }

    #[test]
    fn refuses_bad_admin_entries_with_a_reason() {
        let tenants = || ApiKeys::new([KeyEntry::new("a", "a-secret")]).unwrap();
        let err = |e: Vec<AdminKeyEntry>| tenants().with_admins(e).unwrap_err();
        let both = AdminKeyEntry {
            key: Some("k".into()),
            key_sha256: Some(key_sha256_hex("k")),
        };
        assert_eq!(err(vec![both]), KeyConfigError::AdminKeyOrHash { index: 0 });
        let neither = AdminKeyEntry {
            key: None,
            key_sha256: None,
        };
        assert_eq!(
            err(vec![AdminKeyEntry::new("ok"), neither]),
            KeyConfigError::AdminKeyOrHash { index: 1 }
        );
        assert_eq!(
            err(vec![AdminKeyEntry::new("")]),
            KeyConfigError::AdminEmptyKey { index: 0 }
        );
        assert_eq!(
            err(vec![AdminKeyEntry::hashed("abc")]),
            KeyConfigError::AdminBadHash { index: 0 }
        );
        assert_eq!(
            err(vec![
                AdminKeyEntry::new("k"),
                AdminKeyEntry::hashed(key_sha256_hex("k"))
            ]),
            KeyConfigError::AdminDuplicate { index: 1, first: 0 }
        );
        assert_eq!(
            err(vec![AdminKeyEntry::hashed(key_sha256_hex("a-secret"))]),
            KeyConfigError::AdminIsTenantKey {
                index: 0,
                tenant: "a".into()
            }
        );
        assert!(serde_json::from_str::<AdminKeyEntry>(r#"{"tenant":"a","key":"k"}"#).is_err());
    }

    #[test]
    fn created_keys_work_at_once_in_every_clone_and_stop_at_once() {
        let keys = ApiKeys::new([KeyEntry::new("a", "configured")])
            .unwrap()
            .with_created([created("key-1", "b", "stored", None)])
            .unwrap();
        let clone = keys.clone();
        assert_eq!(keys.tenant("stored").unwrap().as_str(), "b");
        let scoped = created("key-2", "a", "scoped", Some("s1"));
        clone.add_created(&scoped).unwrap();
        let tenant = keys.tenant("scoped").unwrap();
        assert_eq!(
            (tenant.as_str(), tenant.source().map(SourceId::as_str)),
            ("a", Some("s1"))
        );
        keys.remove_created(&scoped);
        assert!(clone.tenant("scoped").is_none());
        assert_eq!(clone.tenant("configured").unwrap().as_str(), "a");
        let mut bad = created("key-3", "a", "x", None);
        bad.key_sha256 = "zz".into();
        assert_eq!(
            keys.add_created(&bad).unwrap_err(),
            KeyConfigError::StoredBadHash { id: "key-3".into() }
        );
        assert_eq!(
            format!("{keys:?}"),
            "ApiKeys { keys: 1, admins: 0, created: 1 }"
        );
    }

    #[test]
    fn a_source_scoped_key_knows_its_source_and_refuses_a_bad_one() {
        let keys = ApiKeys::new([
            KeyEntry::new("a", "wide"),
            KeyEntry::new("a", "narrow").for_source("s1"),
        ])
        .unwrap();
        assert_eq!(keys.tenant("wide").unwrap().source(), None);
        let narrow = keys.tenant("narrow").unwrap();
        assert_eq!(narrow.as_str(), "a");
        assert_eq!(narrow.source().unwrap().as_str(), "s1");
        assert!(matches!(
            ApiKeys::new([KeyEntry::new("a", "k").for_source("no spaces")]).unwrap_err(),
            KeyConfigError::BadSource { index: 0, .. }
        ));
    }
}
