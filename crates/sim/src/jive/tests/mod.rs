//! Tests of the Jive simulator over real HTTP on 127.0.0.1 port 0, with a [`ManualClock`].

mod auth;
mod contents;
mod control;
mod deleted;
mod faults;
mod shapes;
mod workload;

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::sync::Arc;
use tributary_core::{Clock, ManualClock};

const USER: &str = "admin";
const PASSWORD: &str = "admin-password";

/// 2026-01-05T09:15:10Z.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 15, 10).unwrap()
}

/// The default community with no create lag, so `published == updated` unless a test wants one.
fn plain() -> JiveSimConfig {
    JiveSimConfig {
        create_update_lag_ms: (0, 0),
        ..JiveSimConfig::new(USER, PASSWORD)
    }
}

/// The first place's id.
const P1: PlaceId = PlaceId(1100);
const P2: PlaceId = PlaceId(1101);

/// A date as a filter argument, percent-encoded.
fn arg(t: DateTime<Utc>) -> String {
    super::wire::encode(&format_date(t))
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

type Harness = crate::harness::Harness<JiveSim>;

async fn start(config: JiveSimConfig) -> Harness {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = JiveSim::new(config, clock.clone());
    Harness::start(sim, clock, JiveSim::serve).await
}

/// Strips the security prefix, insisting that it is there.
fn strip(body: &str) -> &str {
    body.strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("no prefix on {body:?}"))
}

impl Harness {
    fn advance_ms(&self, n: u64) {
        self.clock.advance(std::time::Duration::from_millis(n));
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `GET` with Basic credentials; `path` may be an absolute URL.
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .unwrap()
    }

    /// Status and JSON body (prefix stripped).
    async fn call(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(strip(&text)).unwrap())
    }

    /// A 200 response's JSON.
    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.call(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// The `contentID`s of a list page.
    async fn ids(&self, path: &str) -> Vec<String> {
        ids_of(&self.json(path).await)
    }

    /// A 400's error object.
    async fn bad_request(&self, path: &str) -> Value {
        let (status, body) = self.call(path).await;
        assert_eq!(status, 400, "GET {path}: {body}");
        body["error"].clone()
    }

    /// Creates `n` documents in P1, one per millisecond; returns their ids.
    fn docs(&self, n: usize) -> Vec<ContentId> {
        (0..n)
            .map(|i| {
                self.advance_ms(1);
                self.sim
                    .create("document", &format!("doc {i}"), P1)
                    .unwrap()
            })
            .collect()
    }
}

fn ids_of(page: &Value) -> Vec<String> {
    page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contentID"].as_str().unwrap().to_owned())
        .collect()
}

fn strs(ids: &[ContentId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}
