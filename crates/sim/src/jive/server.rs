//! Serving a simulator: its router, and a server that also runs the live workload.

use super::simulator::JiveSim;
use super::{control, http};
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;

impl JiveSim {
    /// The Jive routes (`/api/…`, `/oauth2/token`) and the control API (`/_sim/jive/…`).
    /// Anything else answers `404` with Jive's error envelope.
    pub fn router(&self) -> Router {
        http::routes()
            .merge(control::routes())
            .fallback(http::not_found)
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes; while serving, applies `config.rate`
    /// workload operations per second.
    ///
    /// Unless the config has a `base_url`, absolute URLs use the listener's address:
    /// `http://ADDR`, or `https://ADDR` for a [`TlsListener`](crate::tls::TlsListener).
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug + 'static,
    {
        if self.config().base_url.is_none()
            && let Ok(addr) = listener.local_addr()
            && let Some(addr) = (&addr as &dyn std::any::Any).downcast_ref::<SocketAddr>()
        {
            let tls = std::any::type_name::<L>().ends_with("TlsListener");
            let scheme = if tls { "https" } else { "http" };
            self.set_base_url(&format!("{scheme}://{addr}"));
        }
        let sim = self.clone();
        let generate = move |n| {
            sim.generate(n);
        };
        crate::server::serve(
            listener,
            self.router(),
            shutdown,
            self.config().rate,
            generate,
        )
        .await
    }
}
