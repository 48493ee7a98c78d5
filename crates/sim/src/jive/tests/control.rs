//! The control API and the ground-truth log.

use super::*;
use serde_json::json;

#[tokio::test]
async fn actions_apply_operations_and_the_log_records_them() {
    let h = start(plain()).await;
    let r = h
        .post(
            "/_sim/jive/actions",
            json!({"op": "create", "content_type": "discussion", "subject": "Outage?", "place": 1100, "user": "bob"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let outcome: Outcome = r.json().await.unwrap();
    let id = outcome.content_id;
    h.advance_ms(3);
    h.sim.rename(id, "Outage!").unwrap();
    h.advance_ms(3);
    h.sim.move_to(id, P2).unwrap();
    h.sim.comment(id).unwrap();
    h.sim.edit(id).unwrap();
    let del = h.sim.delete(id).unwrap();
    h.sim.restore(id).unwrap();
    let r = h
        .post(
            "/_sim/jive/actions",
            json!({"op": "edit", "content_id": "424242"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = h
        .post(
            "/_sim/jive/actions",
            json!({"op": "restore", "content_id": id.0}),
        )
        .await;
    assert_eq!(r.status(), 409);

    let log: Value = h.control("/_sim/jive/log").await;
    assert_eq!(log["count"], 7);
    let kinds: Vec<&str> = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "create", "rename", "move", "comment", "edit", "delete", "restore"
        ]
    );
    let changes = h.sim.changes();
    let p = |n: u64| format!("{}/api/core/v3/places/{n}", h.base);
    assert_eq!(changes[0].by, "bob");
    assert_eq!(changes[0].content_type, "discussion");
    assert_eq!(changes[0].at, t0());
    assert_eq!(changes[1].previous_subject.as_deref(), Some("Outage?"));
    assert_eq!(changes[1].subject, "Outage!");
    assert_eq!(changes[2].previous_place, Some(p(1100)));
    assert_eq!(changes[2].place, p(1101));
    assert_eq!(changes[5].marker_id, del.marker_id);
    assert_eq!(changes[5].kind, ChangeKind::Delete);
    assert!(changes.iter().zip(1..).all(|(c, seq)| c.seq == seq));
    assert_eq!(log["changes"][5]["content_id"], id.to_string());
}

#[tokio::test]
async fn state_settings_and_tokens() {
    let h = start(plain()).await;
    let r = h.post("/_sim/jive/generate", json!({"count": 20})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["count"], 20);
    let r = h
        .put(
            "/_sim/jive/settings",
            json!({"prefix": false, "throttle": {"lower": 70, "upper": 150}, "token_lifetime_secs": 5, "core_revision": 8}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let state: Value = h.control("/_sim/jive/state").await;
    assert_eq!(state["changes"], 20);
    assert_eq!(state["prefix"], false);
    assert_eq!(state["core_revision"], 8);
    assert_eq!(state["token_lifetime_secs"], 5);
    assert_eq!(state["throttle"], json!({"lower": 70, "upper": 150}));
    assert_eq!(state["places"].as_array().unwrap().len(), 8);
    let r = h.post("/_sim/jive/oauth/codes", json!({})).await;
    assert_eq!(r.status(), 201);
    let r = h.post("/_sim/jive/actions", json!({"op": "fly"})).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_body");
}
