//! A small webhook receiver on 127.0.0.1, for the demo and the webhook benchmark: it checks each
//! request's Standard Webhooks signature against the secret it is given, answers `204` at once,
//! and hands on what it received.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};
use tributary_server::webhooks::signature::SigningKey;

/// One request the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub webhook_id: String,
    /// The body as sent (JSON).
    pub body: Bytes,
    /// When the request was read whole (just before the `204` is sent).
    pub at: std::time::Instant,
}

/// What the receiver counted.
#[derive(Debug, Default)]
pub struct Counts {
    /// Requests answered 204.
    pub accepted: AtomicU64,
    /// Requests answered 400: a missing header or a signature that does not match.
    pub refused: AtomicU64,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    pub counts: Arc<Counts>,
    /// What it accepted, in arrival order (`None` when started with `keep = false`).
    pub received: Option<mpsc::UnboundedReceiver<Received>>,
    stop: watch::Sender<bool>,
}

impl Receiver {
    /// Stops serving.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Clone)]
struct Hook {
    key: Option<SigningKey>,
    counts: Arc<Counts>,
    keep: Option<mpsc::UnboundedSender<Received>>,
}

/// Starts a receiver on 127.0.0.1 (a port the OS picks). With `secret`, every request must carry
/// a valid `webhook-signature` for it; `keep` hands each accepted request on through
/// [`Receiver::received`] (the benchmark only counts).
pub async fn start(secret: Option<&str>, keep: bool) -> std::io::Result<Receiver> {
    let key = match secret {
        Some(s) => Some(
            SigningKey::parse(s)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        ),
        None => None,
    };
    let counts = Arc::new(Counts::default());
    let (tx, rx) = if keep {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let hook = Hook {
        key,
        counts: counts.clone(),
        keep: tx,
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "the webhook receiver stopped");
        }
    });
    Ok(Receiver {
        url,
        counts,
        received: rx,
        stop,
    })
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header("webhook-signature"),
    ) else {
        hook.counts.refused.fetch_add(1, Ordering::Relaxed);
        return StatusCode::BAD_REQUEST;
    };
    if let Some(key) = &hook.key {
        let expected = key.sign(id, timestamp, &body);
        if !signatures.split(' ').any(|s| s == expected) {
            hook.counts.refused.fetch_add(1, Ordering::Relaxed);
            return StatusCode::BAD_REQUEST;
        }
    }
    hook.counts.accepted.fetch_add(1, Ordering::Relaxed);
    if let Some(keep) = &hook.keep {
        let _ = keep.send(Received {
            webhook_id: id.to_owned(),
            body,
            at: std::time::Instant::now(),
        });
    }
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_server::webhooks::signature::generate_secret;

    #[tokio::test]
    async fn accepts_what_its_secret_signed_and_refuses_the_rest() {
        let secret = generate_secret().unwrap();
        let mut receiver = start(Some(&secret), true).await.unwrap();
        let key = SigningKey::parse(&secret).unwrap();
        let other = SigningKey::parse(&generate_secret().unwrap()).unwrap();
        let client = reqwest::Client::new();
        let body = br#"{"type":"events","data":{"events":[]}}"#;
        let mut statuses = Vec::new();
        for (id, signer) in [("msg_1", &key), ("msg_2", &other)] {
            let r = client
                .post(&receiver.url)
                .header("webhook-id", id)
                .header("webhook-timestamp", "1700000000")
                .header(
                    "webhook-signature",
                    format!("v1,bogus {}", signer.sign(id, 1_700_000_000, body)),
                )
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            statuses.push(r.status().as_u16());
        }
        let unsigned = client.post(&receiver.url).body("{}").send().await.unwrap();
        statuses.push(unsigned.status().as_u16());
        assert_eq!(statuses, vec![204, 400, 400]);
        let got = receiver.received.as_mut().unwrap().recv().await.unwrap();
        assert_eq!(got.webhook_id, "msg_1");
        assert_eq!(&got.body[..], body);
        assert_eq!(receiver.counts.accepted.load(Ordering::Relaxed), 1);
        assert_eq!(receiver.counts.refused.load(Ordering::Relaxed), 2);
    }
}
