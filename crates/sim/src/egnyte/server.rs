//! Serving a simulator: its router, and a server that also runs the live workload.

use super::simulator::EgnyteSim;
use super::{control, http};
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::future::Future;

impl EgnyteSim {
    /// The Egnyte routes (`/pubapi/…`, `/puboauth/token`) and the control API (`/_sim/egnyte/…`).
    /// Anything else answers `404 {"errorMessage": "Not found"}`.
    pub fn router(&self) -> Router {
        http::routes()
            .merge(control::routes())
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({"errorMessage": "Not found"})),
                )
                    .into_response()
            })
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes; while serving, generates
    /// `config.rate` workload events per second.
    ///
    /// `listener` is a [`tokio::net::TcpListener`] for HTTP, or a
    /// [`TlsListener`](crate::tls::TlsListener) for HTTPS.
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
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
