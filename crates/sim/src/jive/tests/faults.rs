//! Injected faults and app throttling.

use super::*;
use serde_json::json;

const CONTENTS: &str = "/api/core/v3/contents";

#[tokio::test]
async fn status_faults_answer_the_next_calls_with_retry_after() {
    let h = start(plain()).await;
    h.sim.inject(JiveFault::status(503, Some(7), 2));
    for _ in 0..2 {
        let r = h.get(CONTENTS).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "7");
        let body: Value = serde_json::from_str(strip(&r.text().await.unwrap())).unwrap();
        assert_eq!(body["error"]["status"], 503);
    }
    assert_eq!(h.get(CONTENTS).await.status(), 200);
    let r = h
        .post(
            "/_sim/jive/faults",
            json!({"kind": "status", "status": 429, "retry_after": 1}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(h.get(CONTENTS).await.status(), 429);
    h.inject_and_clear().await;
}

impl Harness {
    async fn inject_and_clear(&self) {
        self.sim.inject(JiveFault::status(500, None, 5));
        let listed: Value = self.control("/_sim/jive/faults").await;
        assert_eq!(listed["faults"][0]["kind"], "status");
        let r = self.delete("/_sim/jive/faults").await;
        assert_eq!(r.status(), 204);
        assert_eq!(self.get(CONTENTS).await.status(), 200);
    }
}

#[tokio::test]
async fn body_faults_break_json_or_answer_html() {
    let h = start(plain()).await;
    h.docs(3);
    h.sim.inject(JiveFault::MalformedJson { next: 1 });
    let r = h.get(CONTENTS).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(strip(&text)).is_err());
    h.sim.inject(JiveFault::Html404 { next: 1 });
    let r = h.get(CONTENTS).await;
    assert_eq!(r.status(), 404);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().starts_with("<html>"));
    h.json(CONTENTS).await;
}

#[tokio::test]
async fn app_throttling_refuses_above_upper_until_below_lower() {
    let h = start(plain()).await;
    h.sim.set_throttle(Some(AppThrottle { lower: 3, upper: 5 }));
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(h.get(CONTENTS).await.status().as_u16());
        h.advance_ms(1000);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 503, 503]);
    // The window slides: after 10 quiet seconds the count is below `lower` again.
    h.advance_ms(10_000);
    assert_eq!(h.get(CONTENTS).await.status(), 200);
    let r = h
        .put("/_sim/jive/settings", json!({"throttle": null}))
        .await;
    assert_eq!(r.status(), 204);
    for _ in 0..10 {
        assert_eq!(h.get(CONTENTS).await.status(), 200);
    }
}
