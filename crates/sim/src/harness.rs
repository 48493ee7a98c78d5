//! What the simulators' tests share: a simulator served over real HTTP on 127.0.0.1 port 0, its
//! [`ManualClock`], and a client for the calls that are the same on both (the control API).
//! Each simulator's tests add the upstream calls (`impl Harness<EgnyteSim>`, …).

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use tributary_core::ManualClock;

/// Completes when the harness is dropped: the shutdown a simulator's `serve` is given.
pub(crate) type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

pub(crate) struct Harness<S> {
    pub sim: S,
    pub clock: Arc<ManualClock>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Does not follow redirects, so a `302` can be looked at.
    pub http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl<S: Clone> Harness<S> {
    /// Serves `sim` (made on `clock`) with `serve` until the harness is dropped.
    pub async fn start<F>(
        sim: S,
        clock: Arc<ManualClock>,
        serve: impl FnOnce(S, TcpListener, Stop) -> F,
    ) -> Self
    where
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped: Stop = Box::pin(async {
            let _ = stopped.await;
        });
        tokio::spawn(serve(sim.clone(), listener, stopped));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            sim,
            clock,
            base,
            http,
            _stop: stop,
        }
    }
}

impl<S> Harness<S> {
    /// `path` under the base URL; an absolute URL is kept as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// `GET` without credentials.
    pub async fn bare(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// A JSON answer of the control API (`GET /_sim/…`, no credentials).
    pub async fn control(&self, path: &str) -> Value {
        self.bare(path).await.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> reqwest::Response {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    /// `DELETE` without credentials.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.send(self.http.delete(self.url(path))).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.send().await.unwrap()
    }
}
