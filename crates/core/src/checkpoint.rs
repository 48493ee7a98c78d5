//! The opaque position a provider resumes from.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Why a checkpoint could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("a checkpoint must serialize to a JSON object with a \"version\" field, got: {0}")]
    Unversioned(String),
    #[error("checkpoint does not serialize to JSON: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("checkpoint {checkpoint} is not a record this provider understands: {source}")]
    Decode {
        checkpoint: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Where a source resumes: versioned JSON owned by its provider, opaque to everything else.
///
/// The store writes it in the same transaction as the events that precede it. Providers define a
/// tagged record (`#[serde(tag = "version")] enum MyCheckpoint { V1 { .. } }`) and convert with
/// [`Checkpoint::encode`] and [`Checkpoint::decode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(serde_json::Value);

impl Checkpoint {
    /// Wraps a provider's record; it must be a JSON object with a `version` field.
    pub fn encode<T: Serialize>(record: &T) -> Result<Self, CheckpointError> {
        Self::from_json(serde_json::to_value(record).map_err(CheckpointError::Encode)?)
    }

    /// Wraps JSON that is already a versioned object.
    pub fn from_json(value: serde_json::Value) -> Result<Self, CheckpointError> {
        match value.as_object() {
            Some(map) if map.contains_key("version") => Ok(Self(value)),
            _ => Err(CheckpointError::Unversioned(value.to_string())),
        }
    }

    /// Reads the provider's record back.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, CheckpointError> {
        T::deserialize(&self.0).map_err(|source| CheckpointError::Decode {
            checkpoint: self.0.to_string(),
            source,
        })
    }

    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "version")]
    enum Record {
        V1 { last_id: u64 },
    }

    #[test]
    fn round_trips_a_versioned_record() {
        let c = Checkpoint::encode(&Record::V1 { last_id: 7 }).unwrap();
        assert_eq!(c.as_json().to_string(), r#"{"last_id":7,"version":"V1"}"#);
        assert_eq!(c.decode::<Record>().unwrap(), Record::V1 { last_id: 7 });
    }

    #[test]
    fn refuses_unversioned_json() {
        let err = Checkpoint::encode(&42).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a checkpoint must serialize to a JSON object with a \"version\" field, got: 42"
        );
        assert!(Checkpoint::from_json(serde_json::json!({"last_id": 1})).is_err());
    }

    #[test]
    fn decode_names_the_checkpoint() {
        let c = Checkpoint::from_json(serde_json::json!({"version": "V9"})).unwrap();
        let err = c.decode::<Record>().unwrap_err().to_string();
        assert!(
            err.starts_with(r#"checkpoint {"version":"V9"} is not a record"#),
            "{err}"
        );
    }
}
