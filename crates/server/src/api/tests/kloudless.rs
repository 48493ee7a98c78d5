//! The Kloudless-compatible events API, on the fixture and on a store of one event of each type
//! with every field set.

use super::*;
use serde_json::json;
use tributary_core::{Actor, Cursor};

const KEY_A2: &str = "key-for-source-a2";

/// The account id of the fixture's source (of its tenant) in `store`.
fn account(store: &SledStore, source: &str) -> u64 {
    let record = store
        .source(tenant_of(source), &SourceId::new(source).unwrap())
        .unwrap()
        .unwrap_or_else(|| panic!("no source {source}"));
    AccountId::of(store, &record).get()
}

/// Tenant-wide keys for `a` and `b`, and a key of tenant `a` limited to source `a2`.
fn start(store: &SledStore) -> Api {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A2).for_source("a2"),
    ])
    .unwrap();
    Api::new(ApiState::new(Arc::new(store.clone()), keys))
}

impl Api {
    /// Pages `/v1/accounts/{account}/events` until `remaining` is 0, checking the envelope of
    /// every page, and returns the events.
    async fn kloudless_all(&self, key: &str, account: &str, page_size: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/v1/accounts/{account}/events?page_size={page_size}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = self.get(Some(key), &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            let mut keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            assert_eq!(
                keys,
                ["api", "count", "cursor", "objects", "remaining", "type"],
                "{body}"
            );
            assert_eq!(
                (&body["type"], &body["api"]),
                (&json!("object_list"), &json!("events"))
            );
            let objects = body["objects"].as_array().unwrap();
            assert!(objects.len() <= page_size);
            assert_eq!(body["count"], objects.len());
            events.extend(objects.iter().cloned());
            cursor = Some(body["cursor"].as_str().unwrap().to_owned());
            if body["remaining"] == 0 {
                return events;
            }
        }
        panic!("paging {account} did not end");
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn pages_one_account_in_kloudless_shapes_until_remaining_is_zero() {
    let store = fixture().await;
    let api = start(&store);
    for (source, expected) in [
        ("a1", ["e0", "e3", "e6", "e9", "e12"]),
        ("a2", ["e1", "e4", "e7", "e10", "e13"]),
    ] {
        let id = account(&store, source);
        for page_size in [1, 2, 100] {
            let events = api.kloudless_all(KEY_A, &id.to_string(), page_size).await;
            assert_eq!(ids(&events), expected, "{source} by {page_size}");
            for e in &events {
                assert_eq!(e["account"], id);
                assert_eq!(e["metadata"]["account"], id);
                assert_eq!(e["ip"], Value::Null);
            }
        }
    }
    // The trailing slash Kloudless's own servers took is taken too.
    let (status, body) = api
        .get(
            Some(KEY_A),
            &format!("/v1/accounts/{}/events/", account(&store, "a1")),
        )
        .await;
    assert_eq!((status, &body["count"]), (200, &json!(5)));
}

#[tokio::test]
async fn latest_is_the_end_of_the_log_and_reads_nothing() {
    let store = fixture().await;
    let api = start(&store);
    let id = account(&store, "a1");
    for path in [
        format!("/v1/accounts/{id}/events/latest"),
        format!("/v1/accounts/{id}/events/latest/"),
    ] {
        let (status, body) = api.get(Some(KEY_A), &path).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"cursor": store.latest("a").await.unwrap().encode()})
        );
    }
    let latest = store.latest("a").await.unwrap().encode();
    let (status, body) = api
        .get(
            Some(KEY_A),
            &format!("/v1/accounts/{id}/events?cursor={latest}"),
        )
        .await;
    assert_eq!(
        (status, &body["objects"], &body["count"], &body["remaining"]),
        (200, &json!([]), &json!(0), &json!(0))
    );
    // Events merged later are read from that cursor.
    super::tests::add_events(&store, [15, 18], 2).await;
    let (_, body) = api
        .get(
            Some(KEY_A),
            &format!("/v1/accounts/{id}/events?cursor={latest}"),
        )
        .await;
    assert_eq!(ids(body["objects"].as_array().unwrap()), ["e15", "e18"]);
}

#[tokio::test]
async fn me_is_the_source_of_a_source_scoped_key() {
    let store = fixture().await;
    let api = start(&store);
    let a2 = ["e1", "e4", "e7", "e10", "e13"];
    let events = api.kloudless_all(KEY_A2, "me", 2).await;
    assert_eq!(ids(&events), a2);
    assert!(events.iter().all(|e| e["account"] == account(&store, "a2")));
    // Its numeric id works too; the tenant's other source does not exist for this key.
    let events = api
        .kloudless_all(KEY_A2, &account(&store, "a2").to_string(), 100)
        .await;
    assert_eq!(ids(&events), a2);
    let (status, body) = api
        .get(
            Some(KEY_A2),
            &format!("/v1/accounts/{}/events", account(&store, "a1")),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, "account_not_found"));
    let (status, _) = api.get(Some(KEY_A2), "/v1/accounts/me/events/latest").await;
    assert_eq!(status, 200);
    // The scope holds on the native API as well.
    let (status, body) = api.get(Some(KEY_A2), "/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(ids(body["objects"].as_array().unwrap()), a2);
    let (status, body) = api.get(Some(KEY_A2), "/v1/events?source=a1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
    // The Kloudless SDKs send application keys as `APIKey <key>`.
    let request = Request::get("/v1/accounts/me/events")
        .header(header::AUTHORIZATION, format!("APIKey {KEY_A2}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(api.send(request).await.0, 200);
}

#[tokio::test]
async fn a_source_scoped_key_reads_nothing_of_its_deleted_source() {
    let store = fixture().await;
    let api = start(&store);
    assert!(
        store
            .delete_source("a", &SourceId::new("a2").unwrap())
            .await
            .unwrap()
    );
    let (status, body) = api.get(Some(KEY_A2), "/v1/events").await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "source_not_found"),
        "{body}"
    );
    let (status, body) = api.get(Some(KEY_A2), "/v1/accounts/me/events").await;
    assert_eq!(
        (status, error_code(&body)),
        (404, "account_not_found"),
        "{body}"
    );
    // A source created again with the id is a new one: the key reads its events only, none of
    // the deleted one's (which stay in the tenant's log).
    put_source(&store, "a", "a2").await;
    let (status, body) = api.get(Some(KEY_A2), "/v1/events").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["objects"], &body["remaining"]),
        (&json!([]), &json!(0))
    );
    assert!(api.kloudless_all(KEY_A2, "me", 10).await.is_empty());
    super::tests::add_events(&store, [16], 2).await;
    assert_eq!(super::tests::source_of(16), "a2");
    let (_, body) = api.get(Some(KEY_A2), "/v1/events").await;
    assert_eq!(ids(body["objects"].as_array().unwrap()), ["e16"]);
    assert_eq!(body["objects"][0]["seq"], 11);
    let events = api.kloudless_all(KEY_A2, "me", 10).await;
    assert_eq!(ids(&events), ["e16"]);
    assert_eq!(events[0]["account"], account(&store, "a2"));
    assert_eq!(
        api.all_ids(KEY_A, "").await.len(),
        11,
        "the tenant reads both"
    );
}

#[tokio::test]
async fn me_with_a_tenant_wide_key_is_a_400_that_says_why() {
    let store = fixture().await;
    let api = start(&store);
    for path in ["/v1/accounts/me/events", "/v1/accounts/me/events/latest"] {
        let (status, body) = api.get(Some(KEY_A), path).await;
        assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
        assert!(error_message(&body).contains("source-scoped"), "{body}");
    }
}

#[tokio::test]
async fn another_tenants_account_is_not_found() {
    let store = fixture().await;
    // A source of tenant a that is gone: its account is gone with it.
    let gone = put_source(&store, "a", "gone").await;
    let gone_account = AccountId::of(&store, &gone).get();
    assert!(store.delete_source("a", &gone.id).await.unwrap());
    let api = start(&store);
    let cases = [
        (KEY_B, account(&store, "a1")),
        (KEY_A, account(&store, "b1")),
        (KEY_A, gone_account),
    ];
    for (key, id) in cases {
        for path in [
            format!("/v1/accounts/{id}/events"),
            format!("/v1/accounts/{id}/events/latest"),
        ] {
            let (status, body) = api.get(Some(key), &path).await;
            assert_eq!(
                (status, error_code(&body)),
                (404, "account_not_found"),
                "{path}"
            );
        }
    }
    // What tenant b does see is its own.
    let events = api
        .kloudless_all(KEY_B, &account(&store, "b1").to_string(), 100)
        .await;
    assert_eq!(ids(&events), ["e2", "e5", "e8", "e11", "e14"]);
}

#[tokio::test]
async fn bad_requests_get_a_4xx_that_names_the_problem() {
    let store = fixture().await;
    let id = account(&store, "a1");
    let key = store.stream_key("a");
    let api = start(&store);
    let cases = [
        (
            "/v1/accounts/abc/events".to_owned(),
            400,
            "invalid_parameter",
            "account",
        ),
        (
            "/v1/accounts/0/events".to_owned(),
            400,
            "invalid_parameter",
            "account",
        ),
        (
            "/v1/accounts/-5/events/latest".to_owned(),
            400,
            "invalid_parameter",
            "account",
        ),
        (
            format!("/v1/accounts/{id}/events?page_size=0"),
            400,
            "invalid_parameter",
            "page_size",
        ),
        (
            format!("/v1/accounts/{id}/events?page_size=1001"),
            400,
            "invalid_parameter",
            "page_size",
        ),
        (
            format!("/v1/accounts/{id}/events?page_size=x"),
            400,
            "invalid_parameter",
            "page_size",
        ),
        (
            format!("/v1/accounts/{id}/events?source=a1"),
            400,
            "invalid_parameter",
            "source",
        ),
        (
            format!("/v1/accounts/{id}/events?cursor="),
            400,
            "invalid_parameter",
            "cursor",
        ),
        (
            format!("/v1/accounts/{id}/events?cursor=12"),
            400,
            "invalid_cursor",
            "cursor",
        ),
        (
            format!(
                "/v1/accounts/{id}/events?cursor={}",
                Cursor::new(key ^ 1, Seq(0)).encode()
            ),
            400,
            "invalid_cursor",
            "",
        ),
        (
            format!(
                "/v1/accounts/{id}/events?cursor={}",
                Cursor::new(key, Seq(99)).encode()
            ),
            400,
            "cursor_ahead",
            "",
        ),
    ];
    for (path, status, code, mentions) in cases {
        let (got, body) = api.get(Some(KEY_A), &path).await;
        assert_eq!((got, error_code(&body)), (status, code), "{path}: {body}");
        assert!(error_message(&body).contains(mentions), "{path}: {body}");
    }
    for path in [
        format!("/v1/accounts/{id}/events"),
        "/v1/accounts/me/events".into(),
    ] {
        let (status, body) = api.get(None, &path).await;
        assert_eq!((status, error_code(&body)), (401, "unauthorized"));
        let (status, _) = api.get(Some("wrong-key"), &path).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn an_expired_cursor_answers_410_with_the_oldest_cursor() {
    let store = fixture().await;
    keep_five(&store).await;
    let api = start(&store);
    let expired = Cursor::new(store.stream_key("a"), Seq(3)).encode();
    let (status, body) = api
        .get(
            Some(KEY_A),
            &format!(
                "/v1/accounts/{}/events?cursor={expired}",
                account(&store, "a1")
            ),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (410, "cursor_expired"),
        "{body}"
    );
    assert_eq!(
        body["error"]["oldest_cursor"],
        store.oldest("a").await.unwrap().encode()
    );
}

/// One event of each type from source `m`, with every optional field set on the first.
fn rich_event(n: u32, event_type: EventType) -> Event {
    let at = t0() + ChronoDuration::seconds(i64::from(n));
    let kind = if event_type == EventType::Add {
        ObjectKind::Folder
    } else {
        ObjectKind::Document
    };
    let mut object = Object::new(format!("obj-{n}"), kind, format!("name \"{n}\""));
    object.path = Some(format!("/Shared/Docs/name-{n}"));
    object.parent = Some("/Shared/Docs".into());
    object.size = Some(1000 + u64::from(n));
    object.modified = Some(at - ChronoDuration::seconds(1));
    object.url = Some(format!("https://example.test/{n}"));
    let previous = matches!(
        event_type,
        EventType::Move | EventType::Rename | EventType::Copy
    )
    .then(|| Object::new(format!("orig-{n}"), ObjectKind::File, "before"));
    Event {
        id: EventId::new(format!("r{n}")).unwrap(),
        seq: None,
        source: SourceId::new("m").unwrap(),
        provider: "test".into(),
        event_type,
        occurred_at: at,
        observed_at: at,
        object,
        previous,
        actor: (event_type != EventType::Delete).then(|| Actor {
            id: format!("user-{n}"),
            name: Some("Ada".into()),
            email: None,
            via: None,
        }),
        upstream: Upstream {
            id: format!("u{n}"),
            action: "whatever".into(),
            raw: Some(json!({"big": "payload"})),
        },
        late: false,
    }
}

#[tokio::test]
async fn every_event_type_maps_to_a_kloudless_event() {
    let store = SledStore::temporary().unwrap();
    let m = put_source(&store, "a", "m").await;
    let events: Vec<Event> = EventType::ALL
        .into_iter()
        .zip(0..)
        .map(|(t, n)| rich_event(n, t))
        .collect();
    let checkpoint = Checkpoint::from_json(json!({"version": "V1"})).unwrap();
    let page = Page::new(
        events,
        checkpoint,
        Some(Watermark::new(t0() + ChronoDuration::days(1))),
        false,
    );
    store.ingest(&m.source_ref(), page).await.unwrap();
    store
        .merge("a", t0() + ChronoDuration::days(1))
        .await
        .unwrap();
    let api = start(&store);
    let id = AccountId::of(&store, &m).get();
    let got = api.kloudless_all(KEY_A, &id.to_string(), 100).await;
    assert_eq!(got.len(), EventType::ALL.len());

    assert_eq!(
        got[0],
        json!({
            "id": "r0",
            "account": id,
            "action": "+",
            "type": "add",
            "modified": "2026-11-23T09:00:00.000Z",
            "user_id": "user-0",
            "ip": null,
            "metadata": {
                "id": "obj-0",
                "name": "name \"0\"",
                "path": "/Shared/Docs/name-0",
                "type": "folder",
                "size": 1000,
                "modified": "2026-11-23T08:59:59.000Z",
                "parent": {"id": "/Shared/Docs"},
                "account": id,
                "api": "storage"
            }
        })
    );
    for (e, t) in got.iter().zip(EventType::ALL) {
        assert_eq!(e["type"], t.as_str(), "{e}");
        let action = if t == EventType::Delete { "-" } else { "+" };
        assert_eq!(e["action"], action, "{e}");
        if t != EventType::Add {
            assert_eq!(e["metadata"]["type"], "file", "{e}");
        }
        let user = if t == EventType::Delete {
            Value::Null
        } else {
            json!(format!("user-{}", &e["id"].as_str().unwrap()[1..]))
        };
        assert_eq!(e["user_id"], user, "{e}");
        match t {
            EventType::Move | EventType::Rename | EventType::Copy => {
                let previous = &e["previous_metadata"];
                assert_eq!(
                    (&previous["name"], &previous["path"], &previous["parent"]),
                    (&json!("before"), &Value::Null, &Value::Null),
                    "{e}"
                );
                assert!(previous["id"].as_str().unwrap().starts_with("orig-"));
            }
            _ => assert!(e.get("previous_metadata").is_none(), "{e}"),
        }
    }
}
