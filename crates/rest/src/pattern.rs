//! Date formats as users copy them from Cloud Elements / SAP Open Connectors polling
//! configurations: Java `SimpleDateFormat` patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`), epoch
//! seconds or milliseconds, or RFC 3339; and the time zone a pattern without a zone is read in.
//!
//! Only the letters below are taken, each parsed and formatted exactly (so that
//! `format(parse(s)) == s` for every string the pattern writes); any other letter is refused when
//! the source is created, naming the letter and its position.
//!
//! | letters | meaning | written as |
//! | --- | --- | --- |
//! | `yyyy` | year | `2026` |
//! | `MM` / `M` | month | `03` / `3` |
//! | `MMM` | month, English abbreviation | `Mar` |
//! | `dd` / `d` | day of month | `02` / `2` |
//! | `EEE` | day of week, English abbreviation (read, not checked) | `Mon` |
//! | `HH` / `H` | hour 0–23 | `09` / `9` |
//! | `mm` / `m` | minute | `05` / `5` |
//! | `ss` / `s` | second | `07` / `7` |
//! | `SSS` | millisecond | `511` |
//! | `X` / `XX` / `XXX` | ISO 8601 offset, `Z` for UTC | `+02` / `+0200` / `+02:00` |
//! | `Z` | RFC 822 offset | `+0200`, `+0000` |
//! | `'text'`, `''` | literal text, a single quote | |

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};

/// Why a date format or time zone was refused (at source creation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("the pattern is empty")]
    Empty,
    #[error("unsupported letter '{letter}' at position {position}")]
    UnsupportedLetter { letter: char, position: usize },
    #[error("unsupported '{letters}' at position {position}: {hint}")]
    UnsupportedCount {
        letters: String,
        position: usize,
        hint: &'static str,
    },
    #[error("unterminated quote at position {position}")]
    UnterminatedQuote { position: usize },
    #[error(
        "unsupported time zone {0:?}: give UTC, GMT or a fixed offset such as +02:00 (named zones need a zone database, which is not built in)"
    )]
    Zone(String),
}

/// A value that does not match its format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {value:?} as {format}: {reason}")]
pub struct DateError {
    pub value: String,
    pub format: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Year,
    Month {
        width: usize,
    },
    MonthName,
    DayName,
    Day {
        width: usize,
    },
    Hour {
        width: usize,
    },
    Minute {
        width: usize,
    },
    Second {
        width: usize,
    },
    Millis,
    /// `X` (1), `XX` (2), `XXX` (3).
    IsoOffset(usize),
    Rfc822Offset,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// How dates are written: a pattern, epoch numbers, or RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Pattern(Vec<Token>),
    EpochSeconds,
    EpochMillis,
    Rfc3339,
}

/// A date format and the zone it writes in (and reads in, when a value carries no offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    source: String,
    kind: Kind,
    zone: FixedOffset,
}

impl std::fmt::Display for DateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Reads a time zone: `UTC`, `GMT`, `Z`, `Etc/UTC`, or a fixed offset (`+02:00`, `+0200`,
/// `-05`, `GMT+02:00`, `UTC-5`). Named zones are refused.
pub fn parse_zone(zone: &str) -> Result<FixedOffset, PatternError> {
    let bad = || PatternError::Zone(zone.to_owned());
    let z = zone.trim();
    let rest = ["Etc/UTC", "Etc/GMT", "UTC", "GMT", "UT"]
        .iter()
        .find_map(|p| z.strip_prefix(p))
        .unwrap_or(z);
    if rest.is_empty() || rest == "Z" {
        return Ok(utc());
    }
    let (sign, digits) = match rest.as_bytes().first() {
        Some(b'+') => (1, &rest[1..]),
        Some(b'-') => (-1, &rest[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() > 2 => digits.split_at(digits.len() - 2),
        None => (digits, "0"),
    };
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    match (num(h), num(m)) {
        (Some(h), Some(m)) if h <= 18 && m < 60 => {
            FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

fn utc() -> FixedOffset {
    Utc.fix()
}

impl DateFormat {
    /// A format from its configured text and time zone (`None`: UTC). `epoch_seconds`
    /// (`epoch`, `unix`), `epoch_millis` (`epoch_ms`, `unix_ms`) and `rfc3339` (`iso8601`) name
    /// the non-pattern formats; anything else is a `SimpleDateFormat` pattern.
    pub fn new(format: &str, zone: Option<&str>) -> Result<Self, PatternError> {
        let zone = zone.map(parse_zone).transpose()?.unwrap_or_else(utc);
        let kind = match format {
            "epoch_seconds" | "epochSeconds" | "epoch" | "unix" => Kind::EpochSeconds,
            "epoch_millis" | "epochMillis" | "epoch_ms" | "unix_ms" => Kind::EpochMillis,
            "rfc3339" | "iso8601" | "RFC3339" | "ISO8601" => Kind::Rfc3339,
            pattern => Kind::Pattern(tokens(pattern)?),
        };
        Ok(Self {
            source: format.to_owned(),
            kind,
            zone,
        })
    }

    /// RFC 3339 in UTC: the default format of an updated date.
    pub fn rfc3339() -> Self {
        Self {
            source: "rfc3339".into(),
            kind: Kind::Rfc3339,
            zone: utc(),
        }
    }

    /// The finest unit the format writes, in milliseconds: `1000` for a pattern with seconds and
    /// no `SSS`, `86_400_000` for a date alone.
    pub fn precision_ms(&self) -> i64 {
        match &self.kind {
            Kind::EpochSeconds => 1000,
            Kind::EpochMillis | Kind::Rfc3339 => 1,
            Kind::Pattern(tokens) => tokens
                .iter()
                .filter_map(|t| match t {
                    Token::Millis => Some(1),
                    Token::Second { .. } => Some(1000),
                    Token::Minute { .. } => Some(60_000),
                    Token::Hour { .. } => Some(3_600_000),
                    _ => None,
                })
                .min()
                .unwrap_or(86_400_000),
        }
    }

    /// The zone the format writes in.
    pub fn zone(&self) -> FixedOffset {
        self.zone
    }

    /// `t` written in this format (in its zone).
    pub fn format(&self, t: DateTime<Utc>) -> String {
        let local = t.with_timezone(&self.zone);
        let tokens = match &self.kind {
            Kind::EpochSeconds => return t.timestamp().to_string(),
            Kind::EpochMillis => return t.timestamp_millis().to_string(),
            Kind::Rfc3339 => {
                return local.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            }
            Kind::Pattern(tokens) => tokens,
        };
        let mut out = String::new();
        for token in tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::Year => out.push_str(&format!("{:04}", local.year())),
                Token::Month { width } => pad(&mut out, local.month(), *width),
                Token::MonthName => out.push_str(MONTHS[local.month0() as usize]),
                Token::DayName => {
                    out.push_str(DAYS[local.weekday().num_days_from_monday() as usize])
                }
                Token::Day { width } => pad(&mut out, local.day(), *width),
                Token::Hour { width } => pad(&mut out, local.hour(), *width),
                Token::Minute { width } => pad(&mut out, local.minute(), *width),
                Token::Second { width } => pad(&mut out, local.second(), *width),
                Token::Millis => pad(&mut out, local.nanosecond() / 1_000_000 % 1000, 3),
                Token::IsoOffset(n) => out.push_str(&iso_offset(self.zone, *n)),
                Token::Rfc822Offset => out.push_str(&offset_text(self.zone, "")),
            }
        }
        out
    }

    /// Reads `value`; a value without an offset is taken in the format's zone.
    pub fn parse(&self, value: &str) -> Result<DateTime<Utc>, DateError> {
        let fail = |reason: String| DateError {
            value: value.to_owned(),
            format: self.source.clone(),
            reason,
        };
        match &self.kind {
            Kind::EpochSeconds => {
                parse_epoch(value, 1000).ok_or_else(|| fail("not a number".into()))
            }
            Kind::EpochMillis => parse_epoch(value, 1).ok_or_else(|| fail("not a number".into())),
            Kind::Rfc3339 => match DateTime::parse_from_rfc3339(value) {
                Ok(t) => Ok(t.with_timezone(&Utc)),
                Err(e) => NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .and_then(|n| self.zone.from_local_datetime(&n).single())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| fail(e.to_string())),
            },
            Kind::Pattern(tokens) => parse_tokens(tokens, value, self.zone).map_err(fail),
        }
    }
}

fn pad(out: &mut String, n: u32, width: usize) {
    out.push_str(&format!("{n:0width$}"));
}

fn offset_text(zone: FixedOffset, sep: &str) -> String {
    let secs = zone.local_minus_utc();
    let sign = if secs < 0 { '-' } else { '+' };
    let mins = secs.abs() / 60;
    format!("{sign}{:02}{sep}{:02}", mins / 60, mins % 60)
}

fn iso_offset(zone: FixedOffset, letters: usize) -> String {
    if zone.local_minus_utc() == 0 {
        return "Z".into();
    }
    match letters {
        // `X` writes the hours alone; an offset with minutes keeps them rather than lose them.
        1 if zone.local_minus_utc() % 3600 == 0 => offset_text(zone, "")[..3].to_owned(),
        1 | 2 => offset_text(zone, ""),
        _ => offset_text(zone, ":"),
    }
}

fn parse_epoch(value: &str, unit_ms: i64) -> Option<DateTime<Utc>> {
    let v = value.trim();
    let ms = match v.parse::<i64>() {
        Ok(n) => n.checked_mul(unit_ms)?,
        Err(_) => {
            let f = v.parse::<f64>().ok()?;
            let ms = (f * unit_ms as f64).round();
            if !ms.is_finite() || ms.abs() > 8.2e15 {
                return None;
            }
            ms as i64
        }
    };
    DateTime::from_timestamp_millis(ms)
}

fn tokens(pattern: &str) -> Result<Vec<Token>, PatternError> {
    if pattern.is_empty() {
        return Err(PatternError::Empty);
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                literal.push('\'');
                i += 2;
                continue;
            }
            let start = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(PatternError::UnterminatedQuote { position: start }),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        literal.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&q) => {
                        literal.push(q);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal.push(c);
            i += 1;
            continue;
        }
        let start = i;
        while chars.get(i) == Some(&c) {
            i += 1;
        }
        let n = i - start;
        let count = |hint| PatternError::UnsupportedCount {
            letters: chars[start..i].iter().collect(),
            position: start,
            hint,
        };
        let token = match (c, n) {
            ('y', 4) => Token::Year,
            ('y', _) => return Err(count("write the year as yyyy")),
            ('M', 1 | 2) => Token::Month { width: n },
            ('M', 3) => Token::MonthName,
            ('M', _) => return Err(count("write the month as M, MM or MMM")),
            ('d', 1 | 2) => Token::Day { width: n },
            ('H', 1 | 2) => Token::Hour { width: n },
            ('m', 1 | 2) => Token::Minute { width: n },
            ('s', 1 | 2) => Token::Second { width: n },
            ('d' | 'H' | 'm' | 's', _) => return Err(count("one or two letters")),
            ('S', 3) => Token::Millis,
            ('S', _) => return Err(count("milliseconds are SSS")),
            ('E', 3) => Token::DayName,
            ('E', _) => return Err(count("the day of week is EEE")),
            ('X', 1..=3) => Token::IsoOffset(n),
            ('X', _) => return Err(count("the offset is X, XX or XXX")),
            ('Z', 1) => Token::Rfc822Offset,
            ('Z', _) => return Err(count("the RFC 822 offset is Z")),
            (letter, _) => {
                return Err(PatternError::UnsupportedLetter {
                    letter,
                    position: start,
                });
            }
        };
        if !literal.is_empty() {
            out.push(Token::Literal(std::mem::take(&mut literal)));
        }
        out.push(token);
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    Ok(out)
}

/// Reads `value` against `tokens`: every letter consumes exactly what [`DateFormat::format`]
/// writes for it (a one-letter number takes one or two digits).
fn parse_tokens(tokens: &[Token], value: &str, zone: FixedOffset) -> Result<DateTime<Utc>, String> {
    let mut rest = value;
    let (mut year, mut month, mut day) = (1970i32, 1u32, 1u32);
    let (mut hour, mut minute, mut second, mut millis) = (0u32, 0u32, 0u32, 0u32);
    let mut offset: Option<FixedOffset> = None;
    for token in tokens {
        match token {
            Token::Literal(s) => {
                rest = rest
                    .strip_prefix(s.as_str())
                    .ok_or_else(|| format!("expected {s:?} at {:?}", excerpt(rest)))?;
            }
            Token::Year => year = number(&mut rest, 4, 4, "year")? as i32,
            Token::Month { width } => month = number(&mut rest, *width, 2, "month")?,
            Token::MonthName => {
                let i = MONTHS
                    .iter()
                    .position(|m| rest.starts_with(m))
                    .ok_or_else(|| format!("expected a month name at {:?}", excerpt(rest)))?;
                rest = &rest[3..];
                month = i as u32 + 1;
            }
            Token::DayName => {
                if !DAYS.iter().any(|d| rest.starts_with(d)) {
                    return Err(format!("expected a day name at {:?}", excerpt(rest)));
                }
                rest = &rest[3..];
            }
            Token::Day { width } => day = number(&mut rest, *width, 2, "day")?,
            Token::Hour { width } => hour = number(&mut rest, *width, 2, "hour")?,
            Token::Minute { width } => minute = number(&mut rest, *width, 2, "minute")?,
            Token::Second { width } => second = number(&mut rest, *width, 2, "second")?,
            Token::Millis => millis = number(&mut rest, 3, 3, "millisecond")?,
            Token::IsoOffset(_) | Token::Rfc822Offset => offset = Some(read_offset(&mut rest)?),
        }
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {:?} at the end", excerpt(rest)));
    }
    let naive = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_milli_opt(hour, minute, second, millis))
        .ok_or_else(|| "not a valid date and time".to_owned())?;
    offset
        .unwrap_or(zone)
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| "not a valid date and time".to_owned())
}

fn excerpt(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Takes `min..=max` ASCII digits (as many as there are, up to `max`).
fn number(rest: &mut &str, min: usize, max: usize, what: &str) -> Result<u32, String> {
    let max = max.max(min);
    let len = rest
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if len < min {
        return Err(format!("expected the {what} at {:?}", excerpt(rest)));
    }
    let (digits, tail) = rest.split_at(len);
    *rest = tail;
    digits.parse().map_err(|_| format!("bad {what} {digits:?}"))
}

/// `Z`, `±HH`, `±HHMM` or `±HH:MM`.
fn read_offset(rest: &mut &str) -> Result<FixedOffset, String> {
    if let Some(tail) = rest.strip_prefix('Z') {
        *rest = tail;
        return Ok(utc());
    }
    let sign = match rest.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(format!("expected an offset at {:?}", excerpt(rest))),
    };
    *rest = &rest[1..];
    let h = number(rest, 2, 2, "offset hours")?;
    let m = if let Some(tail) = rest.strip_prefix(':') {
        *rest = tail;
        number(rest, 2, 2, "offset minutes")?
    } else if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        number(rest, 2, 2, "offset minutes")?
    } else {
        0
    };
    FixedOffset::east_opt(sign * (h as i32 * 3600 + m as i32 * 60))
        .ok_or_else(|| "offset out of range".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// (format, zone, string as the upstream writes it, the instant it is).
    const TABLE: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            None,
            "2024-05-01T09:15:02.511Z",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            Some("+02:00"),
            "2024-05-01T11:15:02.511+02:00",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            None,
            "2024-05-01T09:15:02.511+0000",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            Some("-0530"),
            "2024-05-01T03:45:02.511-0530",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss'Z'",
            Some("GMT"),
            "2024-05-01T09:15:02Z",
            "2024-05-01T09:15:02Z",
        ),
        (
            "yyyy-MM-dd HH:mm:ss",
            None,
            "2024-05-01 09:15:02",
            "2024-05-01T09:15:02Z",
        ),
        (
            "yyyy-MM-dd HH:mm:ss",
            Some("+02:00"),
            "2024-05-01 11:15:02",
            "2024-05-01T09:15:02Z",
        ),
        (
            "MM/dd/yyyy HH:mm:ss",
            Some("UTC"),
            "05/01/2024 09:15:02",
            "2024-05-01T09:15:02Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ssX",
            Some("-08"),
            "2024-05-01T01:15:02-08",
            "2024-05-01T09:15:02Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ssXX",
            Some("+0100"),
            "2024-05-01T10:15:02+0100",
            "2024-05-01T09:15:02Z",
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ssXXX",
            Some("UTC"),
            "2024-05-01T09:15:02Z",
            "2024-05-01T09:15:02Z",
        ),
        (
            "EEE, dd MMM yyyy HH:mm:ss Z",
            Some("GMT"),
            "Wed, 01 May 2024 09:15:02 +0000",
            "2024-05-01T09:15:02Z",
        ),
        (
            "d/M/yyyy H:m:s",
            None,
            "1/5/2024 9:5:2",
            "2024-05-01T09:05:02Z",
        ),
        ("yyyy-MM-dd", None, "2024-05-01", "2024-05-01T00:00:00Z"),
        (
            "yyyyMMdd'T'HHmmss",
            None,
            "20240501T091502",
            "2024-05-01T09:15:02Z",
        ),
        (
            "'at' HH 'o''clock' yyyy-MM-dd",
            None,
            "at 09 o'clock 2024-05-01",
            "2024-05-01T09:00:00Z",
        ),
        (
            "''yyyy-MM-dd''",
            None,
            "'2024-05-01'",
            "2024-05-01T00:00:00Z",
        ),
        ("epoch_seconds", None, "1714554902", "2024-05-01T09:15:02Z"),
        (
            "epoch_millis",
            None,
            "1714554902511",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "rfc3339",
            None,
            "2024-05-01T09:15:02.511Z",
            "2024-05-01T09:15:02.511Z",
        ),
        (
            "rfc3339",
            Some("+02:00"),
            "2024-05-01T11:15:02+02:00",
            "2024-05-01T09:15:02Z",
        ),
    ];

    #[test]
    fn known_strings_parse_to_their_instant_and_round_trip_both_ways() {
        for &(format, zone, s, instant) in TABLE {
            let f = DateFormat::new(format, zone).unwrap();
            let parsed = f.parse(s).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(parsed, t(instant), "{format} {s}");
            assert_eq!(f.format(parsed), s, "format(parse(s)) for {format}");
            assert_eq!(
                f.parse(&f.format(parsed)).unwrap(),
                parsed,
                "parse(format(t)) for {format}"
            );
        }
    }

    #[test]
    fn instants_round_trip_at_the_format_precision() {
        let instants = [
            "1999-12-31T23:59:59.999Z",
            "2026-02-28T00:00:00.001Z",
            "2024-02-29T12:34:56.789Z",
        ];
        for &(format, zone, _, _) in TABLE {
            let f = DateFormat::new(format, zone).unwrap();
            let p = f.precision_ms();
            for i in instants {
                let ms = t(i).timestamp_millis();
                let truncated = DateTime::from_timestamp_millis(ms - ms.rem_euclid(p)).unwrap();
                assert_eq!(
                    f.parse(&f.format(truncated)).unwrap(),
                    truncated,
                    "{format} {i}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Any instant from 1970 to 2199, in any zone the table uses, comes back from its text at
        /// the format's precision, and that text comes back from the instant.
        #[test]
        fn every_instant_round_trips_at_the_format_precision(
            ms in 0i64..7_258_118_400_000,
            row in 0usize..TABLE.len(),
        ) {
            let (format, zone, _, _) = TABLE[row];
            let f = DateFormat::new(format, zone).unwrap();
            let p = f.precision_ms();
            let t = DateTime::from_timestamp_millis(ms - ms.rem_euclid(p)).unwrap();
            let text = f.format(t);
            proptest::prop_assert_eq!(f.parse(&text).unwrap(), t, "{} {}", format, text);
            proptest::prop_assert_eq!(f.format(f.parse(&text).unwrap()), text);
        }
    }

    #[test]
    fn a_value_with_an_offset_overrides_the_zone() {
        let f = DateFormat::new("yyyy-MM-dd'T'HH:mm:ssXXX", Some("+05:00")).unwrap();
        assert_eq!(
            f.parse("2024-05-01T09:15:02Z").unwrap(),
            t("2024-05-01T09:15:02Z")
        );
        assert_eq!(
            f.parse("2024-05-01T09:15:02-01:00").unwrap(),
            t("2024-05-01T10:15:02Z")
        );
    }

    #[test]
    fn bad_patterns_are_refused_with_the_letter_and_its_position() {
        for (pattern, message) in [
            ("yyyy-Q", "unsupported letter 'Q' at position 5"),
            ("yyyy-MM-dd hh:mm", "unsupported letter 'h' at position 11"),
            (
                "yyyy-MM-dd'T'HH:mm:ss a",
                "unsupported letter 'a' at position 22",
            ),
            (
                "yy-MM-dd",
                "unsupported 'yy' at position 0: write the year as yyyy",
            ),
            (
                "yyyy-MM-dd HH:mm:ss.SSSSSS",
                "unsupported 'SSSSSS' at position 20: milliseconds are SSS",
            ),
            ("yyyy-MM-dd'T", "unterminated quote at position 10"),
            ("", "the pattern is empty"),
        ] {
            assert_eq!(
                DateFormat::new(pattern, None).unwrap_err().to_string(),
                message,
                "{pattern}"
            );
        }
    }

    #[test]
    fn zones_are_utc_or_fixed_offsets_and_named_ones_are_refused() {
        for (zone, secs) in [
            ("UTC", 0),
            ("GMT", 0),
            ("Z", 0),
            ("+02:00", 7200),
            ("-0530", -19800),
            ("GMT+2", 7200),
            ("UTC-05:00", -18000),
            ("Etc/UTC", 0),
        ] {
            assert_eq!(parse_zone(zone).unwrap().local_minus_utc(), secs, "{zone}");
        }
        let e = parse_zone("America/New_York").unwrap_err().to_string();
        assert!(e.contains("named zones"), "{e}");
        assert!(parse_zone("+25:00").is_err());
    }

    #[test]
    fn values_that_do_not_match_say_why() {
        let f = DateFormat::new("yyyy-MM-dd HH:mm:ss", None).unwrap();
        for bad in [
            "2024-05-01T09:15:02",
            "2024-13-01 09:15:02",
            "2024-05-01 09:15:02Z",
            "soon",
        ] {
            let e = f.parse(bad).unwrap_err();
            assert_eq!(e.value, bad);
        }
        assert!(
            DateFormat::new("epoch_seconds", None)
                .unwrap()
                .parse("x")
                .is_err()
        );
        assert_eq!(
            DateFormat::new("epoch_seconds", None)
                .unwrap()
                .parse("1714554902.5")
                .unwrap(),
            t("2024-05-01T09:15:02.500Z")
        );
    }

    #[test]
    fn precision_is_the_finest_unit_written() {
        for (format, p) in [
            ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", 1),
            ("yyyy-MM-dd HH:mm:ss", 1000),
            ("yyyy-MM-dd HH:mm", 60_000),
            ("yyyy-MM-dd", 86_400_000),
            ("epoch_seconds", 1000),
        ] {
            assert_eq!(
                DateFormat::new(format, None).unwrap().precision_ms(),
                p,
                "{format}"
            );
        }
    }
}
