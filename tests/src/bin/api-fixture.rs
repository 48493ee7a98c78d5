//! Serves the HTTP API over a temporary store holding a fixed set of events, for black-box clients
//! such as the Kloudless SDK check (`tests/sdk/run-kloudless-sdk.sh`).
//!
//!     api-fixture [--listen 127.0.0.1:0]
//!
//! Tenant `demo` owns two sources, `egnyte-acme` and `jive-community`, with interleaved events
//! of every type; tenant `other` owns `other-drive`, so a client can check it sees none of it.
//! The first stdout line is `api <url> key <key>` (the tenant-wide key of `demo`, in the format
//! of `tributary demo`); then one line per source:
//!
//!     account <number> source <id> tenant <tenant> key <source-scoped key> events <id,id,...>
//!
//! with the source's event ids in stream order, then `admin <admin key>` (for `/v1/keys`), and a
//! last line `ready`.
//!
//! `/v1/sources` and `/v1/oauth` work (so schemathesis checks them), over an engine that is never
//! run: a source created here is stored and registered but never polled, so no request leaves
//! the machine. Serves until SIGTERM or
//! SIGINT, then removes the store.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::io::Write;
use std::sync::Arc;
use tributary_core::{
    Actor, Checkpoint, Event, EventId, EventType, Object, ObjectKind, Page, SourceId, Upstream,
    Watermark,
};
use tributary_server::api::{
    self, AccountId, AdminKeyEntry, ApiKeys, ApiState, KeyEntry, SourceControl,
};
use tributary_server::engine::{Engine, EngineConfig};
use tributary_server::registry::Registry;
use tributary_store::{EventStore, SledStore, SourceRecord};

type Error = Box<dyn std::error::Error>;

const TENANT_KEY: &str = "demo-fixture-key";
const OTHER_KEY: &str = "other-fixture-key";
/// The admin key: it manages keys (`/v1/keys`) and reads nothing.
const ADMIN_KEY: &str = "admin-fixture-key";
/// Events in the store, all sources together.
const EVENTS: u32 = 240;

/// `(source, provider, tenant)`.
const SOURCES: [(&str, &str, &str); 3] = [
    ("egnyte-acme", "egnyte", "demo"),
    ("jive-community", "jive", "demo"),
    ("other-drive", "egnyte", "other"),
];

fn t0() -> Result<DateTime<Utc>, Error> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .ok_or_else(|| "bad start time".into())
}

/// Which source event `k` comes from: Egnyte twice as often as Jive, `other-drive` now and then.
fn source_index(k: u32) -> usize {
    match k % 7 {
        0 | 2 | 4 | 5 => 0,
        1 | 3 => 1,
        _ => 2,
    }
}

/// Event `k` of the store, the `nth` of its source: each source goes through every type in turn.
fn event(k: u32, nth: usize, at: DateTime<Utc>) -> Result<Event, Error> {
    let (source, provider, _) = SOURCES[source_index(k)];
    let event_type = EventType::ALL[nth % EventType::ALL.len()];
    let kind = match (provider, k % 4) {
        (_, 0) => ObjectKind::Folder,
        ("jive", _) => ObjectKind::Document,
        _ => ObjectKind::File,
    };
    let dir = if provider == "jive" {
        "/places/1007"
    } else {
        "/Shared/Reports"
    };
    let mut object = Object::new(
        format!("{source}-obj-{}", k % 40),
        kind,
        format!("item-{k}"),
    );
    object.path = Some(format!("{dir}/item-{k}"));
    object.parent = Some(dir.to_owned());
    object.size = (!k.is_multiple_of(4)).then_some(1000 + u64::from(k));
    object.modified = Some(at);
    let previous = matches!(
        event_type,
        EventType::Move | EventType::Rename | EventType::Copy
    )
    .then(|| {
        let mut before = object.clone();
        before.path = Some(format!("{dir}/old/item-{k}"));
        before
    });
    Ok(Event {
        id: EventId::new(format!("{source}-{k}"))?,
        seq: None,
        source: SourceId::new(source)?,
        provider: provider.into(),
        event_type,
        occurred_at: at,
        observed_at: at,
        object,
        previous,
        actor: (!k.is_multiple_of(5)).then(|| Actor {
            id: format!("user-{}", k % 3),
            name: None,
            email: None,
            via: None,
        }),
        upstream: Upstream {
            id: k.to_string(),
            action: event_type.as_str().into(),
            raw: None,
        },
        late: false,
    })
}

/// Fills the store: every source's events in one page each, all merged.
async fn fill(store: &SledStore) -> Result<Vec<Vec<String>>, Error> {
    let start = t0()?;
    let mut by_source: Vec<Vec<Event>> = vec![Vec::new(); SOURCES.len()];
    for k in 0..EVENTS {
        // Several events share a second now and then: the merge orders them by source.
        let at = start + Duration::milliseconds(i64::from(k / 2) * 1500);
        let events = &mut by_source[source_index(k)];
        events.push(event(k, events.len(), at)?);
    }
    let frontier = start + Duration::days(1);
    let mut ids = Vec::new();
    let mut tenants = std::collections::BTreeSet::new();
    for (i, (source, provider, tenant)) in SOURCES.into_iter().enumerate() {
        let id = SourceId::new(source)?;
        tenants.insert(tenant);
        let source = store
            .put_source(SourceRecord {
                id: id.clone(),
                incarnation: 0,
                tenant: tenant.into(),
                provider: provider.into(),
                config: serde_json::json!({}),
                credentials: serde_json::json!({}),
                paused: false,
                created_at: start,
            })
            .await?;
        let events = std::mem::take(&mut by_source[i]);
        ids.push(events.iter().map(|e| e.id.as_str().to_owned()).collect());
        let checkpoint = Checkpoint::from_json(serde_json::json!({"version": "V1"}))?;
        let page = Page::new(events, checkpoint, Some(Watermark::new(frontier)), false);
        store.ingest(&source, page).await?;
    }
    let frontiers = tenants
        .into_iter()
        .map(|t| (t.to_owned(), frontier))
        .collect();
    store.merge_tenants(frontiers).await?;
    Ok(ids)
}

fn scoped_key(source: &str) -> String {
    format!("{source}-fixture-key")
}

async fn run(listen: &str) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path().join("store"))?;
    let ids = fill(&store).await?;

    let mut keys = vec![
        KeyEntry::new("demo", TENANT_KEY),
        KeyEntry::new("other", OTHER_KEY),
    ];
    for (source, _, tenant) in SOURCES {
        keys.push(KeyEntry::new(tenant, scoped_key(source)).for_source(source));
    }
    let dyn_store: Arc<dyn EventStore> = Arc::new(store.clone());
    let clock: Arc<dyn tributary_core::Clock> = Arc::new(tributary_core::SystemClock);
    let control = SourceControl::new(
        Engine::new(dyn_store.clone(), clock.clone(), EngineConfig::default()),
        Registry::new(
            dyn_store.clone(),
            clock.clone(),
            tributary_server::registry::Providers::new(tributary_cli::providers::factories())?,
            // Fixture sources point at 127.0.0.1: allowed explicitly.
            tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback())?,
        ),
        clock,
    );
    let keys = ApiKeys::new(keys)?.with_admins([AdminKeyEntry::new(ADMIN_KEY)])?;
    let state = ApiState::new(dyn_store, keys).with_sources(control);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let url = format!("http://{}", listener.local_addr()?);

    let mut out = std::io::stdout().lock();
    writeln!(out, "api {url} key {TENANT_KEY}")?;
    for ((source, _, tenant), ids) in SOURCES.into_iter().zip(&ids) {
        let record = store
            .source(tenant, &SourceId::new(source)?)?
            .ok_or("a fixture source is missing")?;
        let account = AccountId::of(&store, &record);
        writeln!(
            out,
            "account {account} source {source} tenant {tenant} key {} events {}",
            scoped_key(source),
            ids.join(",")
        )?;
    }
    writeln!(out, "admin {ADMIN_KEY}")?;
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);

    api::serve(listener, state, shutdown()).await?;
    drop(store);
    dir.close()?;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            eprintln!("api-fixture: no SIGTERM handler ({e}); stop with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--listen", Some(addr)) => listen = addr,
            _ => {
                eprintln!("usage: api-fixture [--listen ADDR]");
                std::process::exit(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("api-fixture: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(&listen)) {
        eprintln!("api-fixture: {e}");
        std::process::exit(1);
    }
}
