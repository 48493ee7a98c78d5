//! What stops a server gracefully: Ctrl-C (`SIGINT`) and, on unix, `SIGTERM` (what `kill`,
//! systemd and container runtimes send first). Either starts the same drain: stop accepting,
//! let in-flight polls commit, merge once more, exit 0.

/// The signal that asked for the shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Interrupt,
    Terminate,
}

impl Shutdown {
    pub fn name(self) -> &'static str {
        match self {
            Shutdown::Interrupt => "SIGINT",
            Shutdown::Terminate => "SIGTERM",
        }
    }
}

/// Completes at the first Ctrl-C or `SIGTERM`. On unix the handlers are installed when this is
/// called, not when it is first polled, so a signal that comes right after start-up is not
/// missed. A handler that cannot be installed is logged and left out.
pub fn shutdown() -> impl std::future::Future<Output = Shutdown> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let listen = |kind: SignalKind, which: Shutdown| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!(error = %e, signal = which.name(), "cannot listen for the signal");
                None
            }
        };
        async fn next(stream: Option<Signal>) {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let interrupt = listen(SignalKind::interrupt(), Shutdown::Interrupt);
        let terminate = listen(SignalKind::terminate(), Shutdown::Terminate);
        async move {
            tokio::select! {
                () = next(interrupt) => Shutdown::Interrupt,
                () = next(terminate) => Shutdown::Terminate,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        Shutdown::Interrupt
    }
}
