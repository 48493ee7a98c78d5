//! `GET /metrics`: the engine's and the API's counters in the Prometheus text format (0.0.4).
//!
//! Everything is read at scrape time from what the engine, the store and the API already count,
//! so nothing is registered ahead and nothing can drift: the text is written here directly (a
//! metrics library would add a registry to keep in step with the engine's own counters).
//!
//! | metric | labels | meaning |
//! | --- | --- | --- |
//! | `tributary_polls_total` | | polls finished, all sources |
//! | `tributary_events_merged_total` | | events moved into the unified log |
//! | `tributary_events_late_total` | | of those, appended behind a later event |
//! | `tributary_source_up` | `tenant`, `source` | 1 while the source runs, 0 when stopped on an error or paused |
//! | `tributary_source_polls_total` | `tenant`, `source` | its polls |
//! | `tributary_source_events_ingested_total` | `tenant`, `source` | new events it committed |
//! | `tributary_source_upstream_calls_total` | `tenant`, `source` | requests its provider sent upstream |
//! | `tributary_source_upstream_calls_today` | `tenant`, `source` | of those, on the current UTC day (restarts included) |
//! | `tributary_source_lag_seconds` | `tenant`, `source` | now − its watermark (absent before its first one) |
//! | `tributary_source_gaps` | `tenant`, `source` | gaps it recorded (events the upstream lost) |
//! | `tributary_api_request_duration_seconds` | `route` | API latency histogram |

use crate::engine::Engine;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;
use tributary_store::EventStore;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// API request latencies, by route (the matched path pattern, never the raw URL).
#[derive(Debug, Default)]
pub struct Latency {
    routes: Mutex<BTreeMap<String, Histogram>>,
}

impl Latency {
    pub fn record(&self, route: &str, took: Duration) {
        let secs = took.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let h = routes.entry(route.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    fn snapshot(&self) -> BTreeMap<String, Histogram> {
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(
    engine: Option<&Engine>,
    store: &dyn EventStore,
    latency: &Latency,
    now: DateTime<Utc>,
) -> String {
    let mut out = String::with_capacity(4096);
    let stats = engine.map(Engine::stats).unwrap_or_default();
    header(
        &mut out,
        "tributary_polls_total",
        "counter",
        "Polls finished, all sources.",
    );
    let _ = writeln!(out, "tributary_polls_total {}", stats.polls);
    header(
        &mut out,
        "tributary_events_merged_total",
        "counter",
        "Events moved into the unified log.",
    );
    let _ = writeln!(out, "tributary_events_merged_total {}", stats.merged);
    header(
        &mut out,
        "tributary_events_late_total",
        "counter",
        "Merged events appended behind a later event.",
    );
    let _ = writeln!(out, "tributary_events_late_total {}", stats.late);

    let statuses = engine.map(Engine::statuses).unwrap_or_default();
    let per_source: [(&str, &str, &str); 7] = [
        (
            "tributary_source_up",
            "gauge",
            "1 while the source runs; 0 when stopped on an error or paused.",
        ),
        (
            "tributary_source_polls_total",
            "counter",
            "Polls of the source.",
        ),
        (
            "tributary_source_events_ingested_total",
            "counter",
            "New events the source committed.",
        ),
        (
            "tributary_source_upstream_calls_total",
            "counter",
            "Requests the source's provider sent upstream.",
        ),
        (
            "tributary_source_upstream_calls_today",
            "gauge",
            "Requests the source's provider sent upstream on the current UTC day.",
        ),
        (
            "tributary_source_lag_seconds",
            "gauge",
            "Now minus the source's watermark.",
        ),
        (
            "tributary_source_gaps",
            "gauge",
            "Gaps the source recorded (events the upstream lost).",
        ),
    ];
    for (name, kind, help) in per_source {
        header(&mut out, name, kind, help);
        for (id, s) in &statuses {
            let (tenant, source) = (label(&id.tenant), label(id.id.as_str()));
            let value = match name {
                "tributary_source_up" => {
                    Some(u64::from(!s.paused && s.stopped.is_none()).to_string())
                }
                "tributary_source_polls_total" => Some(s.polls.to_string()),
                "tributary_source_events_ingested_total" => Some(s.events_ingested.to_string()),
                "tributary_source_upstream_calls_total" => s.upstream_calls.map(|n| n.to_string()),
                "tributary_source_upstream_calls_today" => {
                    s.upstream_calls_today.map(|n| n.to_string())
                }
                "tributary_source_lag_seconds" => s.watermark.map(|w| {
                    let lag = (now - w.time()).num_milliseconds().max(0);
                    format!("{:.3}", lag as f64 / 1000.0)
                }),
                _ => store.gaps(id).ok().map(|g| g.len().to_string()),
            };
            if let Some(v) = value {
                let _ = writeln!(out, "{name}{{tenant=\"{tenant}\",source=\"{source}\"}} {v}");
            }
        }
    }

    let name = "tributary_api_request_duration_seconds";
    header(&mut out, name, "histogram", "API request latency by route.");
    for (route, h) in latency.snapshot() {
        let route = label(&route);
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {:.6}", h.sum);
        let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {}", h.count);
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::synthetic::SyntheticProvider;
    use std::sync::Arc;
    use tributary_core::{PollPolicy, SourceId, SystemClock};
    use tributary_store::{SledStore, SourceRecord};

    #[tokio::test]
    async fn renders_engine_source_and_latency_families() {
        let store = Arc::new(SledStore::temporary().unwrap());
        let engine = Engine::new(
            store.clone(),
            Arc::new(SystemClock),
            EngineConfig::default(),
        );
        let now = tributary_core::time::truncate(Utc::now());
        // Two tenants with a source of the same id: each has lines of its own.
        for tenant in ["t1", "t2"] {
            let id = SourceId::new("src-1").unwrap();
            let source = store
                .put_source(SourceRecord {
                    id: id.clone(),
                    tenant: tenant.into(),
                    incarnation: 0,
                    provider: "synthetic".into(),
                    config: serde_json::json!({}),
                    credentials: serde_json::json!({}),
                    paused: false,
                    created_at: now,
                })
                .await
                .unwrap();
            let incarnation = source.incarnation;
            let provider = SyntheticProvider::new(id, 1, now, 10, 5);
            engine
                .add_source(source, Arc::new(provider), PollPolicy::default())
                .unwrap();
            if tenant == "t2" {
                engine.set_paused(incarnation, true).unwrap();
            }
        }
        let latency = Latency::default();
        latency.record("/v1/events", Duration::from_micros(700));
        latency.record("/v1/events", Duration::from_millis(30));
        let text = render(Some(&engine), store.as_ref(), &latency, now);
        for line in [
            "# TYPE tributary_polls_total counter",
            "tributary_polls_total 0",
            "tributary_source_up{tenant=\"t1\",source=\"src-1\"} 1",
            "tributary_source_polls_total{tenant=\"t1\",source=\"src-1\"} 0",
            "tributary_source_gaps{tenant=\"t1\",source=\"src-1\"} 0",
            "tributary_source_up{tenant=\"t2\",source=\"src-1\"} 0",
            "tributary_source_gaps{tenant=\"t2\",source=\"src-1\"} 0",
            "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.0005\"} 0",
            "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.001\"} 1",
            "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.05\"} 2",
            "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 2",
            "tributary_api_request_duration_seconds_count{route=\"/v1/events\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("tributary_source_up{"))
                .count(),
            2,
            "{text}"
        );
        assert!(
            !text.contains("tributary_source_lag_seconds{"),
            "no lag before a watermark"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
