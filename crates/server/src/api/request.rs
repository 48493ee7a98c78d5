//! What several handler modules do with a request: read its JSON body (within the size limit),
//! quote its input in a message (an excerpt, never the whole), and make random ids.

use super::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

/// At most this many characters of any input are quoted back in an error message.
pub const EXCERPT_CHARS: usize = 100;

/// A request body as bytes: `413 payload_too_large` beyond the body limit (`[limits]
/// max_body_bytes`), `400 invalid_body` when it cannot be read; both as the documented JSON error.
pub(crate) struct Body(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(
                    "the request body is larger than this server takes ([limits] max_body_bytes)"
                        .into(),
                ))
            }
            Err(e) => Err(ApiError::InvalidBody(format!(
                "the request body cannot be read: {e}"
            ))),
        }
    }
}

/// Parses a JSON body, naming the field at fault.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidBody(format!("the request body is not valid: {e}")))
}

/// At most the first [`EXCERPT_CHARS`] characters of `input`, with `…` when that is not all of it:
/// for a name written between backticks.
pub(crate) fn excerpt(input: &str) -> String {
    let mut chars = input.chars();
    let mut out: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `input` quoted for a message: its first [`EXCERPT_CHARS`] characters, and how long it is
/// when that is not all of it. Every handler quotes input through this.
pub(crate) fn quote(input: &str) -> String {
    let total = input.chars().count();
    if total <= EXCERPT_CHARS {
        return format!("{input:?}");
    }
    let excerpt: String = input.chars().take(EXCERPT_CHARS).collect();
    format!("{excerpt:?}… ({total} characters)")
}

/// `message` with every quoted run (`"…"`, as `{:?}` writes it, or `` `…` ``) longer than
/// [`EXCERPT_CHARS`] (and a little slack for escapes) cut to an excerpt: the net under every
/// error message, for input quoted by a library's error (serde, ids, cursors).
pub(crate) fn clip_quotes(message: &str) -> String {
    const SLACK: usize = 20;
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len().min(4096));
    let mut i = 0;
    while i < chars.len() {
        let open = chars[i];
        if open != '"' && open != '`' {
            out.push(open);
            i += 1;
            continue;
        }
        // The run's end: the next unescaped delimiter, or the message's end.
        let mut j = i + 1;
        while j < chars.len() && chars[j] != open {
            j += if open == '"' && chars[j] == '\\' {
                2
            } else {
                1
            };
        }
        let end = j.min(chars.len());
        let inner = &chars[i + 1..end];
        out.push(open);
        if inner.len() > EXCERPT_CHARS + SLACK {
            out.extend(&inner[..EXCERPT_CHARS]);
            out.push('…');
        } else {
            out.extend(inner);
        }
        if end < chars.len() {
            out.push(open);
        }
        i = end + 1;
    }
    out
}

/// The longest error message, in characters: a net under [`clip_quotes`] for input a library
/// echoes without quotes.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// An error message as it is answered: long quoted runs cut ([`clip_quotes`]), then the whole cut
/// to [`MAX_MESSAGE_CHARS`].
pub(crate) fn bounded_message(message: &str) -> String {
    let clipped = clip_quotes(message);
    if clipped.chars().count() <= MAX_MESSAGE_CHARS {
        return clipped;
    }
    let mut cut: String = clipped.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// A new random id: `prefix` and 16 hex digits.
pub(crate) fn random_hex(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| {
        tracing::error!(error = %e, "the OS random source failed");
        ApiError::Internal
    })?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_keeps_short_input_whole_and_cuts_long_input_to_an_excerpt() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = "x".repeat(60_000);
        let quoted = quote(&long);
        assert_eq!(
            quoted,
            format!("\"{}\"… (60000 characters)", "x".repeat(100))
        );
    }

    #[test]
    fn clip_quotes_cuts_long_quoted_runs_only() {
        let long = "y".repeat(5000);
        let message =
            format!("malformed cursor \"{long}\": bad; unknown field `{long}`, ok \"short\"");
        let clipped = clip_quotes(&message);
        let y100 = "y".repeat(100);
        assert_eq!(
            clipped,
            format!("malformed cursor \"{y100}…\": bad; unknown field `{y100}…`, ok \"short\"")
        );
        // Escaped quotes stay inside their run; an unclosed run is cut too.
        assert_eq!(clip_quotes(r#"a "b\"c" d"#), r#"a "b\"c" d"#);
        assert_eq!(
            clip_quotes(&format!("open \"{long}")),
            format!("open \"{y100}…")
        );
        // Quoting our own excerpt leaves it as it is.
        let q = quote(&long);
        assert_eq!(clip_quotes(&q), q);
    }

    #[test]
    fn a_message_is_cut_to_its_bound_even_without_quotes() {
        let unquoted = format!("invalid value: {}", "z".repeat(5000));
        let bounded = bounded_message(&unquoted);
        assert_eq!(bounded.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(bounded.ends_with('…'));
        assert_eq!(bounded_message("short"), "short");
    }
}
