//! Per-token rate limits: calls per second (QPS) and calls per UTC day, counted on the sim's clock,
//! and the per-client limit of the token endpoint.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How a throttled call is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleMode {
    /// `403` + `X-Mashery-Error-Code` + HTML body (the classic gateway).
    #[default]
    Mashery,
    /// `429` + Apigee `fault` JSON (the newer gateway).
    Http429,
    /// Calls are counted and reported in headers, never refused.
    Off,
}

/// A token's usage as the `X-Accesstoken-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub qps_allotted: u32,
    pub qps_current: u32,
    /// `None` when the daily quota is disabled: the quota headers are then left out.
    pub quota_allotted: Option<u32>,
    pub quota_current: u32,
}

/// The outcome of counting one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed(Usage),
    /// Over the per-second limit; retry after this many seconds.
    OverQps {
        retry_after: u64,
        usage: Usage,
    },
    /// Over the daily quota; retry after this many seconds (the next 00:00 UTC).
    OverRate {
        retry_after: u64,
        usage: Usage,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    second: i64,
    in_second: u32,
    day: Option<NaiveDate>,
    in_day: u32,
}

#[derive(Debug)]
pub(crate) struct Limits {
    pub mode: ThrottleMode,
    pub qps: u32,
    pub daily_quota: Option<u32>,
    pub token_requests_per_hour: Option<u32>,
    tokens: HashMap<String, Counter>,
    /// Token-endpoint requests per client: (hour, count).
    token_endpoint: HashMap<String, (i64, u32)>,
}

impl Limits {
    pub fn new(
        mode: ThrottleMode,
        qps: u32,
        daily_quota: Option<u32>,
        token_requests_per_hour: Option<u32>,
    ) -> Self {
        Self {
            mode,
            qps,
            daily_quota,
            token_requests_per_hour,
            tokens: HashMap::new(),
            token_endpoint: HashMap::new(),
        }
    }

    /// Counts one call by `token` at `now`. A refused call is not counted.
    pub fn check(&mut self, token: &str, now: DateTime<Utc>) -> Verdict {
        let counter = self.tokens.entry(token.to_owned()).or_default();
        let second = now.timestamp();
        if counter.second != second {
            counter.second = second;
            counter.in_second = 0;
        }
        let day = now.date_naive();
        if counter.day != Some(day) {
            counter.day = Some(day);
            counter.in_day = 0;
        }
        let usage = |c: &Counter| Usage {
            qps_allotted: self.qps,
            qps_current: c.in_second,
            quota_allotted: self.daily_quota,
            quota_current: c.in_day,
        };
        if self.mode != ThrottleMode::Off {
            if self.daily_quota.is_some_and(|q| counter.in_day >= q) {
                return Verdict::OverRate {
                    retry_after: seconds_until_next_day(now),
                    usage: usage(counter),
                };
            }
            if counter.in_second >= self.qps {
                return Verdict::OverQps {
                    retry_after: seconds_until_next_second(now),
                    usage: usage(counter),
                };
            }
        }
        counter.in_second += 1;
        counter.in_day += 1;
        Verdict::Allowed(usage(counter))
    }

    /// Counts one token request by `client_id`; `Err(retry_after)` when over the hourly limit.
    pub fn check_token_endpoint(&mut self, client_id: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let hour = now.timestamp().div_euclid(3600);
        let entry = self
            .token_endpoint
            .entry(client_id.to_owned())
            .or_insert((hour, 0));
        if entry.0 != hour {
            *entry = (hour, 0);
        }
        if self.mode != ThrottleMode::Off
            && self
                .token_requests_per_hour
                .is_some_and(|limit| entry.1 >= limit)
        {
            let next = (hour + 1) * 3600;
            return Err(ceil_seconds(next * 1000 - now.timestamp_millis()));
        }
        entry.1 += 1;
        Ok(())
    }
}

fn ceil_seconds(millis: i64) -> u64 {
    u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1)
}

fn seconds_until_next_second(now: DateTime<Utc>) -> u64 {
    ceil_seconds(1000 - now.timestamp_millis().rem_euclid(1000))
}

fn seconds_until_next_day(now: DateTime<Utc>) -> u64 {
    let next = NaiveDate::from_ymd_opt(now.year(), now.month(), now.day())
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    match next {
        Some(next) => ceil_seconds((next - now).num_milliseconds()),
        None => ceil_seconds(Duration::days(1).num_milliseconds()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_per_second_and_per_day() {
        let mut limits = Limits::new(ThrottleMode::Mashery, 2, Some(3), None);
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 23, 0, 0).unwrap();
        assert!(matches!(
            limits.check("t", t),
            Verdict::Allowed(Usage {
                qps_current: 1,
                quota_current: 1,
                ..
            })
        ));
        assert!(matches!(
            limits.check("t", t),
            Verdict::Allowed(Usage { qps_current: 2, .. })
        ));
        assert!(matches!(
            limits.check("t", t),
            Verdict::OverQps { retry_after: 1, .. }
        ));
        assert!(matches!(limits.check("other", t), Verdict::Allowed(_)));
        let t = t + Duration::seconds(1);
        assert!(matches!(
            limits.check("t", t),
            Verdict::Allowed(Usage {
                quota_current: 3,
                ..
            })
        ));
        let t = t + Duration::seconds(1);
        assert_eq!(
            limits.check("t", t),
            Verdict::OverRate {
                retry_after: 3598,
                usage: Usage {
                    qps_allotted: 2,
                    qps_current: 0,
                    quota_allotted: Some(3),
                    quota_current: 3
                }
            }
        );
        let t = t + Duration::seconds(3598);
        assert!(matches!(
            limits.check("t", t),
            Verdict::Allowed(Usage {
                quota_current: 1,
                ..
            })
        ));
    }
}
