//! Tests of the Egnyte simulator over real HTTP on 127.0.0.1 port 0, with a [`ManualClock`].

mod auth;
mod control;
mod events;
mod faults;
mod limits;
mod shapes;
mod tls;
mod workload;

use super::*;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use std::sync::Arc;
use tributary_core::ManualClock;

/// 2026-01-05T09:15:10Z.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 15, 10).unwrap()
}

/// The default domain with throttling off, so tests can call freely.
fn quiet() -> EgnyteSimConfig {
    EgnyteSimConfig {
        throttle: ThrottleMode::Off,
        ..EgnyteSimConfig::default()
    }
}

type Harness = crate::harness::Harness<EgnyteSim>;

async fn start(config: EgnyteSimConfig) -> Harness {
    let clock = Arc::new(ManualClock::new(t0()));
    let sim = EgnyteSim::new(config, clock.clone());
    Harness::start(sim, clock, EgnyteSim::serve).await
}

impl Harness {
    fn me(&self) -> ActorSpec {
        self.sim.default_actor()
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as("test-token", path).await
    }

    async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A 200 response's JSON.
    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// The event ids a list call returns: empty on 204.
    async fn ids(&self, path: &str) -> Vec<i64> {
        let r = self.get(path).await;
        match r.status().as_u16() {
            204 => Vec::new(),
            200 => {
                let v: Value = r.json().await.unwrap();
                v["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["id"].as_i64().unwrap())
                    .collect()
            }
            s => panic!("GET {path}: status {s}"),
        }
    }

    /// A 400 response's error message.
    async fn bad_request(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 400, "GET {path}");
        let v: Value = r.json().await.unwrap();
        v["errorMessage"].as_str().unwrap().to_owned()
    }

    async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/puboauth/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}
