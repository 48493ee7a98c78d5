//! Secrets at rest: a stored secret (a source's credentials, a subscription's signing secret) is
//! written as `{"sealed": "v1.<key id>.<base64 of nonce ‖ ciphertext ‖ tag>"}`, sealed with
//! XChaCha20-Poly1305 under the store's current key, with a random 24-byte nonce per value and
//! the owner of the value (`source <tenant>/<id>`, `subscription <id>`) as associated data, so a
//! sealed value moved to another record does not open.
//!
//! A value stored before this format (plain JSON, by an earlier build) or sealed under the
//! previous key still reads; [`crate::SledStore`] re-seals both under the current key when it
//! opens.

use crate::secret_key::{KeyId, SecretKeys};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// The one field of a sealed value.
const FIELD: &str = "sealed";
/// The format version a sealed value starts with.
const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;

/// Why a sealed value could not be opened (or a value sealed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "sealed under key {found}, which is neither the current key ({current}) nor the previous one; start with the key it was sealed under (as the previous key to rotate)"
    )]
    UnknownKey { found: String, current: String },
    #[error(
        "does not open under key {key}: the key file or variable holds another key with the same id, or the value was altered"
    )]
    Rejected { key: String },
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    #[error("sealed with an unknown format version {0:?}")]
    Version(String),
    #[error("could not seal: {0}")]
    Seal(String),
}

/// How a stored value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// Sealed under the current key.
    Current,
    /// Sealed under the previous key: to re-seal.
    Previous,
    /// Stored plain by an earlier build: to seal.
    Plain,
}

/// Seals and opens values under a store's keys.
#[derive(Debug, Clone)]
pub(crate) struct Sealer {
    keys: SecretKeys,
}

impl Sealer {
    pub(crate) fn new(keys: SecretKeys) -> Self {
        Self { keys }
    }

    /// `value` sealed under the current key, bound to `owner`.
    pub(crate) fn seal(
        &self,
        value: &serde_json::Value,
        owner: &str,
    ) -> Result<serde_json::Value, SealError> {
        let key = &self.keys.current;
        let plain = serde_json::to_vec(value).map_err(|e| SealError::Seal(e.to_string()))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Seal(e.to_string()))?;
        let cipher = XChaCha20Poly1305::new(&Key::from(*key.bytes()));
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|e| SealError::Seal(e.to_string()))?;
        let mut data = Vec::with_capacity(NONCE_LEN + sealed.len());
        data.extend_from_slice(&nonce);
        data.extend_from_slice(&sealed);
        Ok(serde_json::json!({
            FIELD: format!("{VERSION}.{}.{}", key.id(), STANDARD.encode(data))
        }))
    }

    /// The value `stored` holds (opened when sealed), and how it was found.
    pub(crate) fn open(
        &self,
        stored: serde_json::Value,
        owner: &str,
    ) -> Result<(serde_json::Value, Found), SealError> {
        let Some(text) = sealed_text(&stored) else {
            return Ok((stored, Found::Plain));
        };
        let mut parts = text.splitn(3, '.');
        let (Some(version), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed("expected version.key.data"));
        };
        if version != VERSION {
            return Err(SealError::Version(version.chars().take(16).collect()));
        }
        let id = KeyId::parse(id).ok_or(SealError::Malformed("bad key id"))?;
        let Some(key) = self.keys.by_id(id) else {
            return Err(SealError::UnknownKey {
                found: id.to_string(),
                current: self.keys.current.id().to_string(),
            });
        };
        let data = STANDARD
            .decode(data)
            .map_err(|_| SealError::Malformed("bad base64"))?;
        if data.len() < NONCE_LEN {
            return Err(SealError::Malformed("too short"));
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| SealError::Malformed("too short"))?;
        let cipher = XChaCha20Poly1305::new(&Key::from(*key.bytes()));
        let plain = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SealError::Rejected {
                key: id.to_string(),
            })?;
        let value = serde_json::from_slice(&plain)
            .map_err(|_| SealError::Malformed("the opened value is not JSON"))?;
        let found = if id == self.keys.current.id() {
            Found::Current
        } else {
            Found::Previous
        };
        Ok((value, found))
    }
}

/// The text of a sealed value: an object with the one field `sealed`, a string.
fn sealed_text(stored: &serde_json::Value) -> Option<&str> {
    let map = stored.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.get(FIELD)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;
    use serde_json::json;

    fn keys() -> (SecretKey, SecretKey) {
        (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        )
    }

    #[test]
    fn seals_with_a_fresh_nonce_and_opens_for_the_same_owner_only() {
        let (k1, _) = keys();
        let sealer = Sealer::new(SecretKeys::new(k1.clone()));
        let creds = json!({"kind": "bearer", "token": "marker-7f3a"});
        let a = sealer.seal(&creds, "source t/s1").unwrap();
        let b = sealer.seal(&creds, "source t/s1").unwrap();
        assert_ne!(a, b, "a new nonce each time");
        let text = a["sealed"].as_str().unwrap();
        assert!(text.starts_with(&format!("v1.{}.", k1.id())), "{text}");
        assert!(!text.contains("marker-7f3a"));
        assert_eq!(
            sealer.open(a.clone(), "source t/s1").unwrap(),
            (creds.clone(), Found::Current)
        );
        assert_eq!(
            sealer.open(a, "source t/s2").unwrap_err(),
            SealError::Rejected {
                key: k1.id().to_string()
            }
        );
        assert_eq!(
            sealer.open(creds.clone(), "source t/s1").unwrap(),
            (creds, Found::Plain)
        );
    }

    #[test]
    fn opens_under_the_previous_key_and_names_an_unknown_one() {
        let (k1, k2) = keys();
        let old = Sealer::new(SecretKeys::new(k1.clone()));
        let sealed = old.seal(&json!("s3cret"), "subscription w").unwrap();
        let rotated = Sealer::new(SecretKeys::new(k2.clone()).with_previous(Some(k1.clone())));
        assert_eq!(
            rotated.open(sealed.clone(), "subscription w").unwrap(),
            (json!("s3cret"), Found::Previous)
        );
        let without = Sealer::new(SecretKeys::new(k2.clone()));
        assert_eq!(
            without.open(sealed, "subscription w").unwrap_err(),
            SealError::UnknownKey {
                found: k1.id().to_string(),
                current: k2.id().to_string()
            }
        );
    }
}
