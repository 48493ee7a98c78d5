//! Throttling: QPS and the daily quota, in both gateway modes, on the manual clock.

use super::*;
use serde_json::json;

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn mashery_mode_answers_403_over_qps_with_retry_after() {
    let h = start(EgnyteSimConfig::default()).await;
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        header(&r, "x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_QPS"
    );
    assert_eq!(header(&r, "retry-after"), "1");
    assert_eq!(header(&r, "x-accesstoken-qps-allotted"), "2");
    assert_eq!(header(&r, "x-accesstoken-qps-current"), "2");
    assert_eq!(header(&r, "content-type"), "text/html;charset=UTF-8");
    assert_eq!(r.text().await.unwrap(), "<h1>Developer Over Qps</h1>");
    // Another token has its own budget.
    h.sim.add_token("other", 1002, "tributary-app", None);
    assert_eq!(
        h.get_as("other", "/pubapi/v1/events/cursor").await.status(),
        200
    );
    h.advance(1);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-accesstoken-qps-current"), "1");
    assert_eq!(header(&r, "x-accesstoken-quota-current"), "3");
}

#[tokio::test]
async fn mashery_mode_answers_403_over_rate_until_midnight_utc() {
    let h = start(EgnyteSimConfig {
        daily_quota: Some(3),
        ..EgnyteSimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
        h.advance(1);
    }
    // Now 09:15:13 UTC: 14 h 44 min 47 s to midnight.
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        header(&r, "x-mashery-error-code"),
        "ERR_403_DEVELOPER_OVER_RATE"
    );
    assert_eq!(header(&r, "retry-after"), "53087");
    assert_eq!(header(&r, "x-accesstoken-quota-allotted"), "3");
    assert_eq!(header(&r, "x-accesstoken-quota-current"), "3");
    assert_eq!(r.text().await.unwrap(), "<h1>Developer Over Rate</h1>");
    h.advance(53087);
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
}

#[tokio::test]
async fn http429_mode_answers_apigee_faults() {
    let h = start(EgnyteSimConfig {
        throttle: ThrottleMode::Http429,
        daily_quota: Some(2),
        ..EgnyteSimConfig::default()
    })
    .await;
    h.get("/pubapi/v1/events/cursor").await;
    h.get("/pubapi/v1/events/cursor").await;
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "53090");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"fault": {"faultstring": "Rate limit quota violation. Quota limit exceeded. Identifier : _default",
                         "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}})
    );
    h.sim.set_daily_quota(None);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after"), "1");
    assert_eq!(
        r.json::<Value>().await.unwrap()["fault"]["detail"]["errorcode"],
        "policies.ratelimit.SpikeArrestViolation"
    );
    h.advance(1);
    let r = h.get("/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-accesstoken-quota-allotted"),
        "",
        "no quota headers while the quota is off"
    );
}

#[tokio::test]
async fn the_limiter_switches_at_runtime() {
    let h = start(EgnyteSimConfig::default()).await;
    let put = h
        .put("/_sim/egnyte/settings", json!({"throttle": "off"}))
        .await;
    assert_eq!(put.status(), 204);
    for _ in 0..5 {
        assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    }
    h.put(
        "/_sim/egnyte/settings",
        json!({"throttle": "http429", "qps": 6}),
    )
    .await;
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 200);
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 429);
    h.put("/_sim/egnyte/settings", json!({"throttle": "mashery"}))
        .await;
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 403);
}
