//! API keys: who may call, for which tenant, and optionally for which one source. Only SHA-256
//! hashes of the keys are kept.

use super::{ApiError, ApiState};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tributary_core::SourceId;
use tributary_store::SourceRecord;

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

/// The key table: SHA-256 of each key and the tenant it belongs to.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Arc<[([u8; 32], Tenant)]>,
}

impl ApiKeys {
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
            let hash = match (key, key_sha256) {
                (Some(key), None) if key.is_empty() => {
                    return Err(KeyConfigError::EmptyKey { index, tenant });
                }
                (Some(key), None) => hash_key(&key),
                (None, Some(hex)) => decode_hex(&hex).ok_or_else(|| KeyConfigError::BadHash {
                    index,
                    tenant: tenant.clone(),
                })?,
                _ => return Err(KeyConfigError::KeyOrHash { index, tenant }),
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
        Ok(Self { keys: keys.into() })
    }

    /// The tenant owning `key`. Every entry is compared, without stopping early and with a
    /// comparison whose time does not depend on where the hashes differ.
    pub fn tenant(&self, key: &str) -> Option<Tenant> {
        let presented = hash_key(key);
        let mut found = None;
        for (hash, tenant) in self.keys.iter() {
            if constant_time_eq(hash, &presented) {
                found = Some(tenant.clone());
            }
        }
        found
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

/// Extracts the tenant from `Authorization: Bearer <key>` (or `APIKey <key>`, the scheme the
/// Kloudless SDKs use for application keys); answers 401 otherwise.
impl FromRequestParts<ApiState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization header: send `Bearer <api key>`".into())
        })?;
        let value = value.to_str().map_err(|_| {
            ApiError::Unauthorized("the Authorization header is not valid text".into())
        })?;
        let key = match value.split_once(' ') {
            Some((scheme, key))
                if scheme.eq_ignore_ascii_case("bearer")
                    || scheme.eq_ignore_ascii_case("apikey") =>
            {
                key.trim()
            }
            _ => {
                return Err(ApiError::Unauthorized(
                    "the Authorization header must use the Bearer scheme: `Bearer <api key>`"
                        .into(),
                ));
            }
        };
        state
            .keys()
            .tenant(key)
            .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))
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
