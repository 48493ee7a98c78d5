//! `GET /metrics`: the engine's and the API's counters in the Prometheus text format (0.0.4).
//!
//! The exposition is written by `prometheus-client`'s Prometheus text encoder, so names,
//! `_total` suffixes, label escaping and histogram buckets follow the format without code of
//! ours. Collecting still costs nothing until a scrape: the engine, the store and the API count
//! what they count anyway, and each scrape reads it into a `Scrape`, a `Collector` registered
//! in a registry made for that scrape alone, which encodes each metric as a `ConstCounter` or a
//! `ConstGauge`. So no registered counter sits on the hot path and none can drift from the
//! engine's own. The one metric kept between scrapes is the API latency histogram ([`Latency`]),
//! a `Family` of `Histogram`s by route that every request updates.
//!
//! Every metric below is encoded by its own line in `Scrape`'s `encode`, typed by its value
//! (`ConstCounter`, `ConstGauge`, `Histogram`): a metric cannot be reported under another's
//! name. Counters are named without `_total` there (the encoder appends it), and the seconds
//! metrics are named without `_seconds` and given [`Unit::Seconds`] (the encoder appends it).
//!
//! | metric | labels | meaning |
//! | --- | --- | --- |
//! | `tributary_polls_total` | | polls finished, all sources |
//! | `tributary_events_merged_total` | | events moved into the unified log |
//! | `tributary_events_late_total` | | of those, appended behind a later event |
//! | `tributary_retention_passes_total` | | retention passes finished ([`crate::retention`]) |
//! | `tributary_retention_failed_passes_total` | | retention passes the store refused |
//! | `tributary_retention_removed_total` | | events retention removed, all tenants |
//! | `tributary_retention_last_pass_timestamp_seconds` | | Unix time of the last finished pass (absent before the first) |
//! | `tributary_source_up` | `tenant`, `source` | 1 while the source runs, 0 when stopped on an error or paused |
//! | `tributary_source_polls_total` | `tenant`, `source` | its polls |
//! | `tributary_source_events_ingested_total` | `tenant`, `source` | new events it committed |
//! | `tributary_source_upstream_calls_total` | `tenant`, `source` | requests its provider sent upstream |
//! | `tributary_source_upstream_calls_today` | `tenant`, `source` | of those, on the current UTC day (restarts included) |
//! | `tributary_source_lag_seconds` | `tenant`, `source` | now − its watermark (absent before its first one) |
//! | `tributary_source_gaps` | `tenant`, `source` | gaps it recorded (events the upstream lost) |
//! | `tributary_api_request_duration_seconds` | `route` | API latency histogram |
//! | `tributary_webhook_deliveries_total` | | webhook requests answered `2xx` ([`crate::webhooks`]) |
//! | `tributary_webhook_failed_attempts_total` | | webhook attempts that failed |
//! | `tributary_webhook_disabled_total` | | subscriptions the dispatcher disabled |
//! | `tributary_webhook_lag_seconds` | `tenant`, `subscription` | now − when its current run of failures began (failing subscriptions only) |
//!
//! Who may read them is [`MetricsAuth`]: the per-source families name every tenant's sources.

use crate::engine::{Engine, EngineStats};
use crate::retention::RetentionStats;
use crate::storage::HealthSnapshot;
use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::TypedMetric;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;
use tributary_store::EventStore;

/// The `Content-Type` of what [`render`] writes: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the latency histogram's buckets (`+Inf` is added by the histogram).
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Who may read `GET /metrics` (`[metrics] auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAuth {
    /// An admin key (`[[admin_keys]]`), as `/v1/keys` takes: 401 without a known key, 403
    /// `admin_key_required` for a tenant's key. `serve`'s default.
    Admin,
    /// Anyone who reaches the port (`"none"`): keep the API on a private network then.
    #[serde(rename = "none")]
    Open,
}

/// The labels of a per-source metric, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    tenant: String,
    source: String,
}

/// The label of the latency histogram: the matched path pattern, never the raw URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// API request latencies, by route.
#[derive(Debug, Clone)]
pub struct Latency {
    routes: Family<RouteLabels, Histogram>,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            routes: Family::new_with_constructor(|| Histogram::new(BUCKETS)),
        }
    }
}

impl Latency {
    /// Counts one request to `route` (a path pattern) that took `took`.
    pub fn record(&self, route: String, took: Duration) {
        self.routes
            .get_or_create(&RouteLabels { route })
            .observe(took.as_secs_f64());
    }
}

/// The whole exposition, read from `engine` (absent on a server without sources), `store` and
/// `latency` now.
pub fn render(
    engine: Option<&Engine>,
    store: &dyn EventStore,
    latency: &Latency,
    retention: &RetentionStats,
    storage: Option<HealthSnapshot>,
    now: DateTime<Utc>,
) -> Result<String, std::fmt::Error> {
    let mut scrape = Scrape::read(engine, store, latency, retention, now);
    scrape.storage = storage;
    scrape.encode_text()
}

/// What one scrape reports, read when the scrape comes.
#[derive(Debug)]
struct Scrape {
    engine: EngineStats,
    retention: crate::retention::RetentionSnapshot,
    sources: Vec<SourceSample>,
    latency: Latency,
    /// The store's health, when it runs behind a guard.
    storage: Option<HealthSnapshot>,
    /// The webhook dispatcher's counters and failing subscriptions, when one runs.
    webhooks: Option<WebhookSample>,
}

/// The webhook families' values in a scrape.
#[derive(Debug)]
struct WebhookSample {
    counts: crate::webhooks::WebhookSnapshot,
    /// Failing subscriptions and their lag in seconds.
    failing: Vec<(SubscriptionLabels, f64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SubscriptionLabels {
    tenant: String,
    subscription: String,
}

/// One source's values in a scrape; `None` leaves its line out.
#[derive(Debug)]
struct SourceSample {
    labels: SourceLabels,
    up: bool,
    polls: u64,
    events_ingested: u64,
    /// Absent when the provider does not count its requests.
    upstream_calls: Option<u64>,
    upstream_calls_today: Option<u64>,
    /// Absent before the source's first watermark.
    lag_seconds: Option<f64>,
    /// Absent when the store could not list the source's gaps.
    gaps: Option<usize>,
}

impl Scrape {
    fn read(
        engine: Option<&Engine>,
        store: &dyn EventStore,
        latency: &Latency,
        retention: &RetentionStats,
        now: DateTime<Utc>,
    ) -> Self {
        let sources = engine
            .map(Engine::statuses)
            .unwrap_or_default()
            .into_iter()
            .map(|(source, status)| SourceSample {
                up: !status.paused && status.stopped.is_none(),
                polls: status.polls,
                events_ingested: status.events_ingested,
                upstream_calls: status.upstream_calls,
                upstream_calls_today: status.upstream_calls_today,
                // Milliseconds are as fine as a lag is worth reading.
                lag_seconds: status
                    .watermark
                    .map(|w| (now - w.time()).num_milliseconds().max(0) as f64 / 1000.0),
                gaps: store.gaps(&source).ok().map(|gaps| gaps.len()),
                labels: SourceLabels {
                    tenant: source.tenant,
                    source: source.id.as_str().to_owned(),
                },
            })
            .collect();
        Self {
            engine: engine.map(Engine::stats).unwrap_or_default(),
            retention: retention.snapshot(),
            sources,
            latency: latency.clone(),
            storage: None,
            webhooks: engine
                .and_then(Engine::webhook_stats)
                .map(|stats| WebhookSample {
                    counts: stats.snapshot(),
                    failing: stats
                        .failing()
                        .into_iter()
                        .map(|f| {
                            let lag = (now - f.since).num_milliseconds().max(0) as f64 / 1000.0;
                            let labels = SubscriptionLabels {
                                tenant: f.tenant,
                                subscription: f.subscription,
                            };
                            (labels, lag)
                        })
                        .collect(),
                }),
        }
    }

    /// Encodes the scrape in the Prometheus text format, through a registry made for it alone.
    fn encode_text(self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.engine;
        let e = &mut encoder;
        one(
            e,
            "tributary_polls",
            "Polls finished, all sources.",
            ConstCounter::new(stats.polls),
        )?;
        one(
            e,
            "tributary_events_merged",
            "Events moved into the unified log.",
            ConstCounter::new(stats.merged),
        )?;
        one(
            e,
            "tributary_events_late",
            "Merged events appended behind a later event.",
            ConstCounter::new(stats.late),
        )?;
        let retention = self.retention;
        one(
            e,
            "tributary_retention_passes",
            "Retention passes finished.",
            ConstCounter::new(retention.passes),
        )?;
        one(
            e,
            "tributary_retention_failed_passes",
            "Retention passes the store refused.",
            ConstCounter::new(retention.failed_passes),
        )?;
        one(
            e,
            "tributary_retention_removed",
            "Events removed by retention, all tenants.",
            ConstCounter::new(retention.removed),
        )?;
        let family = e.encode_descriptor(
            "tributary_retention_last_pass_timestamp",
            "Unix time of the last finished retention pass.",
            Some(&Unit::Seconds),
            ConstGauge::<i64>::TYPE,
        )?;
        if let Some(at) = retention.last_pass {
            ConstGauge::new(at.timestamp()).encode(family)?;
        }

        if let Some(storage) = self.storage {
            encode_storage(e, storage)?;
        }
        if let Some(webhooks) = &self.webhooks {
            encode_webhooks(e, webhooks)?;
        }

        let sources = &self.sources;
        per_source(
            e,
            "tributary_source_up",
            "1 while the source runs; 0 when stopped on an error or paused.",
            None,
            sources,
            |s| Some(ConstGauge::new(u64::from(s.up))),
        )?;
        per_source(
            e,
            "tributary_source_polls",
            "Polls of the source.",
            None,
            sources,
            |s| Some(ConstCounter::new(s.polls)),
        )?;
        per_source(
            e,
            "tributary_source_events_ingested",
            "New events the source committed.",
            None,
            sources,
            |s| Some(ConstCounter::new(s.events_ingested)),
        )?;
        per_source(
            e,
            "tributary_source_upstream_calls",
            "Requests the source's provider sent upstream.",
            None,
            sources,
            |s| s.upstream_calls.map(ConstCounter::new),
        )?;
        per_source(
            e,
            "tributary_source_upstream_calls_today",
            "Requests the source's provider sent upstream on the current UTC day.",
            None,
            sources,
            |s| s.upstream_calls_today.map(ConstGauge::new),
        )?;
        per_source(
            e,
            "tributary_source_lag",
            "Now minus the source's watermark.",
            Some(&Unit::Seconds),
            sources,
            |s| s.lag_seconds.map(ConstGauge::new),
        )?;
        per_source(
            e,
            "tributary_source_gaps",
            "Gaps the source recorded (events the upstream lost).",
            None,
            sources,
            |s| s.gaps.map(ConstGauge::new),
        )?;

        let histograms = &self.latency.routes;
        let family = e.encode_descriptor(
            "tributary_api_request_duration",
            "API request latency by route.",
            Some(&Unit::Seconds),
            histograms.metric_type(),
        )?;
        histograms.encode(family)
    }
}

/// The `tributary_storage_*` families.
fn encode_storage(e: &mut DescriptorEncoder<'_>, s: HealthSnapshot) -> Result<(), std::fmt::Error> {
    if let Some(free) = s.free_bytes {
        one(
            e,
            "tributary_storage_free_bytes",
            "Free space of the data directory's file system, as last measured.",
            ConstGauge::new(free),
        )?;
    }
    one(
        e,
        "tributary_storage_min_free_bytes",
        "[storage] min_free_bytes: ingest pauses under it.",
        ConstGauge::new(s.min_free_bytes),
    )?;
    one(
        e,
        "tributary_storage_ingest_paused",
        "1 while ingest is held back (low free space or a failing store).",
        ConstGauge::new(u64::from(s.ingest_paused)),
    )?;
    one(
        e,
        "tributary_storage_failing",
        "1 while store writes fail (until one succeeds) or one is stuck; /readyz answers 503.",
        ConstGauge::new(u64::from(s.failing)),
    )?;
    one(
        e,
        "tributary_storage_write_failures",
        "Store writes that failed on a storage error (I/O, a full disk).",
        ConstCounter::new(s.write_failures),
    )?;
    one(
        e,
        "tributary_storage_timeouts",
        "Store calls that did not answer within their timeout.",
        ConstCounter::new(s.timeouts),
    )?;
    one(
        e,
        "tributary_storage_low_space_pauses",
        "Times ingest paused for low free space.",
        ConstCounter::new(s.low_space_pauses),
    )
}

/// The `tributary_webhook_*` families.
fn encode_webhooks(
    e: &mut DescriptorEncoder<'_>,
    w: &WebhookSample,
) -> Result<(), std::fmt::Error> {
    one(
        e,
        "tributary_webhook_deliveries",
        "Webhook requests answered 2xx.",
        ConstCounter::new(w.counts.delivered),
    )?;
    one(
        e,
        "tributary_webhook_failed_attempts",
        "Webhook attempts that failed (a non-2xx answer, no answer, a refused address).",
        ConstCounter::new(w.counts.failed),
    )?;
    one(
        e,
        "tributary_webhook_disabled",
        "Subscriptions the dispatcher disabled (410 Gone, or failing past disable_after).",
        ConstCounter::new(w.counts.disabled),
    )?;
    let mut family = e.encode_descriptor(
        "tributary_webhook_lag",
        "Now minus when a failing subscription's current run of failures began.",
        Some(&Unit::Seconds),
        ConstGauge::<f64>::TYPE,
    )?;
    for (labels, lag) in &w.failing {
        ConstGauge::new(*lag).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// A metric without labels: its `HELP` and `TYPE` lines and its sample.
fn one<M: EncodeMetric + TypedMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: M,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, M::TYPE)?)
}

/// A metric labelled `tenant` and `source`: its `HELP` and `TYPE` lines, then a sample for each
/// source that `value` gives one for.
fn per_source<M: EncodeMetric + TypedMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    sources: &[SourceSample],
    value: impl Fn(&SourceSample) -> Option<M>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, unit, M::TYPE)?;
    for source in sources {
        if let Some(metric) = value(source) {
            metric.encode(family.encode_family(&source.labels)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::synthetic::SyntheticProvider;
    use std::sync::Arc;
    use tributary_core::{PollPolicy, SourceId, SystemClock};
    use tributary_store::{SledStore, SourceRecord};

    fn sample(tenant: &str, source: &str) -> SourceSample {
        SourceSample {
            labels: SourceLabels {
                tenant: tenant.into(),
                source: source.into(),
            },
            up: true,
            polls: 3,
            events_ingested: 5,
            upstream_calls: Some(4),
            upstream_calls_today: Some(2),
            lag_seconds: Some(1.5),
            gaps: Some(0),
        }
    }

    #[test]
    fn encodes_every_family_of_one_source_in_prometheus_text() {
        let latency = Latency::default();
        // On a bucket's bound (counted in it) and between two bounds.
        latency.record("/v1/events".into(), Duration::from_millis(250));
        latency.record("/v1/events".into(), Duration::from_secs(2));
        let scrape = Scrape {
            engine: EngineStats {
                polls: 7,
                merged: 5,
                late: 1,
            },
            retention: crate::retention::RetentionSnapshot {
                passes: 3,
                failed_passes: 1,
                removed: 40,
                last_pass: DateTime::from_timestamp(1_780_000_000, 0),
            },
            sources: vec![sample("acme", "s1")],
            latency,
            storage: None,
            webhooks: None,
        };
        let text = scrape.encode_text().unwrap();
        let bucket = |le: &str, n: u32| {
            format!(
                "tributary_api_request_duration_seconds_bucket{{route=\"/v1/events\",le=\"{le}\"}} {n}"
            )
        };
        let mut expected = vec![
            "# HELP tributary_polls_total Polls finished, all sources.".to_owned(),
            "# TYPE tributary_polls_total counter".into(),
            "tributary_polls_total 7".into(),
            "# HELP tributary_events_merged_total Events moved into the unified log.".into(),
            "# TYPE tributary_events_merged_total counter".into(),
            "tributary_events_merged_total 5".into(),
            "# HELP tributary_events_late_total Merged events appended behind a later event."
                .into(),
            "# TYPE tributary_events_late_total counter".into(),
            "tributary_events_late_total 1".into(),
            "# HELP tributary_retention_passes_total Retention passes finished.".into(),
            "# TYPE tributary_retention_passes_total counter".into(),
            "tributary_retention_passes_total 3".into(),
            "# HELP tributary_retention_failed_passes_total Retention passes the store refused."
                .into(),
            "# TYPE tributary_retention_failed_passes_total counter".into(),
            "tributary_retention_failed_passes_total 1".into(),
            "# HELP tributary_retention_removed_total Events removed by retention, all tenants."
                .into(),
            "# TYPE tributary_retention_removed_total counter".into(),
            "tributary_retention_removed_total 40".into(),
            "# HELP tributary_retention_last_pass_timestamp_seconds Unix time of the last finished retention pass."
                .into(),
            "# TYPE tributary_retention_last_pass_timestamp_seconds gauge".into(),
            "tributary_retention_last_pass_timestamp_seconds 1780000000".into(),
            "# HELP tributary_source_up 1 while the source runs; 0 when stopped on an error or paused."
                .into(),
            "# TYPE tributary_source_up gauge".into(),
            "tributary_source_up{tenant=\"acme\",source=\"s1\"} 1".into(),
            "# HELP tributary_source_polls_total Polls of the source.".into(),
            "# TYPE tributary_source_polls_total counter".into(),
            "tributary_source_polls_total{tenant=\"acme\",source=\"s1\"} 3".into(),
            "# HELP tributary_source_events_ingested_total New events the source committed.".into(),
            "# TYPE tributary_source_events_ingested_total counter".into(),
            "tributary_source_events_ingested_total{tenant=\"acme\",source=\"s1\"} 5".into(),
            "# HELP tributary_source_upstream_calls_total Requests the source's provider sent upstream."
                .into(),
            "# TYPE tributary_source_upstream_calls_total counter".into(),
            "tributary_source_upstream_calls_total{tenant=\"acme\",source=\"s1\"} 4".into(),
            "# HELP tributary_source_upstream_calls_today Requests the source's provider sent upstream on the current UTC day."
                .into(),
            "# TYPE tributary_source_upstream_calls_today gauge".into(),
            "tributary_source_upstream_calls_today{tenant=\"acme\",source=\"s1\"} 2".into(),
            "# HELP tributary_source_lag_seconds Now minus the source's watermark.".into(),
            "# TYPE tributary_source_lag_seconds gauge".into(),
            "tributary_source_lag_seconds{tenant=\"acme\",source=\"s1\"} 1.5".into(),
            "# HELP tributary_source_gaps Gaps the source recorded (events the upstream lost)."
                .into(),
            "# TYPE tributary_source_gaps gauge".into(),
            "tributary_source_gaps{tenant=\"acme\",source=\"s1\"} 0".into(),
            "# HELP tributary_api_request_duration_seconds API request latency by route.".into(),
            "# TYPE tributary_api_request_duration_seconds histogram".into(),
        ];
        for le in [
            "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
        ] {
            expected.push(bucket(le, 0));
        }
        for le in ["0.25", "0.5", "1"] {
            expected.push(bucket(le, 1));
        }
        for le in ["2.5", "+Inf"] {
            expected.push(bucket(le, 2));
        }
        expected
            .push("tributary_api_request_duration_seconds_sum{route=\"/v1/events\"} 2.25".into());
        expected
            .push("tributary_api_request_duration_seconds_count{route=\"/v1/events\"} 2".into());
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn absent_values_leave_out_their_lines_but_not_their_families() {
        let mut source = sample("acme", "s1");
        source.upstream_calls = None;
        source.upstream_calls_today = None;
        source.lag_seconds = None;
        source.gaps = None;
        let scrape = Scrape {
            engine: EngineStats::default(),
            retention: Default::default(),
            sources: vec![source],
            latency: Latency::default(),
            storage: None,
            webhooks: None,
        };
        let text = scrape.encode_text().unwrap();
        for family in [
            "tributary_source_upstream_calls_total",
            "tributary_source_upstream_calls_today",
            "tributary_source_lag_seconds",
            "tributary_source_gaps",
        ] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("# TYPE {family} "))),
                "{family} has its header:\n{text}"
            );
            assert!(
                !text.lines().any(|l| l.starts_with(&format!("{family}{{"))),
                "{family} has no sample:\n{text}"
            );
        }
        assert!(
            text.lines()
                .any(|l| l == "tributary_source_up{tenant=\"acme\",source=\"s1\"} 1"),
            "{text}"
        );
        // No request yet: the histogram has its header and no series.
        assert!(text.ends_with("# TYPE tributary_api_request_duration_seconds histogram\n"));
    }

    #[test]
    fn escapes_quotes_backslashes_and_newlines_in_label_values() {
        let scrape = Scrape {
            engine: EngineStats::default(),
            retention: Default::default(),
            sources: vec![sample("a\"b\\c\nd", "s1")],
            latency: Latency::default(),
            storage: None,
            webhooks: None,
        };
        let text = scrape.encode_text().unwrap();
        assert!(
            text.lines()
                .any(|l| l == "tributary_source_up{tenant=\"a\\\"b\\\\c\\nd\",source=\"s1\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn encodes_the_storage_families_when_the_store_is_guarded() {
        let scrape = Scrape {
            engine: EngineStats::default(),
            retention: Default::default(),
            sources: vec![],
            latency: Latency::default(),
            storage: Some(HealthSnapshot {
                free_bytes: Some(1_000),
                min_free_bytes: 4_096,
                ingest_paused: true,
                failing: false,
                write_failures: 2,
                timeouts: 1,
                low_space_pauses: 3,
            }),
            webhooks: None,
        };
        let text = scrape.encode_text().unwrap();
        for line in [
            "tributary_storage_free_bytes 1000",
            "tributary_storage_min_free_bytes 4096",
            "tributary_storage_ingest_paused 1",
            "tributary_storage_failing 0",
            "tributary_storage_write_failures_total 2",
            "tributary_storage_timeouts_total 1",
            "tributary_storage_low_space_pauses_total 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }

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
        latency.record("/v1/events".into(), Duration::from_micros(700));
        latency.record("/v1/events".into(), Duration::from_millis(30));
        let retention = RetentionStats::default();
        let text = render(
            Some(&engine),
            store.as_ref(),
            &latency,
            &retention,
            None,
            now,
        )
        .unwrap();
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
        assert!(
            text.contains("tributary_retention_removed_total 0\n")
                && !text.contains("\ntributary_retention_last_pass_timestamp_seconds "),
            "no pass yet: {text}"
        );
    }

    #[test]
    fn encodes_the_webhook_families_when_a_dispatcher_runs() {
        let scrape = Scrape {
            engine: EngineStats::default(),
            retention: Default::default(),
            sources: vec![],
            latency: Latency::default(),
            storage: None,
            webhooks: Some(WebhookSample {
                counts: crate::webhooks::WebhookSnapshot {
                    delivered: 12,
                    failed: 3,
                    disabled: 1,
                },
                failing: vec![(
                    SubscriptionLabels {
                        tenant: "acme".into(),
                        subscription: "sub_1".into(),
                    },
                    90.5,
                )],
            }),
        };
        let text = scrape.encode_text().unwrap();
        for line in [
            "tributary_webhook_deliveries_total 12",
            "tributary_webhook_failed_attempts_total 3",
            "tributary_webhook_disabled_total 1",
            "tributary_webhook_lag_seconds{tenant=\"acme\",subscription=\"sub_1\"} 90.5",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
