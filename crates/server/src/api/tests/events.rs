//! Pages of the unified log: order, filters, cursors, tenants apart, keys, health, metrics.

use super::*;
use tributary_core::{Cursor, Seq};

#[tokio::test]
async fn pages_return_every_event_of_the_tenant_once_in_order() {
    let store = fixture().await;
    let api = api(&store);
    for page_size in [1, 2, 4, 1000] {
        assert_eq!(
            api.all_ids(KEY_A, &format!("page_size={page_size}")).await,
            a_ids(0..15),
            "page_size {page_size}"
        );
    }
    // A first page of 4 ends at e4, the tenant's position 4 (e2 is b's, in b's own log);
    // `remaining` is exactly the tenant's entries after it.
    let (status, body) = api.get(Some(KEY_A), "/v1/events?page_size=4").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 4);
    assert_eq!(body["remaining"], 6);
    assert_eq!(a_ids(0..15).len(), 10);
    assert_eq!(seqs(&body), [1, 2, 3, 4]);
    assert_eq!(
        body["cursor"],
        Cursor::new(store.stream_key("a"), Seq(4)).encode().as_str()
    );
    // The stored JSON is what is served.
    let stored = store
        .read("a", None, 1, &tributary_store::Filter::default())
        .await
        .unwrap();
    let first: Value = serde_json::from_slice(stored.events[0].json()).unwrap();
    assert_eq!(body["objects"][0], first);
}

#[tokio::test]
async fn a_page_continues_past_the_inline_scan_when_the_filter_is_sparse() {
    let store = fixture().await;
    // 462 events of a2, then one of a1: more entries of tenant a than a read examines inline
    // before a1's next event. Tenant b's 462 events are in b's log and never examined for a.
    let a2_only: Vec<u32> = (15..1400).filter(|k| source_of(*k) == "a2").collect();
    let b_only: Vec<u32> = (15..1400).filter(|k| source_of(*k) == "b1").collect();
    assert!(a2_only.len() > tributary_store::INLINE_SCAN);
    add_events(&store, a2_only.iter().copied(), 2).await;
    add_events(&store, b_only, 2).await;
    assert_eq!(source_of(1401), "a1");
    add_events(&store, [1401], 3).await;
    let api = api(&store);
    let (status, body) = api
        .get(Some(KEY_A), "/v1/events?source=a1&page_size=100")
        .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let expected = ["e0", "e3", "e6", "e9", "e12", "e1401"];
    assert_eq!(ids, expected, "one request reads past the inline scan");
    assert_eq!(body["remaining"], 0);
    // e1401 is the tenant's last event: 10 of the fixture, then 462 of a2, then it.
    let last = store.latest("a").await.unwrap();
    assert_eq!(last.seq, Seq(10 + a2_only.len() as u64 + 1));
    assert_eq!(body["cursor"], last.encode().as_str());
    assert_eq!(body["objects"][5]["seq"], last.seq.0);
    // Paging in large pages reads the same.
    assert_eq!(
        api.all_ids(KEY_A, "source=a1&page_size=1000").await,
        expected
    );
    // The tenant-wide read is the tenant's events only, in order.
    let mut everything = a_ids(0..15);
    everything.extend(a2_only.iter().map(|k| format!("e{k}")));
    everything.push("e1401".into());
    assert_eq!(api.all_ids(KEY_A, "page_size=1000").await, everything);
}

#[tokio::test]
async fn filters_by_source_type_time_and_path() {
    let store = fixture().await;
    let api = api(&store);
    let ids = |ks: &[u32]| ks.iter().map(|k| format!("e{k}")).collect::<Vec<_>>();
    assert_eq!(
        api.all_ids(KEY_A, "source=a2").await,
        ids(&[1, 4, 7, 10, 13])
    );
    assert_eq!(
        api.all_ids(KEY_A, "source=a1,a2&page_size=3").await,
        a_ids(0..15)
    );
    assert_eq!(
        api.all_ids(KEY_A, "source=a1&source=a2").await,
        a_ids(0..15)
    );
    assert_eq!(api.all_ids(KEY_A, "type=delete,move").await, ids(&[4, 6]));
    assert_eq!(
        api.all_ids(KEY_A, "type=update&type=copy").await,
        ids(&[3, 7, 10])
    );
    assert_eq!(
        api.all_ids(
            KEY_A,
            "since=2026-11-23T09:00:03Z&until=2026-11-23T09:00:09Z"
        )
        .await,
        ids(&[3, 4, 6, 7])
    );
    assert_eq!(
        api.all_ids(KEY_A, "since=2026-11-23T10:00:03%2B01:00")
            .await,
        a_ids(3..15)
    );
    // `/A` holds a1's files, and e4 moved out of it.
    assert_eq!(
        api.all_ids(KEY_A, "path_prefix=/A").await,
        ids(&[0, 3, 4, 6, 9, 12])
    );
    assert_eq!(
        api.all_ids(KEY_A, "path_prefix=/B&type=move&source=a2")
            .await,
        ids(&[4])
    );
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_sources() {
    let store = fixture().await;
    let api = api(&store);
    assert_eq!(
        api.all_ids(KEY_B, "").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
    for query in ["source=b1", "source=a1,b1", "source=nope"] {
        let (status, body) = api.get(Some(KEY_A), &format!("/v1/events?{query}")).await;
        assert_eq!(status, 404, "{query}: {body}");
        assert_eq!(error_code(&body), "source_not_found");
    }
    let (status, body) = api.get(Some(KEY_B), "/v1/events?source=a1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
}

#[tokio::test]
async fn each_tenant_counts_its_own_seq_from_one() {
    let store = fixture().await;
    let api = api(&store);
    let (status, a) = api.get(Some(KEY_A), "/v1/events").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(seqs(&a), (1..=10).collect::<Vec<_>>());
    assert_eq!(a["remaining"], 0);
    let (status, b) = api.get(Some(KEY_B), "/v1/events").await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(seqs(&b), (1..=5).collect::<Vec<_>>());
    assert_eq!(b["remaining"], 0);
    // A filtered read shows the tenant's positions, gaps where other sources' events stand.
    let (_, a2) = api.get(Some(KEY_A), "/v1/events?source=a2").await;
    assert_eq!(seqs(&a2), [2, 4, 6, 8, 10]);
    // Each cursor is of its own tenant's stream.
    let (_, latest_a) = api.get(Some(KEY_A), "/v1/events/latest").await;
    let (_, latest_b) = api.get(Some(KEY_B), "/v1/events/latest").await;
    assert_eq!(
        latest_a["cursor"],
        Cursor::new(store.stream_key("a"), Seq(10))
            .encode()
            .as_str()
    );
    assert_eq!(
        latest_b["cursor"],
        Cursor::new(store.stream_key("b"), Seq(5)).encode().as_str()
    );
    assert_ne!(store.stream_key("a"), store.stream_key("b"));

    // New events continue each tenant's count where it was.
    add_events(&store, [15, 16, 17], 2).await;
    let (_, a) = api
        .get(
            Some(KEY_A),
            &format!("/v1/events?cursor={}", latest_a["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        id_seqs(&a["objects"]),
        [("e15".to_owned(), 11), ("e16".to_owned(), 12)]
    );
    let (_, b) = api
        .get(
            Some(KEY_B),
            &format!("/v1/events?cursor={}", latest_b["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(id_seqs(&b["objects"]), [("e17".to_owned(), 6)]);
}

#[tokio::test]
async fn another_tenants_cursor_is_an_invalid_cursor() {
    // Tenants named so that a leak of the name would be visible in a message.
    let store = SledStore::temporary().unwrap();
    let acme = put_source(&store, "acme", "shared").await;
    put_source(&store, "globex", "shared").await;
    let mut e = event(0, t0());
    e.source = acme.id.clone();
    store
        .ingest(&acme.source_ref(), page(vec![e], 1))
        .await
        .unwrap();
    store
        .merge("acme", t0() + ChronoDuration::days(1))
        .await
        .unwrap();
    let keys = ApiKeys::new([
        KeyEntry::new("acme", "key-acme"),
        KeyEntry::new("globex", "key-globex"),
    ])
    .unwrap();
    let api = Api::new(ApiState::new(Arc::new(store.clone()), keys));
    let globex = store
        .source("globex", &SourceId::new("shared").unwrap())
        .unwrap()
        .unwrap();
    let account = AccountId::of(&store, &globex).get();

    // Acme's cursors: from a page, from `latest`, and the very beginning of its stream.
    let (status, page) = api.get(Some("key-acme"), "/v1/events").await;
    assert_eq!((status, &page["count"]), (200, &1.into()), "{page}");
    let (_, latest) = api.get(Some("key-acme"), "/v1/events/latest").await;
    let cursors = [
        page["cursor"].as_str().unwrap().to_owned(),
        latest["cursor"].as_str().unwrap().to_owned(),
        Cursor::new(store.stream_key("acme"), Seq(0)).encode(),
    ];
    for cursor in &cursors {
        // Acme's own cursor works for acme.
        let (status, body) = api
            .get(Some("key-acme"), &format!("/v1/events?cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{body}");
        for path in [
            format!("/v1/events?cursor={cursor}"),
            format!("/v1/events/stream?cursor={cursor}"),
            format!("/v1/accounts/{account}/events?cursor={cursor}"),
        ] {
            let (status, body) = api.get(Some("key-globex"), &path).await;
            assert_eq!(
                (status, error_code(&body)),
                (400, "invalid_cursor"),
                "{path}: {body}"
            );
            // The message quotes the cursor (random characters) and says nothing of whose it is.
            let message = error_message(&body);
            assert_eq!(
                message,
                format!("cursor \"{cursor}\" was not issued for this stream")
            );
            assert!(
                !message.replace(cursor.as_str(), "").contains("acme"),
                "{path}: {body}"
            );
        }
        // As a stream's Last-Event-ID too.
        let request = Request::get("/v1/events/stream")
            .header(header::AUTHORIZATION, "Bearer key-globex")
            .header("last-event-id", cursor.as_str())
            .body(Body::empty())
            .unwrap();
        let (status, _, bytes) = api.send(request).await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(error_code(&body), "invalid_cursor", "{body}");
        assert!(
            !error_message(&body)
                .replace(cursor.as_str(), "")
                .contains("acme"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_tenant_without_sources_reads_nothing_but_cursors_are_still_checked() {
    let store = fixture().await;
    let keys = ApiKeys::new([KeyEntry::new("c", "key-c")]).unwrap();
    let api = Api::new(ApiState::new(Arc::new(store.clone()), keys));
    let (status, body) = api.get(Some("key-c"), "/v1/events").await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 0);
    assert_eq!(body["remaining"], 0);
    assert_eq!(
        body["cursor"],
        store.latest("c").await.unwrap().encode().as_str()
    );
    assert_eq!(store.latest("c").await.unwrap().seq, Seq(0));
    let ahead = Cursor::new(store.stream_key("c"), Seq(1)).encode();
    let (status, body) = api
        .get(Some("key-c"), &format!("/v1/events?cursor={ahead}"))
        .await;
    assert_eq!((status, error_code(&body)), (400, "cursor_ahead"));
}

#[tokio::test]
async fn requests_without_a_known_key_are_refused() {
    let store = fixture().await;
    let api = api(&store);
    for path in ["/v1/events", "/v1/events/latest", "/v1/events/stream"] {
        let (status, body) = api.get(None, path).await;
        assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{path}");
        assert!(error_message(&body).contains("Authorization"), "{body}");
        let (status, body) = api.get(Some("wrong-key"), path).await;
        assert_eq!((status, error_code(&body)), (401, "unauthorized"), "{path}");
    }
    let request = Request::get("/v1/events")
        .header(header::AUTHORIZATION, format!("Basic {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = api.send(request).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn every_bad_parameter_is_a_400_that_names_it() {
    let store = fixture().await;
    let api = api(&store);
    let cases = [
        ("page_size=0", "page_size"),
        ("page_size=1001", "page_size"),
        ("page_size=ten", "page_size"),
        ("page_size=-1", "page_size"),
        ("type=created", "type"),
        ("type=add,", "type"),
        ("source=a%20b", "source"),
        ("source=", "source"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-11-23T09:00:00Z&until=2026-11-23T08:00:00Z",
            "since",
        ),
        ("path_prefix=A", "path_prefix"),
        ("cursor=", "cursor"),
        ("page_size=1&page_size=2", "page_size"),
        ("pagesize=10", "pagesize"),
    ];
    for (query, name) in cases {
        for endpoint in ["/v1/events", "/v1/events/stream"] {
            if endpoint.ends_with("stream") && query.starts_with("page_size") {
                continue;
            }
            let (status, body) = api.get(Some(KEY_A), &format!("{endpoint}?{query}")).await;
            assert_eq!(status, 400, "{endpoint}?{query}: {body}");
            assert_eq!(error_code(&body), "invalid_parameter", "{query}");
            assert!(
                error_message(&body).contains(&format!("`{name}`")),
                "{query}: {body}"
            );
        }
    }
    // The stream takes no page size.
    let (status, body) = api.get(Some(KEY_A), "/v1/events/stream?page_size=10").await;
    assert_eq!((status, error_code(&body)), (400, "invalid_parameter"));
}

#[tokio::test]
async fn cursors_are_checked() {
    let store = fixture().await;
    let api = api(&store);
    let key = store.stream_key("a");
    let cases = [
        ("not-a-cursor".to_owned(), 400, "invalid_cursor"),
        (Cursor::new(key ^ 1, Seq(0)).encode(), 400, "invalid_cursor"),
        // Tenant b's stream, at a position tenant a's has too.
        (
            Cursor::new(store.stream_key("b"), Seq(1)).encode(),
            400,
            "invalid_cursor",
        ),
        // Tenant a's log ends at 10.
        (Cursor::new(key, Seq(11)).encode(), 400, "cursor_ahead"),
    ];
    for (cursor, status, code) in cases {
        for endpoint in ["/v1/events", "/v1/events/stream"] {
            let (got, body) = api
                .get(Some(KEY_A), &format!("{endpoint}?cursor={cursor}"))
                .await;
            assert_eq!((got, error_code(&body)), (status, code), "{cursor}: {body}");
        }
    }
    let (status, body) = api.get(Some(KEY_A), "/v1/events/latest").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"cursor": store.latest("a").await.unwrap().encode()})
    );
    // The latest cursor reads nothing, and is caught up.
    let (status, body) = api
        .get(
            Some(KEY_A),
            &format!("/v1/events?cursor={}", body["cursor"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        (status, &body["count"], &body["remaining"]),
        (200, &0.into(), &0.into())
    );
}

#[tokio::test]
async fn an_expired_cursor_answers_410_with_the_oldest_cursor() {
    let store = fixture().await;
    keep_five(&store).await;
    let oldest = store.oldest("a").await.unwrap();
    assert_eq!(oldest, Cursor::new(store.stream_key("a"), Seq(5)));
    let api = api(&store);
    let expired = Cursor::new(store.stream_key("a"), Seq(3)).encode();
    for endpoint in ["/v1/events", "/v1/events/stream"] {
        let (status, body) = api
            .get(Some(KEY_A), &format!("{endpoint}?cursor={expired}"))
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (410, "cursor_expired"),
            "{body}"
        );
        assert_eq!(body["error"]["oldest_cursor"], oldest.encode().as_str());
    }
    // Without a cursor, reading starts at the oldest retained event.
    assert_eq!(api.all_ids(KEY_A, "").await, a_ids(0..15)[5..]);
    let (_, body) = api.get(Some(KEY_A), "/v1/events").await;
    assert_eq!(seqs(&body), [6, 7, 8, 9, 10]);
    // Tenant b's log was within the limit.
    assert_eq!(
        api.all_ids(KEY_B, "").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
}

#[tokio::test]
async fn metrics_report_api_latency_by_route_in_prometheus_text() {
    let store = fixture().await;
    let api = api(&store);
    assert_eq!(api.get(Some(KEY_A), "/v1/events?page_size=2").await.0, 200);
    assert_eq!(api.get(Some(KEY_A), "/v1/events?page_size=3").await.0, 200);
    let (status, headers, bytes) = api
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for line in [
        "# TYPE tributary_api_request_duration_seconds histogram",
        "tributary_api_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 2",
        "tributary_api_request_duration_seconds_count{route=\"/v1/events\"} 2",
        "# TYPE tributary_events_merged_total counter",
        "tributary_events_merged_total 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // The scrape is timed once it is answered, so it is not in its own text.
    assert!(!text.contains("route=\"/metrics\""), "{text}");
}

#[tokio::test]
async fn health_unknown_routes_and_methods_answer_json() {
    let store = fixture().await;
    let api = api(&store);
    assert_eq!(
        api.get(None, "/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    assert_eq!(api.get(None, "/readyz").await.0, 200);
    let (status, body) = api.get(Some(KEY_A), "/v1/nothing").await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let request = Request::post("/v1/events")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, bytes) = api.send(request).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET,HEAD");
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(error_code(&body), "method_not_allowed");
}

#[tokio::test]
async fn a_deleted_sources_events_stay_in_its_tenants_log_only() {
    // With b1 deleted, tenant a owns every source there is; b1's events stay in tenant b's log
    // (its history) until retention, and never reach a; pages stay full.
    let store = fixture().await;
    assert!(
        store
            .delete_source("b", &SourceId::new("b1").unwrap())
            .await
            .unwrap()
    );
    let api = api(&store);
    assert_eq!(api.all_ids(KEY_A, "page_size=3").await, a_ids(0..15));
    let (status, body) = api.get(Some(KEY_A), "/v1/events?page_size=4").await;
    assert_eq!((status, &body["count"]), (200, &4.into()), "{body}");
    assert_eq!(body["remaining"], 6);
    // Tenant b still reads its history, at the same positions; the source is gone.
    assert_eq!(
        api.all_ids(KEY_B, "page_size=2").await,
        ["e2", "e5", "e8", "e11", "e14"]
    );
    let (_, body) = api.get(Some(KEY_B), "/v1/events").await;
    assert_eq!(seqs(&body), [1, 2, 3, 4, 5]);
    let (status, body) = api.get(Some(KEY_B), "/v1/events?source=b1").await;
    assert_eq!((status, error_code(&body)), (404, "source_not_found"));
}

#[tokio::test]
async fn metrics_need_an_admin_key_when_configured_so() {
    let store = fixture().await;
    let keys = ApiKeys::new([KeyEntry::new("a", KEY_A)])
        .unwrap()
        .with_admins([AdminKeyEntry::new("the-admin-key")])
        .unwrap();
    let config = ApiConfig {
        metrics_auth: MetricsAuth::Admin,
        ..ApiConfig::default()
    };
    let api = Api::new(ApiState::with_config(Arc::new(store.clone()), keys, config));
    let (status, body) = api.get(None, "/metrics").await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    let (status, body) = api.get(Some(KEY_A), "/metrics").await;
    assert_eq!((status, error_code(&body)), (403, "admin_key_required"));
    assert_eq!(api.get(Some("the-admin-key"), "/metrics").await.0, 200);
}
