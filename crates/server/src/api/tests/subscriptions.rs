//! `/v1/subscriptions` through the router, every answer checked against the document: create,
//! list, read, change, delete, replay and attempts; the secret shown once; rotation with grace;
//! tenant isolation and limits; Cloud Elements' `notification.callback_url`; addresses refused.
//!
//! The dispatcher is a recording fake [`SubscriptionControl`]: what the API tells it is what
//! these tests assert. The fixture's tenant `a` has a log of 10 events (positions 1..=10, `eK`
//! observed at `t0 + K s`), tenant `b` one of 5.

use super::*;
use crate::webhooks::SubscriptionControl;
use crate::webhooks::signature::SigningKey;
use serde_json::json;
use std::sync::Mutex;
use tributary_core::{Clock, ManualClock, Seq};
use tributary_store::{DeliveryAttempt, Disabled};

/// A key of tenant `a` limited to source `a1`.
const KEY_A1: &str = "key-for-a1-only";
const HOOK: &str = "http://127.0.0.1:9/hook";

/// What the API told the dispatcher, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Changed(String),
    Replay(String, u64),
}

#[derive(Default)]
struct Recording(Mutex<Vec<Told>>);

impl Recording {
    fn told(&self) -> Vec<Told> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl SubscriptionControl for Recording {
    fn changed(&self, subscription: &str) {
        self.0
            .lock()
            .unwrap()
            .push(Told::Changed(subscription.to_owned()));
    }

    async fn replay(
        &self,
        subscription: &str,
        delivered: Seq,
    ) -> Result<(), tributary_store::StoreError> {
        self.0
            .lock()
            .unwrap()
            .push(Told::Replay(subscription.to_owned(), delivered.get()));
        Ok(())
    }
}

struct Setup {
    api: Api,
    store: SledStore,
    clock: Arc<ManualClock>,
    control: Arc<Recording>,
}

fn config() -> ApiConfig {
    ApiConfig {
        subscriptions_per_tenant: 3,
        secret_rotation_grace: Duration::from_secs(2 * 3600),
        ..ApiConfig::default()
    }
}

fn keys() -> ApiKeys {
    ApiKeys::new([
        KeyEntry::new("a", KEY_A),
        KeyEntry::new("b", KEY_B),
        KeyEntry::new("a", KEY_A1).for_source("a1"),
    ])
    .unwrap()
}

/// The fixture, source management over a manual clock at `t0 + 1 h` whose outbound policy
/// allows loopback, and a recording control.
async fn setup() -> Setup {
    let store = fixture().await;
    let dyn_store: Arc<dyn tributary_store::EventStore> = Arc::new(store.clone());
    let clock = Arc::new(ManualClock::new(t0() + ChronoDuration::hours(1)));
    let control = Arc::new(Recording::default());
    let state = with_sources(
        ApiState::with_config(dyn_store.clone(), keys(), config()),
        dyn_store,
        clock.clone(),
        tributary_http::AddressPolicy::loopback(),
    )
    .with_webhooks(control.clone());
    Setup {
        api: Api::new(state),
        store,
        clock,
        control,
    }
}

async fn create(api: &Api, key: &str, body: Value) -> (u16, Value) {
    call_json(api, "POST", Some(key), "/v1/subscriptions", Some(body)).await
}

/// The first `n` events' cursor of `key`'s log.
async fn cursor_after(api: &Api, key: &str, n: u32) -> String {
    let (status, page) = api
        .get(Some(key), &format!("/v1/events?page_size={n}"))
        .await;
    assert_eq!(status, 200);
    page["cursor"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn creates_lists_reads_changes_and_deletes_a_subscription() {
    let s = setup().await;
    let (status, created) = create(
        &s.api,
        KEY_A,
        json!({"url": HOOK, "filter": {"sources": ["a1"], "types": ["add"], "path_prefix": "/A"},
            "mode": "notify", "max_batch": 10, "description": "ci"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("sub_") && id.len() == 28, "{id}");
    assert_eq!(created["url"], HOOK);
    assert_eq!(
        created["filter"],
        json!({"sources": ["a1"], "types": ["add"], "path_prefix": "/A"})
    );
    assert_eq!(
        (&created["mode"], &created["max_batch"], &created["paused"]),
        (&json!("notify"), &json!(10), &json!(false))
    );
    // From the latest event by default: nothing to deliver yet.
    assert_eq!(created["delivery"]["delivered_seq"], 10);
    assert_eq!(created["delivery"]["lag_events"], 0);
    assert_eq!(created["created_at"], "2026-11-23T10:00:00.000Z");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(SigningKey::parse(&secret).is_ok(), "{secret}");
    let record = s.store.subscription(&id).unwrap().unwrap();
    assert_eq!(
        (record.tenant.as_str(), record.secrets.current.as_str()),
        ("a", secret.as_str())
    );
    assert_eq!(s.store.delivery(&id).unwrap().unwrap().delivered, Seq(10));

    // Never again: not in a read, not in the list.
    let (status, one) = s
        .api
        .get(Some(KEY_A), &format!("/v1/subscriptions/{id}"))
        .await;
    assert_eq!(status, 200);
    assert!(one.get("secret").is_none() && !one.to_string().contains(&secret));
    let (status, list) = s.api.get(Some(KEY_A), "/v1/subscriptions").await;
    assert_eq!((status, &list["count"]), (200, &json!(1)));
    assert_eq!(list["objects"][0]["id"], id.as_str());
    assert!(!list.to_string().contains(&secret));

    let (status, changed) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &format!("/v1/subscriptions/{id}"),
        Some(json!({"paused": true, "description": "", "mode": "full", "max_batch": 1000})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            &changed["paused"],
            &changed["description"],
            &changed["mode"],
            &changed["max_batch"]
        ),
        (&json!(true), &Value::Null, &json!("full"), &json!(1000))
    );
    assert!(changed.get("secret").is_none());

    let uri = format!("/v1/subscriptions/{id}");
    assert_eq!(
        call_json(&s.api, "DELETE", Some(KEY_A), &uri, None).await.0,
        204
    );
    let (status, gone) = s.api.get(Some(KEY_A), &uri).await;
    assert_eq!((status, error_code(&gone)), (404, "subscription_not_found"));
    assert!(s.store.subscription(&id).unwrap().is_none());
    assert!(s.store.delivery(&id).unwrap().is_none());
    assert_eq!(s.control.told(), vec![Told::Changed(id.clone()); 3]);
}

#[tokio::test]
async fn the_list_is_paginated_by_id() {
    let s = setup().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
        assert_eq!(status, 201);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let (status, first) = s.api.get(Some(KEY_A), "/v1/subscriptions?limit=2").await;
    assert_eq!((status, &first["count"]), (200, &json!(2)));
    let next = first["next_cursor"].as_str().unwrap();
    let (status, second) = s
        .api
        .get(
            Some(KEY_A),
            &format!("/v1/subscriptions?limit=2&cursor={next}"),
        )
        .await;
    assert_eq!((status, &second["count"]), (200, &json!(1)));
    assert_eq!(second["next_cursor"], Value::Null);
    let listed: Vec<&str> = first["objects"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["objects"].as_array().unwrap())
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);
    for (query, code) in [
        ("limit=0", "invalid_parameter"),
        ("limit=1001", "invalid_parameter"),
        ("colour=red", "invalid_parameter"),
        ("cursor=s1.6131", "invalid_cursor"),
    ] {
        let (status, body) = s
            .api
            .get(Some(KEY_A), &format!("/v1/subscriptions?{query}"))
            .await;
        assert_eq!((status, error_code(&body)), (400, code), "{query}");
    }
}

#[tokio::test]
async fn starts_at_latest_oldest_or_a_cursor_of_the_tenant() {
    let s = setup().await;
    let (_, oldest) = create(&s.api, KEY_A, json!({"url": HOOK, "start": "oldest"})).await;
    let delivery = &oldest["delivery"];
    assert_eq!(
        (&delivery["delivered_seq"], &delivery["lag_events"]),
        (&json!(0), &json!(10))
    );
    // The oldest undelivered event (e0) was observed at t0; the clock reads t0 + 1 h.
    assert_eq!(delivery["lag_seconds"], 3600);
    let third = cursor_after(&s.api, KEY_A, 3).await;
    let (status, at_third) = create(
        &s.api,
        KEY_A,
        json!({"url": HOOK, "start": {"cursor": third}}),
    )
    .await;
    assert_eq!(status, 201, "{at_third}");
    assert_eq!(at_third["delivery"]["delivered_seq"], 3);
    assert_eq!(at_third["delivery"]["cursor"], third.as_str());
    // e4, position 4, observed at t0 + 4 s.
    assert_eq!(at_third["delivery"]["lag_seconds"], 3596);
    let (_, latest) = create(&s.api, KEY_A, json!({"url": HOOK, "start": "latest"})).await;
    assert_eq!(latest["delivery"]["delivered_seq"], 10);

    // Another tenant's cursor is not a position in this log.
    let foreign = cursor_after(&s.api, KEY_B, 1).await;
    let (status, body) = create(
        &s.api,
        KEY_A,
        json!({"url": HOOK, "start": {"cursor": foreign}}),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_cursor"),
        "{body}"
    );
    let (status, body) = create(&s.api, KEY_A, json!({"url": HOOK, "start": "newest"})).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_body"));
}

#[tokio::test]
async fn a_secret_is_shown_once_and_a_rotation_keeps_the_old_one_until_the_grace_ends() {
    let s = setup().await;
    let given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, created) = create(&s.api, KEY_A, json!({"url": HOOK, "secret": given})).await;
    assert_eq!(status, 201);
    assert_eq!(created["secret"], given);
    assert_eq!(created["previous_secret_until"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1/subscriptions/{id}");

    let (status, rotated) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &uri,
        Some(json!({"rotate_secret": true})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new != given && SigningKey::parse(&new).is_ok());
    // The grace is 2 h from the clock's t0 + 1 h.
    assert_eq!(rotated["previous_secret_until"], "2026-11-23T12:00:00.000Z");
    let record = s.store.subscription(&id).unwrap().unwrap();
    assert_eq!(record.secrets.current, new);
    let previous = record.secrets.previous.unwrap();
    assert_eq!(previous.secret, given);
    assert_eq!(previous.until, t0() + ChronoDuration::hours(3));

    let (_, read) = s.api.get(Some(KEY_A), &uri).await;
    assert!(read.get("secret").is_none() && !read.to_string().contains(&new));
    assert_eq!(read["previous_secret_until"], "2026-11-23T12:00:00.000Z");
    s.clock.advance(Duration::from_secs(2 * 3600));
    let (_, read) = s.api.get(Some(KEY_A), &uri).await;
    assert_eq!(read["previous_secret_until"], Value::Null);

    // Rotating to a given secret; a malformed one is refused without being echoed.
    let (status, body) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &uri,
        Some(json!({"secret": given})),
    )
    .await;
    assert_eq!((status, &body["secret"]), (200, &json!(given)));
    assert_eq!(
        s.store
            .subscription(&id)
            .unwrap()
            .unwrap()
            .secrets
            .previous
            .unwrap()
            .secret,
        new
    );
    let bad = "whsec_bm90LWVub3VnaC1ieXRlcw==";
    for body in [json!({"secret": bad}), json!({"url": HOOK, "secret": bad})] {
        let (uri, method) = if body.get("url").is_some() {
            ("/v1/subscriptions".to_owned(), "POST")
        } else {
            (uri.clone(), "PATCH")
        };
        let (status, refused) = call_json(&s.api, method, Some(KEY_A), &uri, Some(body)).await;
        assert_eq!((status, error_code(&refused)), (400, "invalid_body"));
        assert!(!refused.to_string().contains(bad), "{refused}");
    }
    assert_eq!(
        s.control.told(),
        vec![
            Told::Changed(id.clone()),
            Told::Changed(id.clone()),
            Told::Changed(id)
        ]
    );
}

#[tokio::test]
async fn replay_tells_the_dispatcher_the_exact_position() {
    let s = setup().await;
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let uri = format!("/v1/subscriptions/{id}/replay");
    let fourth = cursor_after(&s.api, KEY_A, 4).await;
    let (status, body) = call_json(
        &s.api,
        "POST",
        Some(KEY_A),
        &uri,
        Some(json!({"cursor": fourth})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    // Tenant `a`'s log: e0 e1 e3 e4 e6 …; e6 (t0 + 6 s) is position 5.
    for (since, position) in [
        ("2026-11-23T09:00:06Z", 4),
        ("2026-11-23T09:00:05.500Z", 4),
        ("2026-11-23T08:00:00Z", 0),
        ("2026-11-24T00:00:00Z", 10),
    ] {
        let (status, body) = call_json(
            &s.api,
            "POST",
            Some(KEY_A),
            &uri,
            Some(json!({"since": since})),
        )
        .await;
        assert_eq!(status, 200, "{since}: {body}");
        assert_eq!(
            s.control.told().last(),
            Some(&Told::Replay(id.clone(), position)),
            "{since}"
        );
    }
    let replays: Vec<Told> = s
        .control
        .told()
        .into_iter()
        .filter(|t| matches!(t, Told::Replay(..)))
        .collect();
    assert_eq!(replays[0], Told::Replay(id.clone(), 4));
    assert_eq!(replays.len(), 5);
    let foreign = cursor_after(&s.api, KEY_B, 1).await;
    for (body, code) in [
        (json!({}), "invalid_body"),
        (
            json!({"cursor": fourth, "since": "2026-11-23T09:00:06Z"}),
            "invalid_body",
        ),
        (json!({"since": "yesterday"}), "invalid_body"),
        (json!({"cursor": foreign}), "invalid_cursor"),
        (json!({"cursor": "junk"}), "invalid_cursor"),
    ] {
        let (status, refused) =
            call_json(&s.api, "POST", Some(KEY_A), &uri, Some(body.clone())).await;
        assert_eq!((status, error_code(&refused)), (400, code), "{body}");
    }
    assert_eq!(
        s.control.told().len(),
        6,
        "refusals tell the dispatcher nothing"
    );
}

#[tokio::test]
async fn without_a_dispatcher_a_replay_moves_the_stored_cursor() {
    let store = fixture().await;
    let api = Api::new(ApiState::with_config(
        Arc::new(store.clone()),
        keys(),
        config(),
    ));
    // No registry: the strict address policy; a public address literal passes without a lookup.
    let (status, created) = create(&api, KEY_A, json!({"url": "https://93.184.215.14/hook"})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, body) = call_json(
        &api,
        "POST",
        Some(KEY_A),
        &format!("/v1/subscriptions/{id}/replay"),
        Some(json!({"since": "2026-11-23T09:00:06Z"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["delivery"]["delivered_seq"], 4);
    assert_eq!(body["delivery"]["lag_events"], 6);
    assert_eq!(store.delivery(id).unwrap().unwrap().delivered, Seq(4));
}

#[tokio::test]
async fn attempts_are_listed_newest_first() {
    let s = setup().await;
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    for n in 0..3u16 {
        let attempt = DeliveryAttempt {
            at: t0() + ChronoDuration::seconds(i64::from(n)),
            webhook_id: format!("msg_{n}"),
            status: (n != 1).then_some(500 + n),
            latency_ms: u64::from(n) * 10,
            error: (n == 1).then(|| "connection refused".to_owned()),
            first: Seq(1),
            last: Seq(3),
        };
        s.store.record_attempt(&id, attempt).await.unwrap();
    }
    let uri = format!("/v1/subscriptions/{id}/attempts");
    let (status, list) = s.api.get(Some(KEY_A), &uri).await;
    assert_eq!((status, &list["count"]), (200, &json!(3)));
    let ids: Vec<&str> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["webhook_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["msg_2", "msg_1", "msg_0"]);
    assert_eq!(
        list["objects"][1],
        json!({"at": "2026-11-23T09:00:01.000Z", "webhook_id": "msg_1", "status": null,
            "latency_ms": 10, "error": "connection refused", "first_seq": 1, "last_seq": 3})
    );
    let (status, two) = s.api.get(Some(KEY_A), &format!("{uri}?limit=2")).await;
    assert_eq!((status, &two["count"]), (200, &json!(2)));
    let (status, body) = s.api.get(Some(KEY_A), &format!("{uri}?limit=101")).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
}

#[tokio::test]
async fn another_tenants_subscription_is_answered_as_unknown() {
    let s = setup().await;
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let unknown = "sub_000000000000000000000000";
    for target in [id.as_str(), unknown, "not-an-id"] {
        let base = format!("/v1/subscriptions/{target}");
        for (method, uri, body) in [
            ("GET", base.clone(), None),
            ("PATCH", base.clone(), Some(json!({"paused": true}))),
            ("DELETE", base.clone(), None),
            (
                "POST",
                format!("{base}/replay"),
                Some(json!({"since": "2026-11-23T09:00:00Z"})),
            ),
            ("GET", format!("{base}/attempts"), None),
        ] {
            let (status, answer) = call_json(&s.api, method, Some(KEY_B), &uri, body).await;
            assert_eq!(
                (status, error_code(&answer)),
                (404, "subscription_not_found"),
                "{method} {uri}"
            );
            assert_eq!(
                error_message(&answer),
                format!("no subscription {target:?}")
            );
        }
    }
    let (_, list) = s.api.get(Some(KEY_B), "/v1/subscriptions").await;
    assert_eq!(list["count"], 0);
    // Untouched, and the dispatcher was told nothing but the creation.
    let (_, read) = s
        .api
        .get(Some(KEY_A), &format!("/v1/subscriptions/{id}"))
        .await;
    assert_eq!(read["paused"], false);
    assert_eq!(s.control.told(), vec![Told::Changed(id)]);
    // Another tenant's sources cannot be named in a filter.
    let (status, body) = create(
        &s.api,
        KEY_B,
        json!({"url": HOOK, "filter": {"sources": ["a1"]}}),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_body"));
    // A source-scoped key manages no subscriptions.
    for (method, uri, body) in [
        ("POST", "/v1/subscriptions", Some(json!({"url": HOOK}))),
        ("GET", "/v1/subscriptions", None),
    ] {
        let (status, answer) = call_json(&s.api, method, Some(KEY_A1), uri, body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (403, "forbidden"),
            "{method} {uri}"
        );
    }
}

#[tokio::test]
async fn the_tenant_limit_and_field_bounds_hold() {
    let s = setup().await;
    for _ in 0..3 {
        assert_eq!(create(&s.api, KEY_A, json!({"url": HOOK})).await.0, 201);
    }
    let (status, body) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    // Another tenant is not affected.
    assert_eq!(create(&s.api, KEY_B, json!({"url": HOOK})).await.0, 201);
    let long_url = format!("http://127.0.0.1:9/{}", "x".repeat(2048));
    for (body, status, code) in [
        (
            json!({"url": HOOK, "description": "d".repeat(501)}),
            400,
            "invalid_body",
        ),
        (json!({"url": long_url}), 400, "invalid_body"),
        (
            json!({"url": HOOK, "filter": {"path_prefix": format!("/{}", "p".repeat(1024))}}),
            400,
            "invalid_body",
        ),
        (json!({"url": HOOK, "max_batch": 0}), 400, "invalid_body"),
        (json!({"url": HOOK, "max_batch": 1001}), 400, "invalid_body"),
        (
            json!({"url": HOOK, "filter": {"path_prefix": "A"}}),
            400,
            "invalid_body",
        ),
        (json!({"url": HOOK, "colour": "red"}), 400, "invalid_body"),
        (
            json!({"url": HOOK, "filter": {"types": vec!["add"; 17]}}),
            400,
            "invalid_body",
        ),
        (json!({"url": "ftp://127.0.0.1/x"}), 400, "invalid_body"),
        (
            json!({"url": "http://user:pw@127.0.0.1:9/x"}),
            400,
            "invalid_body",
        ),
    ] {
        let (got, answer) = create(&s.api, KEY_B, body.clone()).await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
        assert!(!answer.to_string().contains("pw@"), "{answer}");
    }
}

#[tokio::test]
async fn a_private_url_is_refused() {
    // The registry's policy allows loopback only: a private address is refused.
    let s = setup().await;
    let (status, body) = create(&s.api, KEY_A, json!({"url": "http://10.0.0.7/hook"})).await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "address_not_allowed"),
        "{body}"
    );
    // Without a registry, the strict policy: loopback too.
    let store = fixture().await;
    let api = Api::new(ApiState::with_config(
        Arc::new(store.clone()),
        keys(),
        config(),
    ));
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/",
    ] {
        let (status, body) = create(&api, KEY_A, json!({"url": url})).await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "address_not_allowed"),
            "{url}"
        );
    }
    // A change of url is checked the same way.
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    let uri = format!("/v1/subscriptions/{}", created["id"].as_str().unwrap());
    let (status, body) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &uri,
        Some(json!({"url": "http://192.168.1.1/"})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "address_not_allowed"));
    assert!(store.subscriptions().unwrap().is_empty());
}

#[tokio::test]
async fn a_disabled_subscription_is_shown_and_re_enabled() {
    let s = setup().await;
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut record = s.store.subscription(&id).unwrap().unwrap();
    record.disabled = Some(Disabled {
        at: t0(),
        reason: "the receiver answered 410 Gone".into(),
    });
    s.store.put_subscription(record).await.unwrap();
    let uri = format!("/v1/subscriptions/{id}");
    let (_, read) = s.api.get(Some(KEY_A), &uri).await;
    assert_eq!(read["enabled"], false);
    assert_eq!(
        read["disabled"],
        json!({"at": "2026-11-23T09:00:00.000Z", "reason": "the receiver answered 410 Gone"})
    );
    let (status, body) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &uri,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((status, error_code(&body)), (400, "invalid_body"));
    let (status, enabled) = call_json(
        &s.api,
        "PATCH",
        Some(KEY_A),
        &uri,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (&enabled["enabled"], &enabled["disabled"]),
        (&json!(true), &Value::Null)
    );
    assert!(
        s.store
            .subscription(&id)
            .unwrap()
            .unwrap()
            .disabled
            .is_none()
    );
    assert_eq!(
        s.control.told(),
        vec![Told::Changed(id.clone()), Told::Changed(id)]
    );
}

#[tokio::test]
async fn a_source_created_with_a_callback_url_gets_a_subscription_to_it() {
    let s = setup().await;
    let source = |id: &str, callback: &str| {
        json!({"id": id, "provider": "egnyte", "paused": true,
            "config": {"base_url": "http://127.0.0.1:9"},
            "credentials": {"kind": "bearer", "token": "secret-token"},
            "notification": {"callback_url": callback}})
    };
    let (status, created) = call_json(
        &s.api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(source("eg1", HOOK)),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let notification = &created["notification"];
    assert_eq!(notification["callback_url"], HOOK);
    let secret = notification["secret"].as_str().unwrap();
    assert!(SigningKey::parse(secret).is_ok());
    let id = notification["subscription_id"].as_str().unwrap();
    let (status, sub) = s
        .api
        .get(Some(KEY_A), &format!("/v1/subscriptions/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(sub["filter"], json!({"sources": ["eg1"], "types": []}));
    assert_eq!((&sub["url"], &sub["mode"]), (&json!(HOOK), &json!("full")));
    // The source's later reads carry no notification (nor secret).
    let (_, read) = s.api.get(Some(KEY_A), "/v1/sources/eg1").await;
    assert!(read.get("notification").is_none());
    // A callback the address policy refuses: neither the source nor a subscription is made.
    let (status, body) = call_json(
        &s.api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(source("eg2", "http://10.0.0.7/cb")),
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "address_not_allowed"),
        "{body}"
    );
    assert!(error_message(&body).contains("notification.callback_url"));
    assert_eq!(s.api.get(Some(KEY_A), "/v1/sources/eg2").await.0, 404);
    assert_eq!(s.store.subscriptions().unwrap().len(), 1);
    // At the subscription limit (3): refused before the source is made.
    for _ in 0..2 {
        assert_eq!(create(&s.api, KEY_A, json!({"url": HOOK})).await.0, 201);
    }
    let (status, body) = call_json(
        &s.api,
        "POST",
        Some(KEY_A),
        "/v1/sources",
        Some(source("eg3", HOOK)),
    )
    .await;
    assert_eq!((status, error_code(&body)), (429, "tenant_limit"), "{body}");
    assert_eq!(s.api.get(Some(KEY_A), "/v1/sources/eg3").await.0, 404);
    assert_eq!(s.store.subscriptions().unwrap().len(), 3);
}

#[tokio::test]
async fn the_clock_dates_creations() {
    let s = setup().await;
    s.clock.set(t0() + ChronoDuration::days(2));
    let (_, created) = create(&s.api, KEY_A, json!({"url": HOOK})).await;
    assert_eq!(created["created_at"], "2026-11-25T09:00:00.000Z");
    assert_eq!(s.clock.now(), t0() + ChronoDuration::days(2));
}
