//! Time as tributary publishes it: UTC, millisecond precision, RFC 3339 with a `Z` suffix.
//!
//! Use with serde's `with` attribute: `#[serde(with = "tributary_core::time::millis")]`, or
//! `time::millis_opt` for an `Option`. [`truncate`] brings any time to the published precision, so
//! that what is compared in memory is exactly what a reader sees.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// Drops everything below the millisecond.
pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// The latest time that RFC 3339 can express: `9999-12-31T23:59:59.999Z`.
pub fn max() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(253_402_300_799_999).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The earliest time that RFC 3339 can express: `0000-01-01T00:00:00.000Z`.
pub fn min() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(-62_167_219_200_000).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether `t` can be published: RFC 3339 has four-digit years only.
pub fn is_representable(t: &DateTime<Utc>) -> bool {
    (min()..=max()).contains(t)
}

/// Formats `t` as `2026-11-23T08:18:33.123Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 time (any offset) into UTC, truncated to milliseconds.
pub fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    Ok(truncate(
        DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc),
    ))
}

/// Serde adapter for `DateTime<Utc>` fields.
pub mod millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse(&s).map_err(|e| D::Error::custom(format!("invalid RFC 3339 time {s:?}: {e}")))
    }
}

/// Serde adapter for `Option<DateTime<Utc>>` fields (pair it with
/// `skip_serializing_if = "Option::is_none"` and `default`).
pub mod millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            super::parse(&s)
                .map_err(|e| D::Error::custom(format!("invalid RFC 3339 time {s:?}: {e}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_utc_with_millis_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
            + chrono::Duration::microseconds(6789);
        assert_eq!(format(&truncate(t)), "2026-01-02T03:04:05.006Z");
        assert_eq!(format(&t), "2026-01-02T03:04:05.006Z");
    }

    #[test]
    fn knows_the_rfc3339_range() {
        assert_eq!(format(&max()), "9999-12-31T23:59:59.999Z");
        assert_eq!(format(&min()), "0000-01-01T00:00:00.000Z");
        assert_eq!(parse(&format(&max())).unwrap(), max());
        assert!(is_representable(&max()) && is_representable(&min()));
        assert!(!is_representable(&DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn parses_offsets_into_utc_millis() {
        let t = parse("2015-01-02T17:24:17.946123+01:00").unwrap();
        assert_eq!(format(&t), "2015-01-02T16:24:17.946Z");
        assert!(parse("yesterday").is_err());
    }
}
