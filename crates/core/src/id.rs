//! Newtypes for ids and positions, so they cannot be swapped.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} {value:?} is longer than {max} bytes")]
    TooLong {
        what: &'static str,
        value: String,
        max: usize,
    },
    #[error(
        "source id {value:?} may only contain ASCII letters, digits, '.', '_', ':' and '-' (found {found:?})"
    )]
    InvalidChar { value: String, found: char },
}

/// The id of one configured source (one Egnyte domain, one Jive community, ...).
///
/// Letters, digits, `.`, `_`, `:` and `-`, at most 128 bytes: it is used in storage keys and URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = SourceName, pattern = r"^[A-Za-z0-9._:-]{1,128}$")
)]
#[serde(transparent)]
pub struct SourceId(String);

impl SourceId {
    pub const MAX_LEN: usize = 128;

    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty { what: "source id" });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what: "source id",
                value,
                max: Self::MAX_LEN,
            });
        }
        if let Some(found) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(IdError::InvalidChar { value, found });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for SourceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for SourceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// The stable id of one event: derived from the upstream id (or object id and version time when
/// synthesized), so a re-polled event has the same id and the store can absorb it. Unique within
/// a source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    pub const MAX_LEN: usize = 512;

    pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(IdError::Empty { what: "event id" });
        }
        if value.len() > Self::MAX_LEN {
            return Err(IdError::TooLong {
                what: "event id",
                value,
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// A position in the unified stream: assigned by the store's merge, starting at 1, strictly
/// increasing, gap-free and never reused.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    pub fn get(self) -> u64 {
        self.0
    }

    /// The big-endian bytes, which sort as the numbers do (storage keys).
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids_are_checked() {
        assert!(SourceId::new("egnyte-acme.prod:1").is_ok());
        assert_eq!(SourceId::new(""), Err(IdError::Empty { what: "source id" }));
        assert!(matches!(
            SourceId::new("a/b"),
            Err(IdError::InvalidChar { found: '/', .. })
        ));
        assert!(matches!(
            SourceId::new("a\0b"),
            Err(IdError::InvalidChar { found: '\0', .. })
        ));
        assert!(matches!(
            SourceId::new("x".repeat(129)),
            Err(IdError::TooLong { .. })
        ));
        let err = serde_json::from_str::<SourceId>("\"bad id\"").unwrap_err();
        assert!(err.to_string().contains("may only contain"), "{err}");
    }

    #[test]
    fn event_ids_must_not_be_empty() {
        assert!(EventId::new("").is_err());
        assert_eq!(EventId::new("42").unwrap().as_str(), "42");
    }
}
