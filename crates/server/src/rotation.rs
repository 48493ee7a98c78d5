//! Rotated refresh tokens, stored: the [`CredentialWriter`] the registry gives providers, and
//! what keeps a restart from putting a configured (now void) refresh token back.
//!
//! When an upstream rotates a source's refresh token, every stored source of that provider whose
//! OAuth credentials hold the client id and the old token gets the new one (sources sharing an
//! Egnyte credential share its token), its access token is dropped (it came with the old grant),
//! and the credentials remember, in [`ROTATED_FROM`], a fingerprint of the credentials they were
//! given with. At start-up, a configured source whose credentials still have that fingerprint
//! keeps its stored (rotated) credentials; credentials changed in the configuration replace them.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tributary_core::{CredentialWriteError, CredentialWriter, RotatedRefreshToken};
use tributary_store::{EventStore, SourceRecord};

/// The field of stored credentials holding the SHA-256 (hex) of the credentials as given, once
/// a refresh token was rotated. Never handed to a provider.
pub const ROTATED_FROM: &str = "rotated_from_sha256";

/// Stores rotated refresh tokens in the sources' records (sealed, flushed).
pub struct StoreCredentialWriter {
    store: Arc<dyn EventStore>,
    /// Held from reading the records to writing them back, shared with every other
    /// read-modify-write of a source record (`PATCH`, delete: [`Registry::record_writes`]), so
    /// neither writes back a record the other changed meanwhile (a stale refresh token, or a
    /// deleted source brought back).
    ///
    /// [`Registry::record_writes`]: crate::registry::Registry::record_writes
    records: Arc<tokio::sync::Mutex<()>>,
}

impl StoreCredentialWriter {
    pub fn new(store: Arc<dyn EventStore>, records: Arc<tokio::sync::Mutex<()>>) -> Self {
        Self { store, records }
    }
}

#[async_trait::async_trait]
impl CredentialWriter for StoreCredentialWriter {
    async fn save_rotated(&self, r: &RotatedRefreshToken) -> Result<(), CredentialWriteError> {
        let _records = self.records.lock().await;
        let failed = |e: tributary_store::StoreError| CredentialWriteError(e.to_string());
        let holders: Vec<SourceRecord> = self
            .store
            .sources()
            .map_err(failed)?
            .into_iter()
            .filter(|s| holds(s, r))
            .collect();
        let mut count = 0;
        for record in holders {
            // Read again just before the write: a source deleted (or given new credentials)
            // since the scan is left alone, not brought back.
            let current = self
                .store
                .source(&record.tenant, &record.id)
                .map_err(failed)?;
            let Some(mut record) =
                current.filter(|c| c.incarnation == record.incarnation && holds(c, r))
            else {
                continue;
            };
            count += 1;
            let given = fingerprint(&record.credentials);
            if let Some(creds) = record.credentials.as_object_mut() {
                creds
                    .entry(ROTATED_FROM)
                    .or_insert_with(|| Value::String(given));
                creds.insert(
                    "refresh_token".into(),
                    Value::String(r.current.expose().to_owned()),
                );
                creds.remove("access_token");
                creds.remove("access_token_expires_at");
            }
            self.store.put_source(record).await.map_err(failed)?;
        }
        tracing::info!(
            provider = r.provider,
            sources = count,
            "stored a rotated refresh token"
        );
        Ok(())
    }
}

/// Whether `record`'s credentials are the OAuth credentials `r` rotated.
fn holds(record: &SourceRecord, r: &RotatedRefreshToken) -> bool {
    let c = &record.credentials;
    record.provider == r.provider
        && c["kind"] == "oauth"
        && c["client_id"].as_str() == Some(r.client_id.as_str())
        && c["refresh_token"].as_str() == Some(r.previous.expose())
}

/// The SHA-256 (hex) of credentials as given (without [`ROTATED_FROM`]).
fn fingerprint(credentials: &Value) -> String {
    let bytes = serde_json::to_vec(&without_marker(credentials)).unwrap_or_default();
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `credentials` as a provider reads them.
pub fn without_marker(credentials: &Value) -> Value {
    let mut out = credentials.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove(ROTATED_FROM);
    }
    out
}

/// The credentials a configured source starts with: the stored ones when a rotation replaced
/// the configured ones (which are void now), else the configured ones.
pub fn configured(stored: Option<&SourceRecord>, configured: &Value) -> Value {
    match stored {
        Some(s)
            if s.credentials[ROTATED_FROM].as_str() == Some(fingerprint(configured).as_str()) =>
        {
            s.credentials.clone()
        }
        _ => configured.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tributary_core::{Secret, SourceId};
    use tributary_store::SledStore;

    fn record(id: &str, provider: &str, credentials: Value) -> SourceRecord {
        SourceRecord {
            id: SourceId::new(id).unwrap(),
            tenant: "t".into(),
            incarnation: 0,
            provider: provider.into(),
            config: json!({}),
            credentials,
            paused: false,
            created_at: chrono::Utc::now(),
        }
    }

    fn oauth(refresh: &str) -> Value {
        json!({"kind": "oauth", "client_id": "c", "client_secret": "s",
               "refresh_token": refresh, "access_token": "a0"})
    }

    #[tokio::test]
    async fn stores_the_new_token_in_every_source_holding_the_old_and_keeps_it_over_the_config() {
        let store: Arc<dyn EventStore> = Arc::new(SledStore::temporary().unwrap());
        for (id, provider, creds) in [
            ("a", "egnyte", oauth("r1")),
            ("b", "egnyte", oauth("r1")),
            ("c", "egnyte", oauth("other")),
            ("d", "jive", oauth("r1")),
        ] {
            store.put_source(record(id, provider, creds)).await.unwrap();
        }
        let writer = StoreCredentialWriter::new(store.clone(), Default::default());
        let rotate = |previous: &str, current: &str| RotatedRefreshToken {
            provider: "egnyte",
            client_id: "c".into(),
            previous: Secret::new(previous),
            current: Secret::new(current),
        };
        writer.save_rotated(&rotate("r1", "r2")).await.unwrap();
        writer.save_rotated(&rotate("r2", "r3")).await.unwrap();
        let creds = |id: &str| {
            store
                .source("t", &SourceId::new(id).unwrap())
                .unwrap()
                .unwrap()
                .credentials
        };
        let given = fingerprint(&oauth("r1"));
        for id in ["a", "b"] {
            assert_eq!(
                creds(id),
                json!({"kind": "oauth", "client_id": "c", "client_secret": "s",
                       "refresh_token": "r3", ROTATED_FROM: given})
            );
        }
        assert_eq!(creds("c"), oauth("other"));
        assert_eq!(creds("d"), oauth("r1"), "another provider's source");
        // A restart with the configuration unchanged keeps the rotated token; changed
        // credentials in the configuration win.
        let stored = store.source("t", &SourceId::new("a").unwrap()).unwrap();
        assert_eq!(configured(stored.as_ref(), &oauth("r1")), creds("a"));
        assert_eq!(configured(stored.as_ref(), &oauth("new")), oauth("new"));
        assert_eq!(configured(None, &oauth("r1")), oauth("r1"));
        assert_eq!(without_marker(&creds("a"))[ROTATED_FROM], Value::Null);
    }

    /// A rotation does not read the records while another read-modify-write of them (a `PATCH`,
    /// a delete) holds the lock, so it can neither be overwritten by a stale copy nor bring a
    /// deleted source back.
    #[tokio::test]
    async fn a_rotation_waits_for_a_record_write_in_progress_and_sees_its_outcome() {
        let store: Arc<dyn EventStore> = Arc::new(SledStore::temporary().unwrap());
        store
            .put_source(record("a", "egnyte", oauth("r1")))
            .await
            .unwrap();
        let records: Arc<tokio::sync::Mutex<()>> = Default::default();
        let writer = Arc::new(StoreCredentialWriter::new(store.clone(), records.clone()));
        let held = records.lock().await;
        let rotation = tokio::spawn({
            let writer = writer.clone();
            async move {
                let r = RotatedRefreshToken {
                    provider: "egnyte",
                    client_id: "c".into(),
                    previous: Secret::new("r1"),
                    current: Secret::new("r2"),
                };
                writer.save_rotated(&r).await
            }
        });
        // While the lock is held, the other writer deletes the source; the rotation must not
        // have run (it would have written "r2" into the record about to be deleted).
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert!(!rotation.is_finished(), "the rotation waits for the lock");
        store
            .delete_source("t", &SourceId::new("a").unwrap())
            .await
            .unwrap();
        drop(held);
        rotation.await.unwrap().unwrap();
        assert!(
            store
                .source("t", &SourceId::new("a").unwrap())
                .unwrap()
                .is_none(),
            "the deleted source stays deleted"
        );
    }
}
