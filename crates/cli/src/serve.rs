//! `tributary serve --config FILE`: loads the configuration, starts the engine and the API
//! ([`tributary_server::serve`]), prints `api <url>` as the first line of stdout, and serves
//! until Ctrl-C or `SIGTERM` ([`crate::signal`]), which both drain before the exit.

use std::sync::Arc;
use tributary_core::SystemClock;
use tributary_server::config::ServerConfig;
use tributary_server::serve::{ServeError, bind, serve, start};
use tributary_store::EventStore;

/// `tributary serve --config FILE`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); without it, the defaults and TRIBUTARY_* variables.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let config = ServerConfig::load(args.config.as_deref())?;
    let started = start(
        &config,
        Arc::new(SystemClock),
        crate::providers::factories(),
    )
    .await?;
    let (listener, addr) = bind(config.listen).await?;
    // Listening before the address is printed: whoever read it may signal at once.
    let signalled = crate::signal::shutdown();
    println!("api http://{addr}");
    eprintln!(
        "serving {} sources from {} (Ctrl-C or SIGTERM stops)",
        started.store.sources()?.len(),
        config.data_dir.display()
    );
    serve(started, listener, async {
        let signal = signalled.await;
        tracing::info!(signal = signal.name(), "signal received");
    })
    .await?;
    eprintln!("stopped: drained, every committed write is on disk");
    Ok(())
}
