//! Standard Webhooks signatures (spec v1.0.0, `standard-webhooks/standard-webhooks`
//! `spec/standard-webhooks.md`): a secret is `whsec_` and the base64 of 24 to 64 random bytes;
//! a request is signed over `{webhook-id}.{webhook-timestamp}.{body}` (the exact body bytes
//! sent) with HMAC-SHA256, and `webhook-signature` carries one `v1,<base64>` per valid secret,
//! space-separated, so a receiver that knows either secret of a rotation accepts it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

/// The prefix of a symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (the spec allows 24 to 64).
const GENERATED_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a secret given by a user is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret starts with \"whsec_\" followed by base64")]
    Prefix,
    #[error("the part after \"whsec_\" is not base64")]
    Base64,
    #[error("the secret holds {0} bytes; it must hold 24 to 64")]
    Length(usize),
    #[error("the OS random source failed: {0}")]
    Random(String),
}

/// A signing key: the bytes of a `whsec_` secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// The key of a `whsec_…` secret, checked as the spec says.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// `v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// A fresh secret: `whsec_` and the base64 of 32 random bytes.
pub fn generate_secret() -> Result<String, SecretError> {
    let mut bytes = [0u8; GENERATED_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The `webhook-signature` header value: one signature per key, space-separated, in the order
/// given (the current secret first).
pub fn signature_header(
    keys: &[SigningKey],
    webhook_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    keys.iter()
        .map(|k| k.sign(webhook_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec repository's test vector (recomputed with Python's `hmac` when this was written).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_specs_test_vector() {
        let key = SigningKey::parse(SECRET).unwrap();
        assert_eq!(
            key.sign(ID, TIMESTAMP, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_each_secret_current_first() {
        let current = SigningKey::parse(&generate_secret().unwrap()).unwrap();
        let previous = SigningKey::parse(SECRET).unwrap();
        let header = signature_header(&[current.clone(), previous.clone()], ID, TIMESTAMP, BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            vec![
                current.sign(ID, TIMESTAMP, BODY),
                previous.sign(ID, TIMESTAMP, BODY)
            ]
        );
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn secrets_are_checked_and_generated_as_the_spec_says() {
        let generated = generate_secret().unwrap();
        assert!(generated.starts_with("whsec_"));
        assert_eq!(SigningKey::parse(&generated).unwrap().0.len(), 32);
        assert_ne!(generated, generate_secret().unwrap());
        assert_eq!(SigningKey::parse("abc").unwrap_err(), SecretError::Prefix);
        assert_eq!(
            SigningKey::parse("whsec_!!").unwrap_err(),
            SecretError::Base64
        );
        let short = format!("whsec_{}", STANDARD.encode([1u8; 23]));
        assert_eq!(
            SigningKey::parse(&short).unwrap_err(),
            SecretError::Length(23)
        );
        let long = format!("whsec_{}", STANDARD.encode([1u8; 65]));
        assert_eq!(
            SigningKey::parse(&long).unwrap_err(),
            SecretError::Length(65)
        );
        assert!(format!("{:?}", SigningKey::parse(SECRET).unwrap()).contains("***"));
    }
}
