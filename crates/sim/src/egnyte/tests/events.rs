//! The list and cursor endpoints: exclusive ids, paging, 204, 404, filters, suppress.

use super::*;
use serde_json::json;

#[tokio::test]
async fn cursor_reports_latest_and_oldest_ids_and_the_latest_timestamp() {
    let h = start(quiet()).await;
    let empty = json!({"timestamp": "2026-01-05T09:15:10.000Z", "latest_event_id": 0, "oldest_event_id": 0});
    assert_eq!(h.json("/pubapi/v1/events/cursor").await, empty);
    h.sim.create_folder("/Shared/a", &h.me()).unwrap();
    h.advance(5);
    h.sim.create_file("/Shared/a/f.txt", &h.me()).unwrap();
    h.advance(5);
    let expected = json!({"timestamp": "2026-01-05T09:15:15.000Z", "latest_event_id": 2, "oldest_event_id": 1});
    assert_eq!(h.json("/pubapi/v1/events/cursor").await, expected);
    assert_eq!(h.json("/pubapi/v2/events/cursor").await, expected);
}

#[tokio::test]
async fn lists_events_strictly_after_id_in_ascending_order() {
    let h = start(quiet()).await;
    for i in 0..5 {
        h.sim
            .create_folder(&format!("/Shared/f{i}"), &h.me())
            .unwrap();
    }
    assert_eq!(h.ids("/pubapi/v1/events?id=0").await, vec![1, 2, 3, 4, 5]);
    assert_eq!(h.ids("/pubapi/v1/events?id=2").await, vec![3, 4, 5]);
    assert_eq!(h.ids("/pubapi/v2/events?id=1&count=2").await, vec![2, 3]);
    let page = h.json("/pubapi/v1/events?id=1&count=2").await;
    assert_eq!(
        (
            page["count"].as_i64(),
            page["latest_id"].as_i64(),
            page["oldest_id"].as_i64()
        ),
        (Some(2), Some(3), Some(2))
    );
}

#[tokio::test]
async fn paging_by_latest_id_returns_every_event_exactly_once() {
    let h = start(quiet()).await;
    h.sim.generate(237);
    let mut seen = Vec::new();
    let mut id = 0;
    loop {
        let r = h.get(&format!("/pubapi/v1/events?id={id}&count=100")).await;
        if r.status() == 204 {
            break;
        }
        let page: Value = r.json().await.unwrap();
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        id = page["latest_id"].as_i64().unwrap();
    }
    assert_eq!(seen, (1..=237).collect::<Vec<_>>());
}

#[tokio::test]
async fn count_defaults_to_50_caps_at_100_and_bad_parameters_are_400() {
    let h = start(quiet()).await;
    h.sim.generate(120);
    assert_eq!(h.ids("/pubapi/v1/events?id=0").await.len(), 50);
    assert_eq!(h.ids("/pubapi/v1/events?id=0&count=100").await.len(), 100);
    assert_eq!(
        h.bad_request("/pubapi/v1/events?id=0&count=101").await,
        "Parameter 'count' must be an integer from 1 to 100, got \"101\""
    );
    h.bad_request("/pubapi/v1/events?id=0&count=0").await;
    h.bad_request("/pubapi/v1/events?id=0&count=ten").await;
    assert_eq!(
        h.bad_request("/pubapi/v1/events").await,
        "Parameter 'id' is required"
    );
    assert_eq!(
        h.bad_request("/pubapi/v1/events?id=abc").await,
        "Parameter 'id' must be an integer, got \"abc\""
    );
    assert_eq!(
        h.bad_request("/pubapi/v1/events?id=0&type=file").await,
        "Unknown event type \"file\" in 'type'"
    );
    h.bad_request("/pubapi/v1/events?id=0&suppress=all").await;
    h.bad_request("/pubapi/v1/events?id=0&folder=Shared").await;
}

#[tokio::test]
async fn nothing_new_is_204_with_an_empty_body() {
    let h = start(quiet()).await;
    h.sim.create_folder("/Shared/a", &h.me()).unwrap();
    for id in [1, 7] {
        let r = h.get(&format!("/pubapi/v1/events?id={id}")).await;
        assert_eq!(r.status(), 204);
        assert!(r.headers().get("content-type").is_none());
        assert_eq!(r.bytes().await.unwrap().len(), 0);
    }
}

#[tokio::test]
async fn ids_below_oldest_event_id_are_404_after_gc() {
    let h = start(quiet()).await;
    h.sim.generate(10);
    // Until something is collected, the id before the first is valid too.
    assert_eq!(h.ids("/pubapi/v1/events?id=0&count=1").await, vec![1]);
    assert_eq!(h.get("/pubapi/v1/events?id=-1").await.status(), 404);
    let cursor = h.sim.gc(Gc::BeforeId(5));
    assert_eq!((cursor.oldest_event_id, cursor.latest_event_id), (5, 10));
    for gone in [4, 0, -3] {
        let r = h.get(&format!("/pubapi/v1/events?id={gone}")).await;
        assert_eq!(r.status(), 404);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"errorMessage": format!("event id {gone} is no longer retained; the oldest is 5")})
        );
    }
    assert_eq!(h.ids("/pubapi/v1/events?id=5").await, vec![6, 7, 8, 9, 10]);
    assert_eq!(h.sim.gc(Gc::KeepLast(2)).oldest_event_id, 9);
    assert_eq!(h.get("/pubapi/v1/events?id=8").await.status(), 404);
    assert_eq!(h.ids("/pubapi/v1/events?id=9").await, vec![10]);
    let everything = h.sim.gc(Gc::KeepLast(0));
    assert_eq!(
        (everything.oldest_event_id, everything.latest_event_id),
        (10, 10)
    );
    assert_eq!(h.get("/pubapi/v1/events?id=10").await.status(), 204);
    assert_eq!(h.get("/pubapi/v1/events?id=9").await.status(), 404);
}

#[tokio::test]
async fn retention_drops_by_count_and_by_age() {
    let config = EgnyteSimConfig {
        retention: Retention {
            max_events: Some(3),
            max_age: Some(std::time::Duration::from_secs(3600)),
        },
        ..quiet()
    };
    let h = start(config).await;
    h.sim.generate(5);
    assert_eq!(
        h.json("/pubapi/v1/events/cursor").await["oldest_event_id"],
        3
    );
    h.advance(1800);
    h.sim.generate(1);
    h.advance(1801);
    let cursor = h.json("/pubapi/v1/events/cursor").await;
    assert_eq!(
        (
            cursor["oldest_event_id"].as_i64(),
            cursor["latest_event_id"].as_i64()
        ),
        (Some(6), Some(6))
    );
    assert_eq!(h.get("/pubapi/v1/events?id=5").await.status(), 404);
    assert_eq!(h.sim.log().len(), 6);
}

#[tokio::test]
async fn default_retention_keeps_the_latest_300000_events_for_30_days() {
    // Egnyte's cookbook: "Only latest 300000 events ... older than 30 days" (see `Retention`).
    let h = start(quiet()).await;
    h.sim.generate(300_002);
    let cursor = h.json("/pubapi/v1/events/cursor").await;
    assert_eq!(
        (
            cursor["oldest_event_id"].as_i64(),
            cursor["latest_event_id"].as_i64()
        ),
        (Some(3), Some(300_002))
    );
    assert_eq!(h.get("/pubapi/v1/events?id=1").await.status(), 404);
    assert_eq!(h.get("/pubapi/v1/events?id=3").await.status(), 200);
    // 30 days and one second later, the old events are gone and a new one is all that is left.
    h.advance(30 * 24 * 3600 + 1);
    h.sim.generate(1);
    let cursor = h.json("/pubapi/v1/events/cursor").await;
    assert_eq!(
        (
            cursor["oldest_event_id"].as_i64(),
            cursor["latest_event_id"].as_i64()
        ),
        (Some(300_003), Some(300_003))
    );
}

#[tokio::test]
async fn folder_filter_covers_the_subtree_and_both_ends_of_a_move() {
    let h = start(quiet()).await;
    let me = h.me();
    h.sim.create_folder("/Shared/a", &me).unwrap(); // 1
    h.sim.create_folder("/Shared/a/sub", &me).unwrap(); // 2
    h.sim.create_folder("/Shared/ab", &me).unwrap(); // 3: a sibling with a common prefix
    h.sim.create_file("/Shared/a/sub/f.txt", &me).unwrap(); // 4
    h.sim.create_file("/Shared/ab/g.txt", &me).unwrap(); // 5
    h.sim.move_to("/Shared/ab/g.txt", "/Shared/a", &me).unwrap(); // 6: moved in
    h.sim
        .move_to("/Shared/a/sub/f.txt", "/Shared/ab", &me)
        .unwrap(); // 7: moved out
    h.sim
        .copy("/Shared/a/g.txt", "/Shared/ab/g2.txt", &me)
        .unwrap(); // 8: copied out
    h.sim.create_note("/Shared/a/g.txt", &me).unwrap(); // 9
    h.sim.rename("/Shared/ab", "abc", &me).unwrap(); // 10
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&folder=/Shared/a").await,
        vec![1, 2, 4, 6, 7, 8, 9]
    );
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&folder=/shared/A/").await,
        vec![1, 2, 4, 6, 7, 8, 9]
    );
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&folder=/Shared/a/sub").await,
        vec![2, 4, 7]
    );
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&folder=/Shared/ab").await,
        vec![3, 5, 6, 7, 8, 10]
    );
    assert_eq!(h.ids("/pubapi/v1/events?id=0&folder=/").await.len(), 10);
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&folder=/Private").await,
        Vec::<i64>::new()
    );
}

#[tokio::test]
async fn type_filter_is_pipe_separated_and_v1_hides_permission_changes() {
    let h = start(quiet()).await;
    let me = h.me();
    h.sim.create_file("/Shared/f.txt", &me).unwrap(); // 1
    let note = h.sim.create_note("/Shared/f.txt", &me).unwrap(); // 2
    h.sim
        .change_permission("/Shared", 1002, "Viewer", &me)
        .unwrap(); // 3
    h.sim
        .delete_note(note.note_id.as_deref().unwrap(), &me)
        .unwrap(); // 4
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&type=file_system").await,
        vec![1]
    );
    assert_eq!(h.ids("/pubapi/v1/events?id=0&type=note").await, vec![2, 4]);
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&type=file_system%7Cnote")
            .await,
        vec![1, 2, 4]
    );
    assert_eq!(h.ids("/pubapi/v1/events?id=0").await, vec![1, 2, 4]);
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&type=permission_change").await,
        Vec::<i64>::new()
    );
    assert_eq!(h.ids("/pubapi/v2/events?id=0").await, vec![1, 2, 3, 4]);
    assert_eq!(
        h.ids("/pubapi/v2/events?id=0&type=permission_change|note")
            .await,
        vec![2, 3, 4]
    );
}

#[tokio::test]
async fn suppress_app_hides_the_callers_client_and_user_only_its_own_user() {
    let h = start(quiet()).await;
    h.sim
        .create_folder("/Shared/1", &ActorSpec::api(1001, "tributary-app"))
        .unwrap();
    h.sim
        .create_folder("/Shared/2", &ActorSpec::api(1002, "tributary-app"))
        .unwrap();
    h.sim
        .create_folder("/Shared/3", &ActorSpec::api(1001, "partner-sync"))
        .unwrap();
    h.sim
        .create_folder("/Shared/4", &ActorSpec::web(1001))
        .unwrap();
    h.sim
        .create_folder("/Shared/5", &ActorSpec::desktop(1001))
        .unwrap();
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&suppress=app").await,
        vec![3, 4, 5]
    );
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&suppress=user").await,
        vec![2, 3, 4, 5]
    );
    assert_eq!(
        h.ids("/pubapi/v1/events?id=0&suppress=none").await,
        vec![1, 2, 3, 4, 5]
    );
    h.sim.add_token("bob-token", 1002, "tributary-app", None);
    let r = h
        .get_as("bob-token", "/pubapi/v1/events?id=0&suppress=user")
        .await;
    let page: Value = r.json().await.unwrap();
    let ids: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 3, 4, 5]);
}

#[tokio::test]
async fn normal_responses_carry_the_rate_limit_headers() {
    let h = start(quiet()).await;
    let r = h.get("/pubapi/v1/events/cursor").await;
    let header = |name: &str| r.headers().get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("x-accesstoken-qps-allotted"), "2");
    assert_eq!(header("x-accesstoken-qps-current"), "1");
    assert_eq!(header("x-accesstoken-quota-allotted"), "1000");
    assert_eq!(header("x-accesstoken-quota-current"), "1");
    assert_eq!(header("content-type"), "application/json;charset=UTF-8");
}
