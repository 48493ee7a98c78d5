//! The control API over HTTP.

use super::*;
use serde_json::json;

#[tokio::test]
async fn actions_generate_gc_reset_and_log_over_http() {
    let h = start(quiet()).await;
    let r = h
        .post(
            "/_sim/egnyte/actions",
            json!({"op": "create_folder", "path": "/Shared/a"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"event_id": 1}));
    let r = h
        .post(
            "/_sim/egnyte/actions",
            json!({"op": "create_file", "path": "/Shared/a/f", "user": 1002, "source": "WebUI"}),
        )
        .await;
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["event_id"], 2);
    let r = h
        .post(
            "/_sim/egnyte/actions",
            json!({"op": "create_file", "path": "/Shared/a/f"}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": {"code": "already_exists", "message": "/Shared/a/f already exists"}})
    );
    assert_eq!(
        h.post(
            "/_sim/egnyte/actions",
            json!({"op": "delete", "path": "/Shared/zz"})
        )
        .await
        .status(),
        404
    );
    assert_eq!(
        h.post("/_sim/egnyte/actions", json!({"op": "fly"}))
            .await
            .status(),
        400
    );

    let r = h.post("/_sim/egnyte/generate", json!({"count": 8})).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"count": 8, "first_id": 3, "last_id": 10})
    );
    let r = h.post("/_sim/egnyte/gc", json!({"before_id": 4})).await;
    let cursor: Value = r.json().await.unwrap();
    assert_eq!(
        (
            cursor["oldest_event_id"].as_i64(),
            cursor["latest_event_id"].as_i64()
        ),
        (Some(4), Some(10))
    );
    let r = h.post("/_sim/egnyte/gc", json!({"keep_last": 3})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["oldest_event_id"], 8);

    let log: Value = h.control("/_sim/egnyte/log?origin=true").await;
    assert_eq!(log["count"], 10);
    let second = &log["events"][1];
    assert_eq!(
        (second["actor"].as_i64(), second["action_source"].as_str()),
        (Some(1002), Some("WebUI"))
    );
    assert_eq!(second["_sim"], json!({"client_id": null, "epoch": 0}));
    assert_eq!(log["events"][0]["_sim"]["client_id"], "tributary-app");
    let plain: Value = h.control("/_sim/egnyte/log").await;
    assert!(plain["events"][0].get("_sim").is_none());
    assert_eq!(
        plain["events"][1]["data"]["target_group_id"],
        created["group_id"]
    );

    let r = h.post("/_sim/egnyte/reset", json!({"to": 3})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["latest_event_id"], 2);
    let state: Value = h.control("/_sim/egnyte/state").await;
    assert_eq!(
        (
            state["epoch"].as_i64(),
            state["retained"].as_i64(),
            state["generated"].as_i64()
        ),
        (Some(1), Some(0), Some(10))
    );
    assert_eq!(state["throttle"], "off");
}

#[tokio::test]
async fn faults_settings_and_tokens_over_http() {
    let h = start(quiet()).await;
    let r = h
        .post(
            "/_sim/egnyte/faults",
            json!({"kind": "server_error", "next": 1}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"faults": [{"kind": "server_error", "status": 503, "next": 1}]})
    );
    h.post(
        "/_sim/egnyte/faults",
        json!({"kind": "delay", "ms": 1, "fraction": 0.5}),
    )
    .await;
    let listed: Value = h.control("/_sim/egnyte/faults").await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 2);
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 503);
    let r = h.delete("/_sim/egnyte/faults").await;
    assert_eq!(r.status(), 204);
    assert!(h.sim.faults().is_empty());
    assert_eq!(
        h.post(
            "/_sim/egnyte/faults",
            json!({"kind": "nonsense", "next": 1})
        )
        .await
        .status(),
        400
    );

    let r = h
        .post(
            "/_sim/egnyte/tokens",
            json!({"token": "t2", "user": 1002, "client_id": "partner-sync", "expires_in": 10}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        h.get_as("t2", "/pubapi/v1/events/cursor").await.status(),
        200
    );
    h.advance(10);
    assert_eq!(
        h.get_as("t2", "/pubapi/v1/events/cursor").await.status(),
        401
    );
    let r = h.delete("/_sim/egnyte/tokens/test-token").await;
    assert_eq!(r.status(), 204);
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 401);
    h.put(
        "/_sim/egnyte/settings",
        json!({"inactive_on_bad_token": true, "daily_quota": null, "emit_restore": false}),
    )
    .await;
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 403);
    let state: Value = h.control("/_sim/egnyte/state").await;
    assert_eq!(
        (state["daily_quota"].clone(), state["emit_restore"].clone()),
        (Value::Null, json!(false))
    );
    let r = h
        .put(
            "/_sim/egnyte/settings",
            json!({"token_mode": {"mode": "expiring", "lifetime_secs": 60}}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let state: Value = h.control("/_sim/egnyte/state").await;
    assert_eq!(
        state["token_mode"],
        json!({"mode": "expiring", "lifetime_secs": 60})
    );
    let r = h.bare("/pubapi/v1/nothing").await;
    assert_eq!(r.status(), 404);
}
