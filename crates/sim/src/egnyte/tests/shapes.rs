//! The exact wire JSON of each action (protocol notes §4.3).

use super::*;
use serde_json::json;

#[tokio::test]
async fn each_action_has_the_documented_data_shape() {
    let h = start(EgnyteSimConfig {
        public_base_url: Some("http://sim.test/".into()),
        ..quiet()
    })
    .await;
    let (me, web, desk) = (h.me(), ActorSpec::web(1002), ActorSpec::desktop(1003));
    let s = &h.sim;
    s.create_folder("/Shared/Plans", &me).unwrap();
    let file = s.create_file("/Shared/Plans/Q1 budget.xlsx", &me).unwrap();
    let v2 = s.new_version("/Shared/Plans/Q1 budget.xlsx", &me).unwrap();
    s.rename("/Shared/Plans/Q1 budget.xlsx", "Budget Q1.xlsx", &me)
        .unwrap();
    s.create_folder("/Shared/Old", &web).unwrap();
    s.move_to("/Shared/Plans/Budget Q1.xlsx", "/Shared/Old", &me)
        .unwrap();
    let copy = s
        .copy("/Shared/Old/Budget Q1.xlsx", "/Shared/Plans/copy.xlsx", &me)
        .unwrap();
    s.delete("/Shared/Old/Budget Q1.xlsx", &desk).unwrap();
    s.restore("/Shared/Old/Budget Q1.xlsx", &me).unwrap();
    s.rename("/Shared/Old", "Archive", &me).unwrap();
    s.move_to("/Shared/Archive", "/Shared/Plans", &me).unwrap();
    s.copy("/Shared/Plans/Archive", "/Shared/Archive 2", &me)
        .unwrap();
    s.delete("/Shared/Archive 2", &me).unwrap();
    let note = s
        .create_note("/Shared/Plans/copy.xlsx", &ActorSpec::mobile(1004))
        .unwrap();
    let note_id = note.note_id.clone().unwrap();
    s.delete_note(&note_id, &me).unwrap();
    s.set_emit_restore(false);
    s.restore("/Shared/Archive 2", &me).unwrap();

    let (g, e1, e2) = (
        file.group_id.unwrap(),
        file.entry_id.unwrap(),
        v2.entry_id.unwrap(),
    );
    assert_eq!(
        v2.group_id.as_deref(),
        Some(g.as_str()),
        "a new version keeps the group id"
    );
    assert_ne!(e1, e2, "a new version has a new entry id");
    let (g3, e3) = (copy.group_id.unwrap(), copy.entry_id.unwrap());
    let fs = |p: &str| format!("http://sim.test/pubapi/v1/fs{p}");
    let ev = |id: i64,
              actor: i64,
              source: &str,
              action: &str,
              detail: Option<String>,
              data: Value| {
        let mut e = json!({"id": id, "timestamp": "2026-01-05T09:15:10.000Z", "actor": actor, "type": "file_system",
            "action": action, "action_source": source, "data": data});
        if let Some(d) = detail {
            e["object_detail"] = json!(d);
        }
        e
    };
    let expected = vec![
        ev(
            1,
            1001,
            "PublicAPI",
            "create",
            Some(fs("/Shared/Plans")),
            json!({"target_path": "/Shared/Plans", "is_folder": true}),
        ),
        ev(
            2,
            1001,
            "PublicAPI",
            "create",
            Some(fs("/Shared/Plans/Q1%20budget.xlsx")),
            json!({"target_path": "/Shared/Plans/Q1 budget.xlsx", "target_id": e1, "target_group_id": g, "is_folder": false}),
        ),
        ev(
            3,
            1001,
            "PublicAPI",
            "create",
            Some(fs("/Shared/Plans/Q1%20budget.xlsx")),
            json!({"target_path": "/Shared/Plans/Q1 budget.xlsx", "target_id": e2, "target_group_id": g, "is_folder": false}),
        ),
        ev(
            4,
            1001,
            "PublicAPI",
            "rename",
            Some(fs("/Shared/Plans/Budget%20Q1.xlsx")),
            json!({"source_path": "/Shared/Plans/Q1 budget.xlsx", "target_path": "/Shared/Plans/Budget Q1.xlsx",
                   "target_id": e2, "target_group_id": g, "is_folder": false}),
        ),
        ev(
            5,
            1002,
            "WebUI",
            "create",
            Some(fs("/Shared/Old")),
            json!({"target_path": "/Shared/Old", "is_folder": true}),
        ),
        ev(
            6,
            1001,
            "PublicAPI",
            "move",
            Some(fs("/Shared/Old/Budget%20Q1.xlsx")),
            json!({"source_path": "/Shared/Plans/Budget Q1.xlsx", "target_path": "/Shared/Old/Budget Q1.xlsx",
                   "target_id": e2, "target_group_id": g, "is_folder": false}),
        ),
        ev(
            7,
            1001,
            "PublicAPI",
            "copy",
            Some(fs("/Shared/Plans/copy.xlsx")),
            json!({"source_path": "/Shared/Old/Budget Q1.xlsx", "source_id": e2, "source_group_id": g,
                   "target_path": "/Shared/Plans/copy.xlsx", "target_id": e3, "target_group_id": g3, "is_folder": false}),
        ),
        ev(
            8,
            1003,
            "SyncEngine",
            "delete",
            None,
            json!({"target_path": "/Shared/Old/Budget Q1.xlsx", "target_group_id": g, "is_folder": false}),
        ),
        ev(
            9,
            1001,
            "PublicAPI",
            "restore",
            Some(fs("/Shared/Old/Budget%20Q1.xlsx")),
            json!({"target_path": "/Shared/Old/Budget Q1.xlsx", "target_id": e2, "target_group_id": g, "is_folder": false}),
        ),
        ev(
            10,
            1001,
            "PublicAPI",
            "rename",
            Some(fs("/Shared/Archive")),
            json!({"source_path": "/Shared/Old", "target_path": "/Shared/Archive", "is_folder": true}),
        ),
        ev(
            11,
            1001,
            "PublicAPI",
            "move",
            Some(fs("/Shared/Plans/Archive")),
            json!({"source_path": "/Shared/Archive", "target_path": "/Shared/Plans/Archive", "is_folder": true}),
        ),
        ev(
            12,
            1001,
            "PublicAPI",
            "copy",
            Some(fs("/Shared/Archive%202")),
            json!({"source_path": "/Shared/Plans/Archive", "target_path": "/Shared/Archive 2", "is_folder": true}),
        ),
        ev(
            13,
            1001,
            "PublicAPI",
            "delete",
            None,
            json!({"target_path": "/Shared/Archive 2", "is_folder": true}),
        ),
        json!({"id": 14, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1004, "type": "note", "action": "create",
               "action_source": "Mobile", "object_detail": format!("http://sim.test/pubapi/v1/notes/{note_id}"),
               "data": {"note_id": note_id, "target_path": "/Shared/Plans/copy.xlsx"}}),
        json!({"id": 15, "timestamp": "2026-01-05T09:15:10.000Z", "actor": 1001, "type": "note", "action": "delete",
               "action_source": "PublicAPI", "data": {"note_id": note_id, "target_path": "/Shared/Plans/copy.xlsx"}}),
        ev(
            16,
            1001,
            "PublicAPI",
            "create",
            Some(fs("/Shared/Archive%202")),
            json!({"target_path": "/Shared/Archive 2", "is_folder": true}),
        ),
    ];
    let page = h.json("/pubapi/v1/events?id=0&count=100").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), expected.len());
    for (got, want) in events.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    assert_eq!(page["count"], 16);
    // The restored folder came back with the copied file, under new ids from the copy.
    let restored_file = h.sim.create_note("/Shared/Archive 2/Budget Q1.xlsx", &me);
    assert!(restored_file.is_ok());
}

#[tokio::test]
async fn permission_change_carries_type_specific_attributes_on_v2() {
    let h = start(quiet()).await;
    h.sim
        .change_permission("/Shared", 1002, "Viewer", &h.me())
        .unwrap();
    let page = h.json("/pubapi/v2/events?id=0").await;
    let e = &page["events"][0];
    assert_eq!(
        (e["type"].as_str(), e["action"].as_str()),
        (Some("permission_change"), Some("permission_change"))
    );
    assert_eq!(
        e["data"],
        json!({"target_path": "/Shared", "is_folder": true})
    );
    assert_eq!(
        e["eventTypeSpecificAttributes"]["changePermissionEvent"],
        json!({"changedPermissions": [{"action": "ADD", "entry": {"subject": "/user/1002", "priv": "Viewer"}}]})
    );
}
