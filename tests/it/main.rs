//! Black-box tests of tributary, one module per area, linked into one binary.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod crash;
mod disk;
mod egnyte;
mod jive;
mod process;
mod rotation;
mod secrets;
mod server;
mod sources;
mod webhook_verify_example;
mod webhooks;

/// Starts a server (an upstream simulator) on 127.0.0.1:0: `serve` gets the listener and a
/// shutdown future. Answers the server's base URL and the handle that stops it, when sent to or
/// dropped.
pub async fn on_loopback<Fut>(
    serve: impl FnOnce(
        tokio::net::TcpListener,
        std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Fut,
) -> (String, tokio::sync::oneshot::Sender<()>)
where
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        Box::pin(async {
            let _ = stopped.await;
        }),
    ));
    (base, stop)
}
