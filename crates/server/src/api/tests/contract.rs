//! The API contract: a real answer of every documented operation (successes and errors),
//! validated against the schema that the served `/openapi.json` declares for its path, method,
//! status and content type. Requests go through [`router`] with `oneshot`, no socket.
//!
//! The schemas are checked as JSON Schema 2020-12 (what OpenAPI 3.1 uses), with `format`s
//! asserted (`date-time` times) and every object schema closed (`unevaluatedProperties: false`),
//! so a field the document lacks fails as surely as a missing or mistyped one.
//!
//! Every call goes through [`Api`], which checks each answer; this test makes sure every
//! operation is answered at least once (successes and errors).
//!
//! The store is the fixture of [`super`] (sources `a1`, `a2` of tenant `a`, `b1` of `b`),
//! plus events of `a1` with every optional field set; sources are managed by a control whose
//! engine is never run (the sources created here are paused, so nothing polls).

use super::*;
use serde_json::json;
use tributary_core::{Actor, SystemClock};
use tributary_store::Retention;

const ADMIN_KEY: &str = "the-admin-key";
/// A key of tenant `a` limited to source `a1`.
const KEY_A1: &str = "key-for-a1-only";

/// An event of `a1` with every optional field set.
fn rich_event(n: u32, event_type: EventType) -> Event {
    let at = t0() + ChronoDuration::seconds(100 + i64::from(n));
    let mut object = Object::new(format!("rich-{n}"), ObjectKind::Document, "Report.docx");
    object.path = Some("/Shared/Reports/Report.docx".into());
    object.parent = Some("folder-7".into());
    object.size = Some(4096);
    object.modified = Some(at - ChronoDuration::seconds(1));
    object.url = Some("https://example.test/rich".into());
    let mut previous = Object::new(format!("rich-{n}"), ObjectKind::Other("page".into()), "Old");
    previous.path = Some("/Shared/Old".into());
    Event {
        id: EventId::new(format!("rich-{n}")).unwrap(),
        seq: None,
        source: SourceId::new("a1").unwrap(),
        provider: "test".into(),
        event_type,
        occurred_at: at,
        observed_at: at + ChronoDuration::milliseconds(250),
        object,
        previous: Some(previous),
        actor: Some(Actor {
            id: "user-1".into(),
            name: Some("Ada".into()),
            email: Some("ada@example.test".into()),
            via: Some("WebUI".into()),
        }),
        upstream: Upstream {
            id: format!("up-{n}"),
            action: "move".into(),
            raw: Some(json!({"anything": [1, "two", null]})),
        },
        late: false,
    }
}

/// The fixture plus two rich events of `a1`.
async fn store() -> SledStore {
    let store = fixture().await;
    let a1 = store
        .source("a", &SourceId::new("a1").unwrap())
        .unwrap()
        .unwrap();
    let checkpoint = Checkpoint::from_json(json!({"version": "V1", "n": 2})).unwrap();
    let events = vec![
        rich_event(1, EventType::Move),
        rich_event(2, EventType::Copy),
    ];
    let frontier = t0() + ChronoDuration::days(1);
    let page = Page::new(events, checkpoint, Some(Watermark::new(frontier)), false);
    store.ingest(&a1.source_ref(), page).await.unwrap();
    store
        .merge_tenants(vec![("a".into(), frontier)])
        .await
        .unwrap();
    store
}

/// The API over `store` with tenant keys, a source-scoped key and an admin key; with source
/// management when `sources` is set.
fn state(store: &SledStore, sources: bool) -> ApiState {
    let keys = ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A1).for_source("a1"),
    ])
    .unwrap()
    .with_admins([AdminKeyEntry::new(ADMIN_KEY)])
    .unwrap();
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let state = ApiState::new(dyn_store.clone(), keys);
    if !sources {
        return state;
    }
    // The tests' upstreams listen on 127.0.0.1: allowed explicitly.
    with_sources(
        state,
        dyn_store,
        Arc::new(SystemClock),
        tributary_http::AddressPolicy::loopback(),
    )
}

/// Every documented operation has had at least one answer checked.
fn assert_every_operation_checked(doc: &Value, checked: &BTreeSet<(String, String, u16)>) {
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                checked.iter().any(|(m, t, _)| m == method && t == template),
                "{method} {template} was never called"
            );
        }
    }
}

#[test]
fn every_schema_of_the_document_is_valid_json_schema() {
    let doc = serde_json::to_value(openapi_document()).unwrap();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        assert!(
            jsonschema::draft202012::meta::is_valid(schema),
            "schema {name} is not valid JSON Schema 2020-12: {schema}"
        );
    }
}

#[tokio::test]
async fn every_route_answers_as_the_document_says() {
    let store = store().await;
    let api = Api::new(state(&store, true));

    // Health, metrics, the document itself.
    assert_eq!(call_json(&api, "GET", None, "/healthz", None).await.0, 200);
    assert_eq!(call_json(&api, "GET", None, "/readyz", None).await.0, 200);
    assert_eq!(call_json(&api, "GET", None, "/metrics", None).await.0, 200);
    assert_eq!(
        call_json(&api, "GET", None, "/openapi.json", None).await.0,
        200
    );

    // The unified log: pages with and without filters, the rich events among them.
    let (status, page) = call_json(&api, "GET", Some(KEY_A), "/v1/events", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["count"], 12, "{page}");
    let rich = &page["objects"][11];
    assert_eq!(rich["id"], "rich-2");
    assert!(rich["previous"]["kind"] == "page" && rich["actor"]["via"] == "WebUI");
    for query in [
        "page_size=2",
        "source=a1&type=move,copy",
        "type=add&type=delete&path_prefix=/A",
        "since=2026-11-23T09:00:03Z&until=2026-11-23T09:00:09.500Z",
        "source=a1,a2&page_size=1000",
    ] {
        let (status, body) = call_json(
            &api,
            "GET",
            Some(KEY_A),
            &format!("/v1/events?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    let (_, first) = call_json(&api, "GET", Some(KEY_A), "/v1/events?page_size=3", None).await;
    let next = format!("/v1/events?cursor={}", first["cursor"].as_str().unwrap());
    assert_eq!(
        call_json(&api, "GET", Some(KEY_A), &next, None).await.0,
        200
    );
    let (status, latest) = call_json(&api, "GET", Some(KEY_A), "/v1/events/latest", None).await;
    assert_eq!(status, 200);
    let at_end = format!("/v1/events?cursor={}", latest["cursor"].as_str().unwrap());
    let (_, empty) = call_json(&api, "GET", Some(KEY_A), &at_end, None).await;
    assert_eq!(empty["count"], 0);
    // A source-scoped key reads its source only.
    let (status, own) = call_json(&api, "GET", Some(KEY_A1), "/v1/events", None).await;
    assert_eq!((status, &own["count"]), (200, &json!(7)), "{own}");

    // The log's errors.
    for (uri, status) in [
        ("/v1/events?page_size=0", 400),
        ("/v1/events?cursor=not-a-cursor", 400),
        ("/v1/events?type=explode", 400),
        ("/v1/events?source=b1", 404),
        ("/v1/events/stream?page_size=3", 400),
        ("/v1/events/stream?source=nope", 404),
    ] {
        let (got, body) = call_json(&api, "GET", Some(KEY_A), uri, None).await;
        assert_eq!(got, status, "{uri}: {body}");
    }
    for uri in ["/v1/events", "/v1/events/latest", "/v1/events/stream"] {
        assert_eq!(
            call_json(&api, "GET", None, uri, None).await.0,
            401,
            "{uri}"
        );
        assert_eq!(
            call_json(&api, "GET", Some("wrong-key"), uri, None).await.0,
            401,
            "{uri}"
        );
        let (status, body) = call_json(&api, "GET", Some(ADMIN_KEY), uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (403, &json!("admin_key_not_allowed"))
        );
    }
    // The stream's 200 is `text/event-stream` and never ends: not read here (tests.rs reads
    // it; each of its events is the `Event` checked above).

    // Sources: the fixture's, then one created, read, changed and deleted.
    let (status, list) = call_json(&api, "GET", Some(KEY_A), "/v1/sources", None).await;
    assert_eq!((status, &list["count"]), (200, &json!(2)), "{list}");
    let (status, a1) = call_json(&api, "GET", Some(KEY_A), "/v1/sources/a1", None).await;
    assert_eq!(status, 200, "{a1}");
    let account = a1["account_id"].as_u64().unwrap();
    let egnyte = json!({"id": "eg1", "provider": "egnyte", "paused": true,
        "config": {"base_url": "http://127.0.0.1:9", "poll": {"min_interval_ms": 50,
            "max_interval_ms": 200, "multiplier": 2.0, "jitter": 0.0}},
        "credentials": {"kind": "bearer", "token": "secret-token"}});
    let (status, created) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(egnyte.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"]["running"], false);
    let (status, body) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(egnyte.clone()),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("source_exists"))
    );
    for (key, body, status) in [
        (KEY_A, json!({"provider": "egnyte"}), 400),
        (
            KEY_A,
            json!({"provider": "dropbox", "config": {}, "credentials": {}}),
            400,
        ),
        (KEY_A1, egnyte.clone(), 403),
    ] {
        let (got, answer) = call_json(&api, "POST", Some(key), "/v1/sources", Some(body)).await;
        assert_eq!(got, status, "{answer}");
    }
    let policy = json!({"poll": {"min_interval_ms": 100, "max_interval_ms": 1000,
        "multiplier": 1.5, "jitter": 0.1}});
    for change in [json!({"paused": true}), policy] {
        let (status, body) =
            call_json(&api, "PATCH", Some(KEY_A), "/v1/sources/eg1", Some(change)).await;
        assert_eq!(status, 200, "{body}");
    }
    for (method, uri, body, status) in [
        (
            "PATCH",
            "/v1/sources/eg1",
            Some(json!({"colour": "red"})),
            400,
        ),
        (
            "PATCH",
            "/v1/sources/nope",
            Some(json!({"paused": true})),
            404,
        ),
        ("GET", "/v1/sources/b1", None, 404),
        ("GET", "/v1/sources/bad%20id", None, 400),
        ("DELETE", "/v1/sources/a1", None, 403),
    ] {
        let key = if method == "DELETE" { KEY_A1 } else { KEY_A };
        let (got, answer) = call_json(&api, method, Some(key), uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    let (status, _) = call_json(&api, "DELETE", Some(KEY_A), "/v1/sources/eg1", None).await;
    assert_eq!(status, 204);
    assert_eq!(
        call_json(&api, "DELETE", Some(KEY_A), "/v1/sources/eg1", None)
            .await
            .0,
        404
    );
    for (method, uri) in [
        ("GET", "/v1/sources"),
        ("POST", "/v1/sources"),
        ("GET", "/v1/sources/a1"),
        ("PATCH", "/v1/sources/a1"),
        ("DELETE", "/v1/sources/a1"),
        ("POST", "/v1/oauth/egnyte/start"),
    ] {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let (status, _) = call_json(&api, method, None, uri, body.clone()).await;
        assert_eq!(status, 401, "{method} {uri}");
        let (status, answer) = call_json(&api, method, Some(ADMIN_KEY), uri, body).await;
        assert_eq!(status, 403, "{method} {uri}: {answer}");
    }

    // OAuth: a flow started; the callback's refusals (its 201 is the source body checked above,
    // and needs a provider's token endpoint: `sources_tests.rs` runs it against the simulator).
    let start = json!({"config": {"domain": "acme"}, "client_id": "app",
        "client_secret": "shh", "redirect_uri": "https://app.example/back"});
    let (status, started) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/oauth/egnyte/start",
        Some(start.clone()),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    for (uri, body, status) in [
        ("/v1/oauth/dropbox/start", start.clone(), 400),
        ("/v1/oauth/egnyte/start", json!({"client_id": "app"}), 400),
    ] {
        let (got, answer) = call_json(&api, "POST", Some(KEY_A), uri, Some(body)).await;
        assert_eq!(got, status, "{uri}: {answer}");
    }
    let (status, _) = call_json(
        &api,
        "POST",
        Some(KEY_A1),
        "/v1/oauth/egnyte/start",
        Some(start),
    )
    .await;
    assert_eq!(status, 403);
    let issued = started["state"].as_str().unwrap();
    for (provider, query, code) in [
        ("egnyte", "code=abc".to_owned(), "invalid_parameter"),
        (
            "dropbox",
            format!("code=abc&state={issued}"),
            "invalid_parameter",
        ),
        (
            "egnyte",
            "code=abc&state=forged".to_owned(),
            "invalid_oauth_state",
        ),
        // Issued for Egnyte: refused for Jive (and used up).
        (
            "jive",
            format!("code=abc&state={issued}"),
            "invalid_oauth_state",
        ),
        (
            "egnyte",
            format!("error=access_denied&state={issued}"),
            "oauth_denied",
        ),
    ] {
        let uri = format!("/v1/oauth/{provider}/callback?{query}");
        let (status, body) = call_json(&api, "GET", None, &uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &json!(code)),
            "{uri}"
        );
    }

    // The Kloudless-compatible routes, the rich events among them.
    let events = format!("/v1/accounts/{account}/events");
    let (status, page) = call_json(&api, "GET", Some(KEY_A), &events, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["objects"][5]["previous_metadata"]["parent"].is_null());
    assert_eq!(page["objects"][5]["metadata"]["parent"]["id"], "folder-7");
    for uri in [
        format!("{events}?page_size=2"),
        format!("{events}/latest"),
        "/v1/accounts/me/events".to_owned(),
        "/v1/accounts/me/events/latest".to_owned(),
    ] {
        let key = if uri.contains("/me/") { KEY_A1 } else { KEY_A };
        let (status, body) = call_json(&api, "GET", Some(key), &uri, None).await;
        assert_eq!(status, 200, "{uri}: {body}");
    }
    for (uri, status) in [
        ("/v1/accounts/me/events".to_owned(), 400),
        ("/v1/accounts/0/events".to_owned(), 400),
        ("/v1/accounts/x/events/latest".to_owned(), 400),
        (format!("{events}?cursor=junk"), 400),
        ("/v1/accounts/12345/events".to_owned(), 404),
        ("/v1/accounts/12345/events/latest".to_owned(), 404),
    ] {
        let (got, body) = call_json(&api, "GET", Some(KEY_A), &uri, None).await;
        assert_eq!(got, status, "{uri}: {body}");
    }
    for uri in [events.clone(), format!("{events}/latest")] {
        assert_eq!(call_json(&api, "GET", None, &uri, None).await.0, 401);
        assert_eq!(
            call_json(&api, "GET", Some(ADMIN_KEY), &uri, None).await.0,
            403
        );
    }

    // API keys, with the admin key.
    let (status, key) = call_json(
        &api,
        "POST",
        Some(ADMIN_KEY),
        "/v1/keys",
        Some(json!({"tenant": "a", "source": "a2", "label": "ci"})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let (status, plain) = call_json(
        &api,
        "POST",
        Some(ADMIN_KEY),
        "/v1/keys",
        Some(json!({"tenant": "b"})),
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let id = key["id"].as_str().unwrap();
    for uri in ["/v1/keys".to_owned(), "/v1/keys?tenant=a".to_owned()] {
        let (status, list) = call_json(&api, "GET", Some(ADMIN_KEY), &uri, None).await;
        assert_eq!(status, 200, "{list}");
    }
    let (status, one) = call_json(
        &api,
        "GET",
        Some(ADMIN_KEY),
        &format!("/v1/keys/{id}"),
        None,
    )
    .await;
    assert_eq!((status, &one["label"]), (200, &json!("ci")));
    for (method, uri, body, status) in [
        ("POST", "/v1/keys", Some(json!({"tenant": ""})), 400),
        (
            "POST",
            "/v1/keys",
            Some(json!({"tenant": "a", "source": "b1"})),
            404,
        ),
        ("GET", "/v1/keys?colour=red", None, 400),
        ("GET", "/v1/keys/key-nope", None, 404),
        ("DELETE", "/v1/keys/key-nope", None, 404),
    ] {
        let (got, answer) = call_json(&api, method, Some(ADMIN_KEY), uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    for (method, uri) in [
        ("POST", "/v1/keys"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/keys/key-nope"),
        ("DELETE", "/v1/keys/key-nope"),
    ] {
        let body = (method == "POST").then(|| json!({"tenant": "a"}));
        assert_eq!(
            call_json(&api, method, None, uri, body.clone()).await.0,
            401
        );
        assert_eq!(call_json(&api, method, Some(KEY_A), uri, body).await.0, 403);
    }
    let (status, _) = call_json(
        &api,
        "DELETE",
        Some(ADMIN_KEY),
        &format!("/v1/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Webhook subscriptions: created, listed, read, changed, replayed, attempts, deleted.
    let (status, sub) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        "/v1/subscriptions",
        Some(
            json!({"url": "http://127.0.0.1:9/hook", "filter": {"sources": ["a1"]},
            "start": "oldest", "description": "contract"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    let sub_uri = format!("/v1/subscriptions/{}", sub["id"].as_str().unwrap());
    for (method, uri, body, status) in [
        ("GET", "/v1/subscriptions".to_owned(), None, 200),
        ("GET", "/v1/subscriptions?limit=0".to_owned(), None, 400),
        ("GET", sub_uri.clone(), None, 200),
        ("GET", "/v1/subscriptions/sub_nope".to_owned(), None, 404),
        (
            "PATCH",
            sub_uri.clone(),
            Some(json!({"paused": true, "rotate_secret": true})),
            200,
        ),
        (
            "PATCH",
            sub_uri.clone(),
            Some(json!({"colour": "red"})),
            400,
        ),
        (
            "PATCH",
            "/v1/subscriptions/sub_nope".to_owned(),
            Some(json!({})),
            404,
        ),
        (
            "POST",
            format!("{sub_uri}/replay"),
            Some(json!({"since": "2026-11-23T09:00:03Z"})),
            200,
        ),
        ("POST", format!("{sub_uri}/replay"), Some(json!({})), 400),
        (
            "POST",
            "/v1/subscriptions/sub_nope/replay".to_owned(),
            Some(json!({"cursor": "x"})),
            404,
        ),
        ("GET", format!("{sub_uri}/attempts"), None, 200),
        ("GET", format!("{sub_uri}/attempts?limit=0"), None, 400),
        (
            "GET",
            "/v1/subscriptions/sub_nope/attempts".to_owned(),
            None,
            404,
        ),
        (
            "POST",
            "/v1/subscriptions".to_owned(),
            Some(json!({"url": "http://10.0.0.1/"})),
            400,
        ),
        ("DELETE", sub_uri.clone(), None, 204),
        ("DELETE", sub_uri.clone(), None, 404),
    ] {
        let (got, answer) = call_json(&api, method, Some(KEY_A), &uri, body).await;
        assert_eq!(got, status, "{method} {uri}: {answer}");
    }
    for (method, uri) in [
        ("POST", "/v1/subscriptions".to_owned()),
        ("GET", "/v1/subscriptions".to_owned()),
        ("GET", sub_uri.clone()),
        ("PATCH", sub_uri.clone()),
        ("DELETE", sub_uri.clone()),
        ("POST", format!("{sub_uri}/replay")),
        ("GET", format!("{sub_uri}/attempts")),
    ] {
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        assert_eq!(
            call_json(&api, method, None, &uri, body.clone()).await.0,
            401
        );
        let (status, answer) = call_json(&api, method, Some(KEY_A1), &uri, body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (403, "forbidden"),
            "{method} {uri}"
        );
    }

    // A cursor older than retention, on both lists.
    let expired = first["cursor"].as_str().unwrap().to_owned();
    let retention = Retention {
        max_age: None,
        max_events: Some(5),
    };
    store
        .apply_retention(retention, t0() + ChronoDuration::days(1))
        .await
        .unwrap();
    for uri in [
        format!("/v1/events?cursor={expired}"),
        format!("{events}?cursor={expired}"),
        format!("/v1/events/stream?cursor={expired}"),
    ] {
        let (status, body) = call_json(&api, "GET", Some(KEY_A), &uri, None).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (410, &json!("cursor_expired"))
        );
    }

    // Without source management: 503 on the sources and OAuth routes.
    let bare = Api::new(state(&store, false));
    for (method, uri, body) in [
        ("GET", "/v1/sources", None),
        ("POST", "/v1/sources", Some(egnyte)),
        ("GET", "/v1/sources/a1", None),
        ("PATCH", "/v1/sources/a1", Some(json!({"paused": true}))),
        ("DELETE", "/v1/sources/a1", None),
        (
            "POST",
            "/v1/oauth/egnyte/start",
            Some(json!({"config": {"domain": "acme"}, "client_id": "app",
                "client_secret": "shh", "redirect_uri": "https://app.example/back"})),
        ),
        ("GET", "/v1/oauth/egnyte/callback?code=a&state=b", None),
    ] {
        let (status, body) = call_json(&bare, method, Some(KEY_A), uri, body).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (503, &json!("sources_unavailable")),
            "{method} {uri}"
        );
    }
    let mut checked = api.checked();
    checked.extend(bare.checked());
    assert_every_operation_checked(api.document(), &checked);
}

/// The check itself: an answer that strays from its schema (a wrong type, a missing or an
/// undocumented field, a bad time) is refused.
#[tokio::test]
async fn an_answer_unlike_its_schema_fails_the_check() {
    let store = fixture().await;
    let api = Api::new(state(&store, false));
    let schema = json!({"$ref": "#/components/schemas/Event"});
    let mut merged = serde_json::to_value(rich_event(1, EventType::Move)).unwrap();
    merged["seq"] = json!(1);
    type Stray = fn(&mut Value);
    let strays: [(&str, Stray); 6] = [
        ("no seq", |e| {
            e.as_object_mut().unwrap().remove("seq");
        }),
        ("late as a string", |e| e["late"] = json!("no")),
        ("an undocumented field", |e| e["colour"] = json!("red")),
        ("a null optional field", |e| {
            e["object"]["path"] = Value::Null
        }),
        ("a bad time", |e| e["occurred_at"] = json!("yesterday")),
        ("an unknown type", |e| e["type"] = json!("explode")),
    ];
    assert!(
        api.schema_errors("a merged event", &schema, &merged)
            .is_empty()
    );
    for (what, stray) in strays {
        let mut body = merged.clone();
        stray(&mut body);
        let errors = api.schema_errors(what, &schema, &body);
        assert!(!errors.is_empty(), "{what} passed the check: {body}");
    }
}

#[tokio::test]
async fn the_document_is_served_without_a_key() {
    let store = fixture().await;
    let api = api(&store);
    let (status, body) = api.get(None, "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::to_value(openapi_document()).unwrap());
}
