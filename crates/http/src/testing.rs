//! For tests of this crate and of the providers (feature `testing`): upstreams that misbehave in
//! ways a mock server cannot.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server on 127.0.0.1:0 answering every request with a chunked JSON body (no
/// `Content-Length`) of `chunks` chunks of `size` spaces, closing the connection when the client
/// goes away. Answers its base URL (no trailing slash).
pub async fn chunked_server(chunks: usize, size: usize) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\
                            content-type: application/json\r\nconnection: close\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
                for _ in 0..chunks {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return; // the client stopped reading
                    }
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}
