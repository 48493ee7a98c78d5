//! Injected faults and id resets.

use super::*;

#[tokio::test]
async fn server_errors_hit_the_next_n_calls_then_stop() {
    let h = start(quiet()).await;
    h.sim
        .inject(Fault::next(FaultKind::ServerError { status: 502 }, 2));
    for _ in 0..2 {
        let r = h.get("/pubapi/v1/events/cursor").await;
        assert_eq!(r.status(), 502);
        assert_eq!(r.text().await.unwrap(), "<h1>502 Bad Gateway</h1>");
    }
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    assert!(h.sim.faults().is_empty());
}

#[tokio::test]
async fn a_fault_after_n_lets_n_eligible_calls_through_first() {
    let h = start(quiet()).await;
    let fault = Fault::next(FaultKind::ServerError { status: 503 }, 1).after(2);
    h.sim.inject(fault);
    assert_eq!(
        serde_json::to_value(fault).unwrap(),
        serde_json::json!({"kind": "server_error", "status": 503, "next": 1, "after": 2})
    );
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 204);
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 503);
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 204);
    assert!(h.sim.faults().is_empty());
}

#[tokio::test]
async fn a_fraction_of_one_hits_every_call_until_cleared() {
    let h = start(quiet()).await;
    h.sim
        .inject(Fault::fraction(FaultKind::ServerError { status: 503 }, 1.0));
    for _ in 0..3 {
        assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 503);
    }
    h.sim.clear_faults();
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 204);
    h.sim
        .inject(Fault::fraction(FaultKind::ServerError { status: 503 }, 0.0));
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 204);
}

#[tokio::test]
async fn delays_slow_the_response_down() {
    let h = start(quiet()).await;
    h.sim.inject(Fault::next(FaultKind::Delay { ms: 300 }, 1));
    let started = std::time::Instant::now();
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    // A client with a shorter timeout gives up.
    h.sim.inject(Fault::next(FaultKind::Delay { ms: 5_000 }, 1));
    let r = h
        .http
        .get(format!("{}/pubapi/v1/events/cursor", h.base))
        .bearer_auth("test-token")
        .timeout(std::time::Duration::from_millis(100))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
}

#[tokio::test]
async fn body_faults_apply_to_json_bodies_only() {
    let h = start(quiet()).await;
    h.sim.inject(Fault::next(FaultKind::MalformedJson, 1));
    h.sim.inject(Fault::next(FaultKind::TextPlain, 1));
    // A 204 has no body: the faults wait for the next JSON body.
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 204);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain;charset=UTF-8");
    let text = r.text().await.unwrap();
    assert_eq!(text, r#"{"timestamp":"2026-01-05T09:15:10.000Z","#);
    assert!(serde_json::from_str::<Value>(&text).is_err());
    h.sim.inject(Fault::next(FaultKind::TextPlain, 1));
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.headers()["content-type"], "text/plain;charset=UTF-8");
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v["latest_event_id"], 0);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(
        r.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
}

#[tokio::test]
async fn a_reset_makes_ids_go_backwards() {
    let h = start(quiet()).await;
    h.sim.generate(5);
    let cursor = h.sim.reset_ids(2);
    assert_eq!((cursor.latest_event_id, cursor.oldest_event_id), (1, 1));
    assert_eq!(h.get("/pubapi/v1/events?id=5").await.status(), 204);
    h.sim.generate(2);
    let cursor = h.json("/pubapi/v1/events/cursor").await;
    assert_eq!(
        (
            cursor["latest_event_id"].as_i64(),
            cursor["oldest_event_id"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(h.get("/pubapi/v1/events?id=5").await.status(), 204);
    // Nothing of the new epoch was dropped: reading from just before its first id loses nothing.
    assert_eq!(h.ids("/pubapi/v1/events?id=1").await, vec![2, 3]);
    assert_eq!(h.get("/pubapi/v1/events?id=0").await.status(), 404);
    h.sim.gc(Gc::KeepLast(1));
    assert_eq!(h.get("/pubapi/v1/events?id=2").await.status(), 404);
    assert_eq!(h.get("/pubapi/v1/events?id=3").await.status(), 204);
    let log = h.sim.log();
    let ids: Vec<(i64, u32)> = log.iter().map(|e| (e.id(), e.epoch)).collect();
    assert_eq!(
        ids,
        vec![(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (2, 1), (3, 1)]
    );
}
