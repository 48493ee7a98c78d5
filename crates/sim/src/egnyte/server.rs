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
        let rate = self.config().rate;
        let workload = {
            let sim = self.clone();
            crate::control::spawn_workload(rate, move |n| {
                sim.generate(n);
            })
        };
        let result = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(task) = workload {
            task.abort();
        }
        result
    }
}
