//! Serving over HTTPS with the self-signed certificate of [`crate::tls`].

use super::*;
use crate::tls::TlsListener;

/// A simulator served over TLS on 127.0.0.1 port 0: its `https://` base URL and the PEM it wrote.
async fn start_tls(dir: &std::path::Path) -> (String, Vec<u8>, tokio::sync::oneshot::Sender<()>) {
    let sim = EgnyteSim::new(quiet(), Arc::new(ManualClock::new(t0())));
    sim.generate(3);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("https://{}", tcp.local_addr().unwrap());
    let cert_path = dir.join("sim.pem");
    let listener = TlsListener::bind(tcp, &cert_path).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sim.serve(listener, async {
        let _ = stopped.await;
    }));
    (base, std::fs::read(&cert_path).unwrap(), stop)
}

/// A client that trusts only the certificate `pem`.
fn trusting(pem: &[u8]) -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_certs_only([reqwest::Certificate::from_pem(pem).unwrap()])
}

/// `GET {base}/pubapi/v1/events/cursor` with the default token.
async fn get_cursor(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    client
        .get(format!("{base}/pubapi/v1/events/cursor"))
        .bearer_auth("test-token")
        .send()
        .await
}

#[tokio::test]
async fn serves_https_to_a_client_that_trusts_the_written_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (base, pem, _stop) = start_tls(dir.path()).await;
    assert!(String::from_utf8_lossy(&pem).starts_with("-----BEGIN CERTIFICATE-----"));
    let client = trusting(&pem).build().unwrap();
    let r = get_cursor(&client, &base).await.unwrap();
    assert_eq!(r.status(), 200);
    let cursor: Value = r.json().await.unwrap();
    assert_eq!(cursor["latest_event_id"], 3);
    // `localhost` is in the certificate too.
    let port = base.rsplit(':').next().unwrap();
    let r = get_cursor(&client, &format!("https://localhost:{port}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn refuses_plain_http_and_untrusting_clients_but_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (base, pem, _stop) = start_tls(dir.path()).await;
    let plain = reqwest::Client::new();
    let http_base = base.replacen("https://", "http://", 1);
    assert!(get_cursor(&plain, &http_base).await.is_err());
    // A client that does not trust the certificate fails the handshake.
    let other = tempfile::tempdir().unwrap();
    let (_, other_pem, _other_stop) = start_tls(other.path()).await;
    let untrusting = trusting(&other_pem).build().unwrap();
    assert!(
        untrusting
            .get(format!("{base}/pubapi/v1/events/cursor"))
            .send()
            .await
            .is_err()
    );
    // A connection that never starts its handshake does not hold up the others.
    let _stalled = tokio::net::TcpStream::connect(base.trim_start_matches("https://"))
        .await
        .unwrap();
    let patient = trusting(&pem)
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let r = get_cursor(&patient, &base).await.unwrap();
    assert_eq!(r.status(), 200);
}
