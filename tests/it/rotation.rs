//! Rotated refresh tokens survive a killed server: `tributary serve` as a process polls a
//! simulator that answers every refresh with a new refresh token and voids the old one; the
//! process is killed (`SIGKILL`, no drain) after the rotation, restarted with the same
//! configuration (which still names the first, now void, token), and must go on polling with the
//! token it stored. Real time, so every wait is bounded.

use crate::process::{api_url, get, serve, stderr, wait};
use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_core::SystemClock;
use tributary_sim::egnyte::{EgnyteSim, EgnyteSimConfig, ThrottleMode, TokenMode};
use tributary_sim::jive::{JiveSim, JiveSimConfig};
use tributary_store::{EventStore, SledStore};

const PATIENCE: Duration = Duration::from_secs(30);
const KEY: &str = "rotation-key";
const POLL: &str =
    "poll = { min_interval_ms = 100, max_interval_ms = 300, multiplier = 2.0, jitter = 0.0 }";

fn write_config(dir: &Path, data: &Path, source: &str) -> std::path::PathBuf {
    let config = dir.join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[[keys]]\ntenant = \"t\"\nkey = \"{KEY}\"\n[network]\nallow_private = [\"127.0.0.1/32\"]\n{source}"
        ),
    )
    .unwrap();
    config
}

/// The ids of the tenant's events, once there are `n` (bounded wait).
async fn events(api: &str, n: usize) -> Vec<String> {
    let began = Instant::now();
    loop {
        let (status, body) = get(&format!("{api}/v1/events?page_size=100"), Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        let ids: Vec<String> = body["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() >= n {
            assert_eq!(ids.len(), n, "more events than expected: {ids:?}");
            return ids;
        }
        assert!(began.elapsed() < PATIENCE, "{} of {n} events", ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The source's status once it has committed a poll (bounded wait).
async fn committed(api: &str, id: &str) -> Value {
    let began = Instant::now();
    loop {
        let (status, body) = get(&format!("{api}/v1/sources/{id}"), Some(KEY)).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        if !body["status"]["committed_at"].is_null() {
            return body["status"].clone();
        }
        assert!(
            body["status"]["stopped"].is_null(),
            "the source stopped: {body}"
        );
        assert!(began.elapsed() < PATIENCE, "no committed poll: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the child without letting it drain, as a crash or `kill -9` would.
async fn kill(child: &mut Child) {
    child.kill().unwrap();
    let status = wait(child).await;
    assert!(!status.success(), "{status}");
}

async fn stop(child: &mut Child) {
    crate::process::signal(child, "TERM");
    let status = wait(child).await;
    let log = stderr(child);
    assert!(status.success(), "{status}: {log}");
}

/// The refresh token the store holds for the source (the child stopped).
fn stored_refresh_token(data: &Path, id: &str) -> String {
    let store = SledStore::open(data).unwrap();
    let source = store
        .sources()
        .unwrap()
        .into_iter()
        .find(|s| s.id.as_str() == id)
        .unwrap();
    source.credentials["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_jive_refresh_token_survives_a_kill_and_polling_goes_on() {
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 4,
            seed: 11,
            ..JiveSimConfig::new("u", "p")
        },
        Arc::new(SystemClock),
    );
    jive.set_rotate_refresh_tokens(true);
    let sim = jive.clone();
    let (jive_url, _stop) = crate::on_loopback(move |l, stopped| sim.serve(l, stopped)).await;
    let (client_id, client_secret) = ("tributary-addon", "tributary-addon-secret");
    let token = |form: Vec<(&'static str, String)>| {
        let url = format!("{jive_url}/oauth2/token");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(client_id, Some(client_secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // The refresh token an operator got once, and configured.
    let (status, grant) = token(vec![
        ("grant_type", "password".into()),
        ("username", "u".into()),
        ("password", "p".into()),
    ])
    .await;
    assert_eq!(status, 200, "{grant}");
    let first = grant["refresh_token"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &data,
        &format!(
            "[[sources]]\nid = \"jive-1\"\ntenant = \"t\"\nprovider = \"jive\"\n[sources.config]\n\
             base_url = \"{jive_url}\"\nstart = \"backfill\"\nskew_ms = 300\n{POLL}\n\
             [sources.credentials]\nkind = \"oauth\"\nclient_id = \"{client_id}\"\n\
             client_secret = \"{client_secret}\"\nrefresh_token = \"{first}\"\n"
        ),
    );

    let mut child = serve(Some(&config), &[]);
    let api = api_url(&mut child).await;
    let before = events(&api, 4).await;
    kill(&mut child).await;
    // The first poll rotated the configured token: it is void upstream now.
    let (status, refused) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", first.clone()),
    ])
    .await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &Value::from("invalid_grant"))
    );

    // Two new contents while the server is down, then a restart with the same configuration.
    let place = jive.places()[0].place_id;
    jive.create("document", "after the kill 1", place).unwrap();
    jive.create("document", "after the kill 2", place).unwrap();
    let mut child = serve(Some(&config), &[]);
    let api = api_url(&mut child).await;
    let after = events(&api, 6).await;
    assert_eq!(
        after[..4],
        before[..],
        "the events before the kill, unchanged"
    );
    let status = committed(&api, "jive-1").await;
    assert_eq!(status["stopped"], Value::Null, "{status}");
    assert_eq!(status["consecutive_failures"], 0, "{status}");
    stop(&mut child).await;

    // The store holds the newest token, which the simulator still honours.
    let stored = stored_refresh_token(&data, "jive-1");
    assert_ne!(stored, first);
    let (status, _) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", stored),
    ])
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_egnyte_refresh_token_survives_a_kill_and_polling_goes_on() {
    let egnyte = EgnyteSim::new(
        EgnyteSimConfig {
            seed: 12,
            throttle: ThrottleMode::Off,
            daily_quota: None,
            token_mode: TokenMode::Expiring {
                lifetime_secs: 3600,
            },
            ..EgnyteSimConfig::default()
        },
        Arc::new(SystemClock),
    );
    egnyte.set_rotate_refresh_tokens(true);
    let sim = egnyte.clone();
    let (egnyte_url, _stop) = crate::on_loopback(move |l, stopped| sim.serve(l, stopped)).await;
    let (client_id, client_secret) = ("tributary-app", "tributary-secret");
    let token = |form: Vec<(&'static str, String)>| {
        let url = format!("{egnyte_url}/puboauth/token");
        async move {
            let mut form = form;
            form.push(("client_id", client_id.into()));
            form.push(("client_secret", client_secret.into()));
            let r = reqwest::Client::new()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, grant) = token(vec![
        ("grant_type", "password".into()),
        ("username", "alice".into()),
        ("password", "alice-password".into()),
    ])
    .await;
    assert_eq!(status, 200, "{grant}");
    let first = grant["refresh_token"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &data,
        &format!(
            "[[sources]]\nid = \"egnyte-1\"\ntenant = \"t\"\nprovider = \"egnyte\"\n[sources.config]\n\
             base_url = \"{egnyte_url}\"\nstart = \"oldest\"\nsuppress = \"none\"\n\
             watermark_skew_ms = 300\n{POLL}\n\
             [sources.credentials]\nkind = \"oauth\"\nclient_id = \"{client_id}\"\n\
             client_secret = \"{client_secret}\"\nrefresh_token = \"{first}\"\n"
        ),
    );

    let mut child = serve(Some(&config), &[]);
    let api = api_url(&mut child).await;
    committed(&api, "egnyte-1").await;
    let generated = egnyte.generate(3);
    assert_eq!(generated.len(), 3);
    let before = events(&api, 3).await;
    kill(&mut child).await;
    let (status, refused) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", first.clone()),
    ])
    .await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &Value::from("invalid_grant"))
    );

    assert_eq!(egnyte.generate(2).len(), 2);
    let mut child = serve(Some(&config), &[]);
    let api = api_url(&mut child).await;
    let after = events(&api, 5).await;
    assert_eq!(
        after[..3],
        before[..],
        "the events before the kill, unchanged"
    );
    let status = committed(&api, "egnyte-1").await;
    assert_eq!(status["stopped"], Value::Null, "{status}");
    assert_eq!(status["consecutive_failures"], 0, "{status}");
    stop(&mut child).await;

    let stored = stored_refresh_token(&data, "egnyte-1");
    assert_ne!(stored, first);
    let (status, _) = token(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", stored),
    ])
    .await;
    assert_eq!(status, 200);
}
