//! `tributary bench ...`: measurements anyone can rerun against the simulators.
//!
//! - `bench egnyte-drain` ([`egnyte`]) drains an Egnyte domain's whole retained backlog (a
//!   simulator started with `tributary sim egnyte --backlog N --throttle off`) into a fresh store
//!   through the real provider and the engine's poll step, and reports events per second and
//!   upstream requests per event. `tests/bench/egnyte-drain.sh` runs it beside the Egnyte Python
//!   SDK paging the same backlog.
//! - `bench jive` ([`jive`]) synthesizes a Jive community's stream (a simulator started with
//!   `tributary sim jive --items N [--rate R]`): a backfill of every item, a steady follow of a live
//!   workload, or the cost of polling an idle community. `tests/bench/jive-community.sh` runs all
//!   three.
//! - `bench idle-sources` ([`idle`]) runs thousands of sources on one engine against an idle Jive
//!   simulator: upstream requests per hour and CPU while nothing happens.
//! - `bench webhooks` ([`webhooks`]) delivers a log to a local receiver beside a plain loop of
//!   the same signed requests, then measures the delivery delay and the idle cost.

pub mod api;
pub mod egnyte;
pub mod idle;
pub mod jive;
pub mod webhooks;

use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Serve the list API and a bare handler over a filled store, beside a raw sled scan.
    Api(api::ApiBenchArgs),
    /// Drain an Egnyte (simulator) backlog into a fresh store; print events/s and requests/event.
    EgnyteDrain(egnyte::EgnyteDrainArgs),
    /// Run thousands of idle Jive sources on one engine; print requests per hour and CPU.
    IdleSources(idle::IdleArgs),
    /// Synthesize a Jive (simulator) community's stream into a fresh store: backfill, follow or
    /// idle; print events/s and requests/event.
    Jive(jive::JiveArgs),
    /// Deliver webhooks to a local receiver beside a plain loop of the same signed requests;
    /// print events/s of both, the delivery delay and the idle cost of many subscriptions.
    Webhooks(webhooks::WebhookBenchArgs),
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid provider configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] tributary_store::StoreError),
    #[error("cannot create a temporary directory: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("the drain did not finish cleanly: {0}")]
    Poll(String),
}

pub async fn run(command: BenchCommand) -> Result<(), BenchError> {
    match command {
        BenchCommand::Api(args) => api::run(args).await,
        BenchCommand::EgnyteDrain(args) => egnyte::drain(args).await,
        BenchCommand::Jive(args) => jive::run(args).await,
        BenchCommand::IdleSources(args) => idle::run(args).await,
        BenchCommand::Webhooks(args) => webhooks::run(args).await,
    }
}

/// The way out for the benchmarks' providers: their simulators listen on 127.0.0.1, allowed
/// explicitly (`serve` allows no loopback address unless configured to).
fn bench_outbound() -> Result<tributary_http::Outbound, BenchError> {
    tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback())
        .map_err(|e| BenchError::Config(format!("cannot build the HTTP client: {e}")))
}

/// The tenant the benchmarks' sources belong to.
pub(crate) const BENCH_TENANT: &str = "bench";

/// Stores a source of [`BENCH_TENANT`] for `provider` (its config is the provider's own, in
/// memory), and answers its incarnation.
pub(crate) async fn bench_source(
    store: &dyn tributary_store::EventStore,
    id: &tributary_core::SourceId,
    provider: &str,
) -> Result<tributary_store::SourceRef, BenchError> {
    Ok(store
        .put_source(tributary_store::SourceRecord {
            id: id.clone(),
            tenant: BENCH_TENANT.into(),
            incarnation: 0,
            provider: provider.into(),
            config: serde_json::json!({}),
            credentials: serde_json::json!({}),
            paused: false,
            created_at: chrono::Utc::now(),
        })
        .await?)
}

/// A fresh store in `dir`, or in a temporary directory kept alive by the returned guard.
pub(crate) fn open_store(
    dir: Option<&PathBuf>,
) -> Result<(tributary_store::SledStore, Option<tempfile::TempDir>), BenchError> {
    match dir {
        Some(dir) => Ok((tributary_store::SledStore::open(dir)?, None)),
        None => {
            let temp = tempfile::tempdir().map_err(BenchError::TempDir)?;
            Ok((tributary_store::SledStore::open(temp.path())?, Some(temp)))
        }
    }
}
