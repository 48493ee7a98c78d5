//! `tributary serve` as a process (`tributary-child`, the same code as the `tributary` binary):
//! what an operator does to it from outside — signals and `TRIBUTARY_*` variables. Real time, so
//! every wait is bounded.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_cli::tail::Tail;
use tributary_core::SystemClock;
use tributary_sim::jive::{JiveSim, JiveSimConfig};
use tributary_store::{EventStore, Filter, SledStore};

const PATIENCE: Duration = Duration::from_secs(30);
const KEY: &str = "proc-key";
const ADMIN_KEY: &str = "proc-admin";

/// `tributary-child serve` with `env` added to an environment without any inherited
/// `TRIBUTARY_*` variable (a test runner's own, such as `TRIBUTARY_CRASH_SEED`, would stop it).
pub(crate) fn serve(config: Option<&Path>, env: &[(&str, String)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tributary-child"));
    command.arg("serve");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRIBUTARY_") {
            command.env_remove(name);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tributary-child")
}

/// The API's URL from the first stdout line (`api <url>`); what the child wrote to stderr when
/// it stopped before printing it.
pub(crate) async fn api_url(child: &mut Child) -> String {
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    match line.trim().strip_prefix("api ") {
        Some(url) => url.to_owned(),
        None => {
            let status = wait(child).await;
            panic!("serve did not start ({status}): {}", stderr(child));
        }
    }
}

pub(crate) fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut text).unwrap();
    }
    text
}

/// Waits for the child to exit, at most [`PATIENCE`] (then kills it and fails).
pub(crate) async fn wait(child: &mut Child) -> ExitStatus {
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if began.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the child did not exit within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

pub(crate) async fn get(url: &str, key: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_like_ctrl_c_and_exits_zero_with_everything_committed() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jive_url = format!("http://{}", listener.local_addr().unwrap());
    let jive = JiveSim::new(
        JiveSimConfig {
            items: 12,
            seed: 3,
            ..JiveSimConfig::new("u", "p")
        },
        Arc::new(SystemClock),
    );
    tokio::spawn(jive.serve(listener, async {
        let _ = stopped.await;
    }));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = {data:?}
[network]
allow_private = ["127.0.0.1/32"]
[[keys]]
tenant = "t"
key = "{KEY}"
[[sources]]
id = "jive-1"
tenant = "t"
provider = "jive"
[sources.config]
base_url = "{jive_url}"
start = "backfill"
skew_ms = 300
poll = {{ min_interval_ms = 100, max_interval_ms = 300, multiplier = 2.0, jitter = 0.0 }}
[sources.credentials]
kind = "basic"
username = "u"
password = "p"
"#
        ),
    )
    .unwrap();
    let mut child = serve(Some(&config), &[("TRIBUTARY_LOG", "info".into())]);
    let api = api_url(&mut child).await;
    let tail = Tail::new(&api, KEY, Vec::new()).unwrap();
    let began = Instant::now();
    let served = loop {
        let page = tail.page(None, 100).await.unwrap();
        if page.objects.len() == 12 {
            break page.objects;
        }
        assert!(began.elapsed() < PATIENCE, "{} events", page.objects.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    signal(&child, "TERM");
    let status = wait(&mut child).await;
    let log = stderr(&mut child);
    assert!(status.success(), "{status}: {log}");
    for says in ["signal=\"SIGTERM\"", "shutting down", "stopped: drained"] {
        assert!(log.contains(says), "the log should say {says:?}:\n{log}");
    }
    let _ = stop.send(());

    // Everything served before the signal is in the store the child closed.
    let store = SledStore::open(&data).unwrap();
    let sources: Vec<String> = store
        .sources()
        .unwrap()
        .into_iter()
        .map(|s| s.id.as_str().to_owned())
        .collect();
    assert_eq!(sources, ["jive-1"]);
    let stored = store
        .read("t", None, 100, &Filter::default())
        .await
        .unwrap();
    assert_eq!(stored.events.len(), served.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_tributary_variable_is_accepted_and_does_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-env");
    let env = [
        ("TRIBUTARY_LISTEN", "127.0.0.1:0".to_owned()),
        ("TRIBUTARY_DATA_DIR", data.display().to_string()),
        ("TRIBUTARY_LOG", "info".into()),
        ("TRIBUTARY_LOG_FORMAT", "json".into()),
        // `events tail`'s own: ignored by `serve`, used below by `events tail`.
        ("TRIBUTARY_API", "http://127.0.0.1:9".into()),
        ("TRIBUTARY_API_KEY", "not-this-one".into()),
        ("TRIBUTARY_ENGINE__MERGE_MAX_DELAY_MS", "5000".into()),
        (
            "TRIBUTARY_KEYS",
            format!("[{{tenant=\"t\",key=\"{KEY}\"}}]"),
        ),
        ("TRIBUTARY_ADMIN_KEYS", format!("[{{key=\"{ADMIN_KEY}\"}}]")),
        ("TRIBUTARY_RETENTION__MAX_AGE", "7d".into()),
        ("TRIBUTARY_RETENTION__MAX_EVENTS", "1000".into()),
        ("TRIBUTARY_METRICS__AUTH", "admin".into()),
        (
            "TRIBUTARY_NETWORK__ALLOW_PRIVATE",
            r#"["127.0.0.1/32"]"#.into(),
        ),
    ];
    let mut child = serve(None, &env);
    let api = api_url(&mut child).await;
    assert!(api.starts_with("http://127.0.0.1:"), "{api}");
    assert!(data.is_dir(), "the store is where TRIBUTARY_DATA_DIR says");
    assert_eq!(get(&format!("{api}/v1/events"), Some(KEY)).await.0, 200);
    assert_eq!(get(&format!("{api}/metrics"), None).await.0, 401);
    assert_eq!(get(&format!("{api}/metrics"), Some(KEY)).await.0, 403);
    // The start-up pass of retention, which runs beside the API.
    let began = Instant::now();
    loop {
        let (status, metrics) = get(&format!("{api}/metrics"), Some(ADMIN_KEY)).await;
        assert_eq!(status, 200, "{metrics}");
        if metrics.contains("\ntributary_retention_passes_total 1\n") {
            break;
        }
        assert!(began.elapsed() < PATIENCE, "no retention pass:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // `events tail` takes the API and the key from the environment.
    let tail = Command::new(env!("CARGO_BIN_EXE_tributary-child"))
        .args(["events", "tail"])
        .env("TRIBUTARY_API", &api)
        .env("TRIBUTARY_API_KEY", KEY)
        .env_remove("TRIBUTARY_LOG")
        .output()
        .unwrap();
    assert!(
        tail.status.success(),
        "{}",
        String::from_utf8_lossy(&tail.stderr)
    );

    signal(&child, "TERM");
    let status = wait(&mut child).await;
    let log = stderr(&mut child);
    assert!(status.success(), "{status}: {log}");
    // TRIBUTARY_LOG=info and TRIBUTARY_LOG_FORMAT=json: info lines, as JSON, on stderr.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["message"] == "retention pass finished"
            && l["fields"]["max_events"] == 1000
            && l["fields"]["max_age_s"] == 7 * 86_400),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_tributary_variable_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        None,
        &[
            ("TRIBUTARY_LISTEN", "127.0.0.1:0".into()),
            ("TRIBUTARY_DATA_DIR", dir.path().display().to_string()),
            ("TRIBUTARY_LISTN", "127.0.0.1:0".into()),
        ],
    );
    let status = wait(&mut child).await;
    let log = stderr(&mut child);
    assert!(!status.success());
    assert!(log.contains("unknown field: found `listn`"), "{log}");
}
