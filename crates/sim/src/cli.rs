//! What the simulator processes (`tributary sim egnyte|jive`) do the same way: bind the address
//! asked for, print the base URL for the scripts waiting on it, and serve until Ctrl-C.

use std::io::Write;
use tokio::net::TcpListener;

/// The address a simulator was asked to listen on cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// Binds `listen` (`127.0.0.1:0` picks a free port).
pub(crate) async fn bind(listen: &str) -> Result<TcpListener, BindError> {
    TcpListener::bind(listen).await.map_err(|source| BindError {
        addr: listen.to_owned(),
        source,
    })
}

/// Completes on Ctrl-C, or at once when Ctrl-C cannot be listened for.
pub(crate) async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C; stopping");
    }
}

/// Prints the base URL as a line of its own and flushes it: scripts wait for it.
pub(crate) fn announce(base_url: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{base_url}")?;
    out.flush()
}

/// Parses `argv` as one simulator's options, as `tributary sim …` flattens them.
#[cfg(test)]
pub(crate) fn parse<A: clap::Args>(argv: &[&str]) -> Result<A, clap::Error> {
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Command<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }

    Command::<A>::try_parse_from(argv).map(|c| c.args)
}
