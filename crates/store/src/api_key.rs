//! API keys created through the API (an admin key creates them): who they belong to, never the
//! key itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::SourceId;

/// A created API key. Only the SHA-256 of the secret is stored: the secret is shown once, when
/// the key is created, and cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    /// The tenant whose sources the key reads.
    pub tenant: String,
    /// The one source the key is limited to; `None`: every source of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceId>,
    /// The hex SHA-256 of the key (64 lowercase hexadecimal characters).
    pub key_sha256: String,
    /// A note for people ("CI reader", "ACME's integration").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(with = "tributary_core::time::millis")]
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventStore, SledStore};
    use chrono::TimeZone;

    fn record(id: &str, tenant: &str, source: Option<&str>) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            tenant: tenant.into(),
            source: source.map(|s| SourceId::new(s).unwrap()),
            key_sha256: format!("{:064x}", id.len()),
            label: Some(format!("label of {id}")),
            created_at: Utc.timestamp_millis_opt(1_767_225_600_123).unwrap(),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn keys_are_put_listed_and_deleted() {
        rt().block_on(async {
            let s = SledStore::temporary().unwrap();
            assert_eq!(s.api_keys().unwrap(), vec![]);
            let a = record("key-a", "t1", None);
            let b = record("key-b", "t2", Some("src-1"));
            s.put_api_key(a.clone()).await.unwrap();
            s.put_api_key(b.clone()).await.unwrap();
            assert_eq!(s.api_keys().unwrap(), vec![a.clone(), b.clone()]);
            assert!(s.delete_api_key("key-b").await.unwrap());
            assert!(!s.delete_api_key("key-b").await.unwrap());
            assert!(!s.delete_api_key("key-unknown").await.unwrap());
            assert_eq!(s.api_keys().unwrap(), vec![a]);
        });
    }

    #[test]
    fn a_record_without_source_or_label_leaves_them_out() {
        let mut r = record("key-a", "t1", None);
        r.label = None;
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "key-a",
                "tenant": "t1",
                "key_sha256": r.key_sha256,
                "created_at": "2026-01-01T00:00:00.123Z",
            })
        );
        assert_eq!(serde_json::from_value::<ApiKeyRecord>(json).unwrap(), r);
    }

    #[test]
    fn keys_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let kept = record("key-kept", "t1", Some("src-1"));
        rt().block_on(async {
            let s = SledStore::open(dir.path()).unwrap();
            s.put_api_key(kept.clone()).await.unwrap();
            s.put_api_key(record("key-gone", "t1", None)).await.unwrap();
            assert!(s.delete_api_key("key-gone").await.unwrap());
        });
        rt().block_on(async {
            let s = SledStore::open(dir.path()).unwrap();
            assert_eq!(s.api_keys().unwrap(), vec![kept]);
        });
    }
}
