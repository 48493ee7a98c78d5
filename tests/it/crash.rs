//! Crash safety: a child process ingests and merges in a loop for two tenants (with the same
//! source ids) and is killed with SIGKILL at random points. After every kill the store holds
//! exactly the events of its committed checkpoints (none lost, none doubled), at least everything
//! the child saw acknowledged, each tenant's log in merge order with its own gap-free positions.

use chrono::TimeZone;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use tributary_core::{Event, Seq, SourceId};
use tributary_store::{EventStore, Filter, SledStore, SourceRef};

const PAGE: u64 = 5;
/// `(tenant, source)`, as the child names them.
const SOURCES: [(&str, &str); 4] = [
    ("acme", "a"),
    ("acme", "b"),
    ("globex", "a"),
    ("globex", "b"),
];
const TENANTS: [&str; 2] = ["acme", "globex"];

fn rounds() -> usize {
    std::env::var("TRIBUTARY_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let seed = std::env::var("TRIBUTARY_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("crash test seed {seed} (set TRIBUTARY_CRASH_SEED to replay)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut acknowledged = [0u64; 4];
    let rounds = rounds();
    for round in 0..rounds {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-child"))
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ingest-child");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        // Let it commit a random number of pages, then kill it wherever it is.
        let wanted = rng.usize(1..=12);
        let mut seen = 0;
        while seen <= wanted {
            let Some(line) = complete_line(&mut out) else {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!(
                    "round {round}: ingest-child stopped by itself: {}: {err}",
                    child.wait().unwrap()
                );
            };
            acknowledge(&line, &mut acknowledged, round);
            seen += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // What the child printed before the kill and this test had not read yet was acknowledged
        // too: it is still in the pipe. A line cut by the kill is not.
        while let Some(line) = complete_line(&mut out) {
            acknowledge(&line, &mut acknowledged, round);
        }
        verify(&path, acknowledged, round).await;
    }
    assert!(
        acknowledged.iter().all(|&n| n >= rounds as u64),
        "the child made too little progress: {acknowledged:?}"
    );
}

/// The next line the child wrote whole (with its newline); `None` at the end or for a line the
/// kill cut short.
fn complete_line(out: &mut impl BufRead) -> Option<String> {
    let mut line = Vec::new();
    out.read_until(b'\n', &mut line).unwrap();
    line.pop_if(|b| *b == b'\n')?;
    Some(String::from_utf8(line).unwrap())
}

/// Records a `<tenant>/<source> <pages>` acknowledgement (or the `ready` line).
fn acknowledge(line: &str, acknowledged: &mut [u64; 4], round: usize) {
    let mut parts = line.split(' ');
    match (
        parts.next(),
        parts.next().and_then(|n| n.parse::<u64>().ok()),
    ) {
        (Some("ready"), _) => {}
        (Some(s), Some(n)) => {
            let i = SOURCES
                .iter()
                .position(|(t, id)| format!("{t}/{id}") == s)
                .unwrap();
            acknowledged[i] = n;
        }
        _ => panic!("round {round}: unexpected line {line:?}"),
    }
}

/// Opens the store the child left, checks it, merges what is pending, and checks each tenant's
/// log again.
async fn verify(path: &std::path::Path, acknowledged: [u64; 4], round: usize) {
    let store = SledStore::open(path).unwrap();
    let mut committed = [0u64; 4];
    // A source killed before it was first stored has no record: nothing committed.
    let sources: Vec<Option<SourceRef>> = SOURCES
        .iter()
        .map(|(tenant, id)| {
            store
                .source(tenant, &SourceId::new(*id).unwrap())
                .unwrap()
                .map(|r| r.source_ref())
        })
        .collect();
    for (i, (tenant, name)) in SOURCES.iter().enumerate() {
        let Some(source) = &sources[i] else {
            assert_eq!(acknowledged[i], 0, "round {round}: {tenant}/{name} lost");
            continue;
        };
        // A source killed before its first commit has no state yet: nothing committed.
        let state = store.source_state(source).unwrap();
        committed[i] = state
            .as_ref()
            .map_or(0, |s| s.checkpoint.as_json()["pages"].as_u64().unwrap());
        assert!(
            committed[i] >= acknowledged[i],
            "round {round}: {source} acknowledged {} pages, store has {}",
            acknowledged[i],
            committed[i]
        );
        assert!(
            committed[i] <= acknowledged[i] + 1,
            "round {round}: {source} committed pages never acknowledged"
        );
        let merged = ids_in_log(&store, tenant, Some(&source.id)).await;
        let pending = store.pending_len(source).unwrap();
        assert_eq!(
            merged.len() as u64 + pending,
            committed[i] * PAGE,
            "round {round}: {source} holds the wrong number of events"
        );
        assert_eq!(
            merged,
            (0..merged.len() as u64).collect::<Vec<_>>(),
            "round {round}: {source}'s merged events are not a prefix in order"
        );
        assert_eq!(
            state.map_or(0, |s| s.events_ingested),
            committed[i] * PAGE,
            "round {round}: {source}'s ingest counter"
        );
    }
    // Merge what each tenant's sources' watermarks allow (the parent plays the server here), then
    // each tenant's log must be gap-free, in time order, with nothing late, and each source's
    // part a prefix.
    let frontiers = TENANTS
        .iter()
        .enumerate()
        .map(|(t, tenant)| {
            let least = committed[2 * t].min(committed[2 * t + 1]);
            let at = chrono::Utc
                .timestamp_millis_opt(1_767_225_600_000 + (least * PAGE * 10) as i64)
                .unwrap();
            ((*tenant).to_owned(), at)
        })
        .collect();
    store.merge_tenants(frontiers).await.unwrap();
    for (t, tenant) in TENANTS.iter().enumerate() {
        let events = read_all(&store, tenant, &Filter::default()).await;
        let seqs: Vec<u64> = events.iter().map(|e| e.seq.unwrap().get()).collect();
        assert_eq!(
            seqs,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "round {round}: {tenant}'s positions are not gap-free"
        );
        for w in events.windows(2) {
            let key = |e: &Event| (e.occurred_at, e.source.clone());
            assert!(
                key(&w[0]) < key(&w[1]),
                "round {round}: {tenant}'s log out of order at {:?}",
                w[1].seq
            );
            assert!(
                !w[1].late,
                "round {round}: {tenant}'s event {:?} marked late",
                w[1].seq
            );
        }
        for i in [2 * t, 2 * t + 1] {
            let Some(source) = &sources[i] else {
                continue;
            };
            let merged = ids_in_log(&store, tenant, Some(&source.id)).await;
            assert_eq!(
                merged,
                (0..merged.len() as u64).collect::<Vec<_>>(),
                "round {round}: {source}"
            );
            assert_eq!(
                merged.len() as u64 + store.pending_len(source).unwrap(),
                committed[i] * PAGE,
                "round {round}: {source}"
            );
        }
        assert_eq!(
            store.latest(tenant).await.unwrap().seq,
            Seq(events.len() as u64)
        );
    }
}

async fn ids_in_log(store: &SledStore, tenant: &str, source: Option<&SourceId>) -> Vec<u64> {
    let filter = Filter {
        sources: source.into_iter().cloned().collect(),
        ..Filter::default()
    };
    read_all(store, tenant, &filter)
        .await
        .iter()
        .map(|e| e.id.as_str().parse::<u64>().unwrap())
        .collect()
}

async fn read_all(store: &SledStore, tenant: &str, filter: &Filter) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(tenant, cursor.as_ref(), 500, filter)
            .await
            .unwrap();
        out.extend(page.events.iter().map(|e| e.event().unwrap()));
        cursor = Some(page.cursor);
        if page.remaining == 0 {
            return out;
        }
    }
}
