//! What Tributary's HTTP providers (`tributary-egnyte`, `tributary-jive`) share: the checks every
//! configured base URL passes, short excerpts of upstream bodies for error messages, and the
//! bounds no upstream can push a poll past:
//!
//! - [`Outbound`]: the client every request to a tenant-chosen address goes through, and the
//!   [`AddressPolicy`] it enforces at connect time (no loopback, private, link-local, … address
//!   unless `[network] allow_private` allows it; no redirects);
//! - [`read_body`]: an answer's body read chunk by chunk, refused past a byte limit;
//! - [`PollBudget`]: the requests and the time one poll may spend;
//! - [`Exchange`]: one request and its answer with all of the above (budget, guard, timeout,
//!   bounded body), and its [`Reply`].
//!
//! Not for: anything about one upstream's API (its paths, errors or limits live in its provider
//! crate).

mod address;
mod body;
mod budget;
mod exchange;
mod outbound;
mod retry_after;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use address::{AddressNotAllowed, AddressPolicy, ForbiddenRange, forbidden_range};
pub use body::{BodyError, DEFAULT_MAX_RESPONSE_BYTES, read_body};
pub use budget::{DEFAULT_MAX_POLL_TIME, PollBoundExceeded, PollBudget, PollLimits};
pub use exchange::{Exchange, ExchangeError, Reply};
pub use outbound::{Outbound, SendError};
pub use retry_after::{retry_after, retry_after_header};

/// An `http` or `https` URL with a host, without query, fragment or credentials, returned without
/// its trailing slashes (paths are appended to it); otherwise why not.
pub fn check_base_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".into());
    }
    if parsed.host_str().is_none() {
        return Err("it has no host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("it must not have a query or fragment".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials go in `credentials`, not in the URL".into());
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// The start of an upstream body, as text, for an error message: at most 100 characters, trimmed,
/// `…` when cut. Short on purpose: it reaches tenants (`status.last_error`).
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 100;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_lose_their_trailing_slash() {
        assert_eq!(
            check_base_url("https://acme.egnyte.com/").unwrap(),
            "https://acme.egnyte.com"
        );
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/jive//").unwrap(),
            "http://127.0.0.1:8080/jive"
        );
        for (url, why) in [
            ("ftp://x", "scheme"),
            ("https://x/?a=1", "query"),
            ("https://u:p@x", "credentials"),
            ("not a url", "relative URL"),
        ] {
            let reason = check_base_url(url).unwrap_err();
            assert!(reason.contains(why), "{url}: {reason}");
        }
    }

    #[test]
    fn excerpts_are_trimmed_and_cut_on_a_character() {
        assert_eq!(excerpt(b"  <html>oops</html>\n"), "<html>oops</html>");
        let long = "é".repeat(400);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), 101);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}
