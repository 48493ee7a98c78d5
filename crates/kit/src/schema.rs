//! JSON Schema pieces that every provider's config schema repeats
//! ([`ProviderFactory::config_schema`](crate::ProviderFactory::config_schema)).

use serde_json::{Value, json};

/// A `poll` policy: every field optional, the provider's defaults fill the rest.
pub fn poll_policy() -> Value {
    json!({
        "type": "object",
        "description": "The adaptive poll interval; fields left out take the provider's defaults.",
        "additionalProperties": false,
        "properties": {
            "min_interval_ms": {"type": "integer", "minimum": 1},
            "max_interval_ms": {"type": "integer", "minimum": 1},
            "multiplier": {"type": "number", "minimum": 1.0},
            "jitter": {"type": "number", "minimum": 0.0, "exclusiveMaximum": 1.0}
        }
    })
}

/// A secret string: stored encrypted, never shown again.
pub fn secret(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "writeOnly": true, "description": description})
}

/// Bearer credentials: `{"kind": "bearer", "token": …}`.
pub fn bearer_credentials() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "token"],
        "properties": {
            "kind": {"const": "bearer"},
            "token": secret("The access token.")
        }
    })
}

/// OAuth2 refresh-token credentials, as the OAuth callback stores them.
pub fn oauth_credentials() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "client_id", "client_secret", "refresh_token"],
        "properties": {
            "kind": {"const": "oauth"},
            "client_id": {"type": "string", "minLength": 1},
            "client_secret": secret("The OAuth client's secret."),
            "refresh_token": secret("Renews the access token; a rotated one is stored back."),
            "access_token": secret("A current access token, if one is at hand."),
            "access_token_expires_at": {"type": "string", "format": "date-time"}
        }
    })
}

/// HTTP Basic credentials: `{"kind": "basic", "username": …, "password": …}`.
pub fn basic_credentials() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "username", "password"],
        "properties": {
            "kind": {"const": "basic"},
            "username": {"type": "string", "minLength": 1},
            "password": secret("The password.")
        }
    })
}

/// An integer property with bounds and a default.
pub fn integer(minimum: u64, maximum: u64, default: u64, description: &str) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": maximum, "default": default,
        "description": description})
}

/// A string property from a fixed list, with its default.
pub fn one_of(values: &[&str], default: &str, description: &str) -> Value {
    json!({"type": "string", "enum": values, "default": default, "description": description})
}
