//! What several handler modules do with a request: read its JSON body, and make random ids.

use super::ApiError;
use axum::body::Bytes;

/// Parses a JSON body, naming the field at fault.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidBody(format!("the request body is not valid: {e}")))
}

/// A new random id: `prefix` and 16 hex digits.
pub(crate) fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        tracing::error!(error = %e, "the OS random source failed");
        ApiError::Internal
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
