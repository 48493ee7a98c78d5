//! `Retry-After` (RFC 9110 §10.2.3), read the same way by every provider and the webhook
//! dispatcher: delay-seconds, or an HTTP-date counted from `now`. Fractional seconds, which
//! some upstreams send though the RFC does not, are taken too.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// The delay a `Retry-After` value asks for; `None` when it is neither a number of seconds nor
/// an HTTP-date. A date in the past is no delay.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    // IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is RFC 2822 syntax.
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// [`retry_after`] of a response's `Retry-After` header, if it has a readable one.
pub fn retry_after_header(
    headers: &reqwest::header::HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after(value, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn takes_seconds_fractions_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let cases: [(&str, Option<Duration>); 9] = [
            (" 120 ", Some(Duration::from_secs(120))),
            ("0", Some(Duration::ZERO)),
            ("0.5", Some(Duration::from_millis(500))),
            (
                "Sat, 05 Dec 2026 09:01:30 GMT",
                Some(Duration::from_secs(90)),
            ),
            ("Sat, 05 Dec 2026 08:00:00 GMT", Some(Duration::ZERO)),
            ("-3", None),
            ("NaN", None),
            ("1e400", None),
            ("soon", None),
        ];
        for (value, expected) in cases {
            assert_eq!(retry_after(value, now), expected, "{value:?}");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after_header(&headers, now), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            retry_after_header(&headers, now),
            Some(Duration::from_secs(7))
        );
    }
}
