//! Reading an upstream's answer without trusting its size: chunk by chunk, refused as soon as it
//! passes a limit (and before any byte is read when its `Content-Length` already does).

/// The default limit on one answer's body: 16 MiB. A page of 100 Egnyte events or Jive items is
/// a few hundred KiB at most.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit: said by its `Content-Length` (`declared`), or found
    /// while reading it. Nothing past the limit was read.
    #[error(
        "the answer is larger than the limit of {limit} bytes{}",
        declared.map(|n| format!(" (Content-Length {n})")).unwrap_or_default()
    )]
    TooLarge { limit: u64, declared: Option<u64> },
    /// The connection failed or timed out while the body was read.
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// Reads `resp`'s body, at most `limit` bytes: refused at once when its `Content-Length` says
/// more, and as soon as the chunks read pass the limit otherwise (a chunked or unsized answer).
/// The connection is dropped with the rest unread.
pub async fn read_body(mut resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    let declared = resp.content_length();
    if let Some(length) = declared
        && length > limit
    {
        return Err(BodyError::TooLarge {
            limit,
            declared: Some(length),
        });
    }
    // Never reserve more than the limit, whatever the header says; 64 KiB when it says nothing.
    let reserve = declared.unwrap_or(64 * 1024).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await? {
        let total = body.len() as u64 + chunk.len() as u64;
        if total > limit {
            return Err(BodyError::TooLarge {
                limit,
                declared: None,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn wiremock_body(len: usize) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; len]))
            .mount(&server)
            .await;
        server
    }

    async fn chunked_server(chunks: usize, size: usize) -> String {
        crate::testing::chunked_server(chunks, size).await.unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let server = wiremock_body(1024).await;
        let resp = reqwest::get(server.uri()).await.unwrap();
        assert_eq!(read_body(resp, 1024).await.unwrap().len(), 1024);
        let url = chunked_server(4, 256).await;
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(read_body(resp, 1024).await.unwrap().len(), 1024);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let server = wiremock_body(1025).await;
        let resp = reqwest::get(server.uri()).await.unwrap();
        let e = read_body(resp, 1024).await.unwrap_err();
        assert!(matches!(
            e,
            BodyError::TooLarge {
                limit: 1024,
                declared: Some(1025)
            }
        ));
        assert_eq!(
            e.to_string(),
            "the answer is larger than the limit of 1024 bytes (Content-Length 1025)"
        );
    }

    #[tokio::test]
    async fn an_unsized_body_is_refused_once_it_passes_the_limit() {
        // 64 MiB offered in 64 KiB chunks; reading stops past 1 MiB.
        let url = chunked_server(1024, 64 * 1024).await;
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.content_length(), None);
        let e = read_body(resp, 1024 * 1024).await.unwrap_err();
        assert!(matches!(
            e,
            BodyError::TooLarge {
                limit: 1_048_576,
                declared: None
            }
        ));
        assert_eq!(
            e.to_string(),
            "the answer is larger than the limit of 1048576 bytes"
        );
    }
}
