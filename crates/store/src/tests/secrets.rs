//! Secrets at rest: sealed under the current key, re-sealed from plain (an earlier build) or the
//! previous key on open, a wrong key refused by name, a private data directory, and no
//! plaintext of a credential in any file.

use super::upgrade::open_raw;
use super::{record, rt};
use crate::sled_store::trees;
use crate::*;
use std::path::Path;

const MARKER: &str = "marker-credential-5f1c9e0b";

fn with_marker(tenant: &str, id: &str) -> SourceRecord {
    let mut r = record(tenant, id);
    r.credentials = serde_json::json!({"kind": "bearer", "token": MARKER});
    r
}

fn subscription(id: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.into(),
        tenant: "t".into(),
        url: "https://example.com/hook".into(),
        secrets: SigningSecrets {
            current: format!("{MARKER}-hook"),
            previous: Some(PreviousSecret {
                secret: format!("{MARKER}-old"),
                until: super::t(60),
            }),
        },
        filter: Filter::default(),
        mode: DeliveryMode::Full,
        max_batch: DEFAULT_MAX_BATCH,
        description: None,
        paused: false,
        disabled: None,
        created_at: super::t(0),
    }
}

fn key() -> SecretKey {
    SecretKey::generate().unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn credentials_are_sealed_and_read_back() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(key())).unwrap();
        let r = s.put_source(with_marker("t", "s1")).await.unwrap();
        s.put_subscription(subscription("w1")).await.unwrap();
        let mut expected = with_marker("t", "s1");
        expected.incarnation = r.incarnation;
        assert_eq!(s.source("t", &r.id).unwrap(), Some(expected.clone()));
        assert_eq!(s.sources().unwrap(), vec![expected.clone()]);
        assert_eq!(s.sources_of("t").unwrap(), vec![expected]);
        assert_eq!(s.subscription("w1").unwrap(), Some(subscription("w1")));
        let raw = s.inner.sources.iter().next().unwrap().unwrap().1;
        let raw: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert!(
            raw["credentials"]["sealed"]
                .as_str()
                .unwrap()
                .starts_with("v1."),
            "{raw}"
        );
        assert_eq!(raw["provider"], "test", "only the secret is sealed");
    });
}

#[test]
fn plaintext_credentials_of_an_earlier_build_are_sealed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let k = key();
    rt().block_on(async {
        let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(k.clone())).unwrap();
        s.put_source(with_marker("t", "s1")).await.unwrap();
        s.put_subscription(subscription("w1")).await.unwrap();
    });
    {
        // As an earlier build wrote them: the records in plain JSON.
        let db = open_raw(dir.path());
        let sources = db.open_tree(trees::SOURCES).unwrap();
        let (k1, _) = sources.iter().next().unwrap().unwrap();
        let mut plain = with_marker("t", "s1");
        plain.incarnation = 1;
        sources
            .insert(k1, serde_json::to_vec(&plain).unwrap())
            .unwrap();
        db.open_tree("subscriptions")
            .unwrap()
            .insert("w1", serde_json::to_vec(&subscription("w1")).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(k.clone())).unwrap();
    assert_eq!(
        s.resealed(),
        Resealed {
            plain: 2,
            previous: 0
        }
    );
    let id = tributary_core::SourceId::new("s1").unwrap();
    assert_eq!(
        s.source("t", &id).unwrap().unwrap().credentials,
        with_marker("t", "s1").credentials
    );
    assert_eq!(s.subscription("w1").unwrap(), Some(subscription("w1")));
    let raw = s.inner.sources.iter().next().unwrap().unwrap().1;
    assert!(!raw.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
    drop(s);
    let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(k)).unwrap();
    assert_eq!(s.resealed(), Resealed::default(), "sealed once");
}

#[test]
fn secrets_under_the_previous_key_are_resealed_and_a_wrong_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (key(), key());
    rt().block_on(async {
        let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(old.clone())).unwrap();
        s.put_source(with_marker("acme", "crm")).await.unwrap();
        s.put_subscription(subscription("w1")).await.unwrap();
    });
    let rotated = SecretKeys::new(new.clone()).with_previous(Some(old.clone()));
    let s = SledStore::open_with_keys(dir.path(), rotated).unwrap();
    assert_eq!(
        s.resealed(),
        Resealed {
            plain: 0,
            previous: 2
        }
    );
    drop(s);
    // The new key alone reads everything now.
    let s = SledStore::open_with_keys(dir.path(), SecretKeys::new(new.clone())).unwrap();
    assert_eq!(s.resealed(), Resealed::default());
    assert_eq!(s.sources().unwrap().len(), 1);
    drop(s);
    // The old key alone no longer does: the open fails, naming the source.
    let e = SledStore::open_with_keys(dir.path(), SecretKeys::new(old.clone())).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "source acme/crm: credentials: sealed under key {}, which is neither the current key \
             ({}) nor the previous one; start with the key it was sealed under (as the previous \
             key to rotate)",
            new.id(),
            old.id()
        )
    );
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_private_and_its_files_are_its_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let s = SledStore::open(&dir).unwrap();
    rt().block_on(async { s.put_source(with_marker("t", "s1")).await.unwrap() });
    drop(s);
    let _again = SledStore::open(&dir).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut files = 0;
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o600, "{}", path.display());
                files += 1;
            }
        }
    }
    assert!(
        files >= 3,
        "the key file, sled's conf and db at least: {files}"
    );
    assert!(dir.join(DEFAULT_KEY_FILE).is_file());
}

#[test]
fn a_credentials_plaintext_is_in_no_file_after_create_and_after_delete() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        let r = s.put_source(with_marker("t", "s1")).await.unwrap();
        s.put_subscription(subscription("w1")).await.unwrap();
        assert_eq!(
            files_containing(dir.path(), MARKER.as_bytes()),
            Vec::<String>::new()
        );
        assert!(s.delete_source("t", &r.id).await.unwrap());
        assert!(s.delete_subscription("w1").await.unwrap());
        s.inner.db.flush().unwrap();
        assert_eq!(
            files_containing(dir.path(), MARKER.as_bytes()),
            Vec::<String>::new()
        );
    });
    // The search does find a value sled keeps in plain bytes (so the empty answers mean something).
    let db = open_raw(dir.path());
    db.insert("probe", MARKER.as_bytes()).unwrap();
    db.flush().unwrap();
    assert_eq!(files_containing(dir.path(), MARKER.as_bytes()).len(), 1);
}
