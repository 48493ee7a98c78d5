//! Secrets at rest, as an operator meets them: `tributary serve` as a process with
//! `TRIBUTARY_SECRET_KEY` (and `_PREVIOUS`) set, a key of the wrong length, a wrong key, a key
//! rotation, and a credential that appears in no file of the data directory.

use crate::process::{api_url, get, serve, signal, stderr, wait};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use tributary_core::SystemClock;
use tributary_sim::jive::{JiveSim, JiveSimConfig};

const KEY: &str = "secrets-key";
/// The Jive password: a marker to look for in the data directory's files.
const MARKER: &str = "pw-marker-3b9d0c1e77";

/// A key as `TRIBUTARY_SECRET_KEY` holds it.
fn key_text(byte: u8) -> String {
    tributary_store::SecretKey::from_bytes([byte; 32]).to_base64()
}

/// The base64 of 16 bytes: half a key.
const SHORT_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQ==";

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

async fn stop(child: &mut Child) -> String {
    signal(child, "TERM");
    let status = wait(child).await;
    let log = stderr(child);
    assert!(status.success(), "{status}: {log}");
    log
}

/// Starts and expects the start to fail; answers what it wrote to stderr.
async fn refused(config: &Path, env: &[(&str, String)]) -> String {
    let mut child = serve(Some(config), env);
    let status = wait(&mut child).await;
    let log = stderr(&mut child);
    assert!(!status.success(), "{log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_seals_under_the_variables_key_refuses_a_wrong_one_and_rotates_to_a_new_one() {
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 2,
            seed: 5,
            ..JiveSimConfig::new("u", MARKER)
        },
        Arc::new(SystemClock),
    );
    let (jive_url, _stop) = crate::on_loopback(move |l, stopped| jive.serve(l, stopped)).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[[keys]]\ntenant = \"t\"\nkey = \"{KEY}\"\n\
             [network]\nallow_private = [\"127.0.0.1/32\"]\n\
             [[sources]]\nid = \"jive-1\"\ntenant = \"t\"\nprovider = \"jive\"\n[sources.config]\n\
             base_url = \"{jive_url}\"\nstart = \"backfill\"\n\
             [sources.credentials]\nkind = \"basic\"\nusername = \"u\"\npassword = \"{MARKER}\"\n"
        ),
    )
    .unwrap();
    let (old, new) = (key_text(1), key_text(2));

    // Set: the variables are the binary's own, and the store is sealed under the key given.
    let env = [
        ("TRIBUTARY_SECRET_KEY", old.clone()),
        ("TRIBUTARY_SECRET_KEY_PREVIOUS", key_text(9)),
        ("TRIBUTARY_LOG", "info".to_owned()),
    ];
    let mut child = serve(Some(&config), &env);
    let api = api_url(&mut child).await;
    assert_eq!(get(&format!("{api}/v1/events"), Some(KEY)).await.0, 200);
    let log = stop(&mut child).await;
    assert!(
        log.contains("sealed under the key in TRIBUTARY_SECRET_KEY"),
        "{log}"
    );
    assert!(
        !data.join("secret.key").exists(),
        "no key file beside a given key"
    );
    assert_eq!(
        files_containing(&data, MARKER.as_bytes()),
        Vec::<String>::new()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    // A key of the wrong length, and another key: the start stops and says why.
    let log = refused(&config, &[("TRIBUTARY_SECRET_KEY", SHORT_KEY.to_owned())]).await;
    assert!(
        log.contains("TRIBUTARY_SECRET_KEY: the key is 16 bytes long; expected exactly 32"),
        "{log}"
    );
    let log = refused(&config, &[("TRIBUTARY_SECRET_KEY", new.clone())]).await;
    assert!(
        log.contains("source t/jive-1: credentials: sealed under key"),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");

    // Rotation: the new key with the old as previous re-seals; then the new key alone starts.
    let env = [
        ("TRIBUTARY_SECRET_KEY", new.clone()),
        ("TRIBUTARY_SECRET_KEY_PREVIOUS", old.clone()),
        ("TRIBUTARY_LOG", "info".to_owned()),
    ];
    let mut child = serve(Some(&config), &env);
    api_url(&mut child).await;
    let log = stop(&mut child).await;
    assert!(
        log.contains("sealed the stored secrets under the current key")
            && log.contains("previous_key=1"),
        "{log}"
    );
    let mut child = serve(Some(&config), &[("TRIBUTARY_SECRET_KEY", new)]);
    api_url(&mut child).await;
    stop(&mut child).await;
    let log = refused(&config, &[("TRIBUTARY_SECRET_KEY", old)]).await;
    assert!(log.contains("source t/jive-1: credentials"), "{log}");
    assert_eq!(
        files_containing(&data, MARKER.as_bytes()),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_serve_generates_a_private_key_file_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("TRIBUTARY_LISTEN", "127.0.0.1:0".to_owned()),
        ("TRIBUTARY_DATA_DIR", data.display().to_string()),
        ("TRIBUTARY_LOG", "info".to_owned()),
    ];
    let mut child = serve(None, &env);
    api_url(&mut child).await;
    let log = stop(&mut child).await;
    assert!(
        log.contains("generated a secret key for credentials at rest"),
        "{log}"
    );
    assert!(log.contains("back it up"), "{log}");
    let file = data.join("secret.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // The next start uses it, and says nothing of generating.
    let mut child = serve(None, &env);
    api_url(&mut child).await;
    let log = stop(&mut child).await;
    assert!(!log.contains("generated a secret key"), "{log}");
    assert!(
        log.contains("sealed under the data directory's key file"),
        "{log}"
    );
}
