//! A store that cannot write, for real: `tributary serve` (as `tributary-child`) whose files may
//! not grow past a few megabytes (`ulimit -f`, with `SIGXFSZ` ignored, so a write past the limit
//! fails with `EFBIG` as a write to a full disk fails with `ENOSPC`; no mount needed). The
//! process must say so on `/readyz`, exit with status 74 within `[storage] exit_after`, and keep
//! every event it served. `tests/disk/full-disk.sh` does the same on a real full tmpfs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tributary_cli::tail::Tail;
use tributary_core::SystemClock;
use tributary_sim::egnyte::{EgnyteSim, EgnyteSimConfig, ThrottleMode};
use tributary_store::{EventStore, Filter, SledStore};

const PATIENCE: Duration = Duration::from_secs(120);
const KEY: &str = "disk-key";
/// The largest file the child may write, in KiB (`ulimit -f`).
const FILE_LIMIT_KIB: u32 = 6 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_makes_serve_exit_74_and_keeps_what_it_served() {
    let (egnyte_url, _stop_sim) = crate::on_loopback(|listener, stop| {
        EgnyteSim::new(
            EgnyteSimConfig {
                backlog: 40_000,
                seed: 11,
                throttle: ThrottleMode::Off,
                daily_quota: None,
                ..EgnyteSimConfig::default()
            },
            std::sync::Arc::new(SystemClock),
        )
        .serve(listener, stop)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tributary.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = {data:?}
[providers.egnyte]
calls_per_second = 4
[metrics]
auth = "none"
[network]
allow_private = ["127.0.0.1/32"]
[storage]
min_free_bytes = 0
check_interval = "200ms"
read_timeout = "1s"
write_timeout = "2s"
exit_after = "6s"
[[keys]]
tenant = "t"
key = "{KEY}"
[[sources]]
id = "egnyte-1"
tenant = "t"
provider = "egnyte"
[sources.config]
base_url = "{egnyte_url}"
start = "oldest"
suppress = "none"
poll = {{ min_interval_ms = 100, max_interval_ms = 500, multiplier = 2.0, jitter = 0.0 }}
[sources.credentials]
kind = "bearer"
token = "test-token"
"#
        ),
    )
    .unwrap();
    let mut child = serve_with_file_limit(&config);
    let api = api_url(&mut child);
    let tail = Tail::new(&api, KEY, Vec::new()).unwrap();
    let http = reqwest::Client::new();

    // Read what is served, and ask /readyz, until the child gives up on its store.
    let began = Instant::now();
    let mut served: Vec<(u64, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut not_ready: Option<String> = None;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(began.elapsed() < PATIENCE, "the child still runs");
        if let Ok(page) = tail.page(cursor.as_deref(), 1_000).await {
            for e in &page.objects {
                served.push((e.seq.unwrap().0, e.id.to_string()));
            }
            cursor = Some(page.cursor);
        }
        let ready = http
            .get(format!("{api}/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(ready) = ready
            && ready.status() == 503
            && not_ready.is_none()
        {
            not_ready = Some(ready.text().await.unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = stderr(&mut child);
    assert_eq!(status.code(), Some(74), "{status}: {log}");
    assert!(
        log.contains("store writes have failed for") && log.contains("exiting with status 74"),
        "{log}"
    );
    let not_ready = not_ready.expect("/readyz answered 503 before the exit");
    assert!(
        not_ready.contains(r#""code":"not_ready""#)
            && not_ready.contains("the event store is unavailable: "),
        "{not_ready}"
    );
    assert!(served.len() >= 100, "only {} events served", served.len());

    // Nothing served is lost: the store the child left holds each at its position.
    let store = SledStore::open(&data).unwrap();
    let stored = store
        .read("t", None, 100_000, &Filter::default())
        .await
        .unwrap();
    assert!(stored.events.len() >= served.len());
    for (seq, id) in &served {
        let event = stored.events[(*seq - 1) as usize].event().unwrap();
        assert_eq!(
            (event.seq.unwrap().0, event.id.to_string()),
            (*seq, id.clone())
        );
    }
}

/// `tributary-child serve --config CONFIG` through bash, which ignores `SIGXFSZ` (an ignored
/// signal stays ignored across `exec`) and limits the size of the files it may write.
fn serve_with_file_limit(config: &std::path::Path) -> Child {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {FILE_LIMIT_KIB}; exec \"$0\" serve --config \"$1\""
        ))
        .arg(env!("CARGO_BIN_EXE_tributary-child"))
        .arg(config);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRIBUTARY_") {
            command.env_remove(name);
        }
    }
    command
        .env("TRIBUTARY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tributary-child through bash")
}

fn api_url(child: &mut Child) -> String {
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    match line.trim().strip_prefix("api ") {
        Some(url) => url.to_owned(),
        None => panic!("serve did not start: {}", stderr(child)),
    }
}

fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut text).unwrap();
    }
    text
}
