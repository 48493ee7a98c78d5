//! Wire shapes: the prefix, `/api/version`, the content and deleted-object entities, dates.

use super::*;
use serde_json::json;

#[tokio::test]
async fn bodies_start_with_the_prefix_on_success_and_error_and_it_can_be_switched_off() {
    let h = start(plain()).await;
    for path in ["/api/version", "/api/core/v3/contents", "/api/core/v3/nope"] {
        let text = h.get(path).await.text().await.unwrap();
        assert!(text.starts_with(PREFIX), "{path}: {text}");
    }
    let bad = h.get("/api/core/v3/contents?sort=bogus").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    assert!(bad.text().await.unwrap().starts_with(PREFIX));
    let unauthorized = h.bare("/api/core/v3/contents").await;
    assert_eq!(unauthorized.status(), 401);
    assert!(unauthorized.text().await.unwrap().starts_with(PREFIX));
    assert_eq!(PREFIX, "throw 'allowIllegalResourceCall is false.';\n");

    h.sim.set_prefix(false);
    let text = h.get("/api/core/v3/contents").await.text().await.unwrap();
    assert!(text.starts_with('{'), "{text}");
    let r = h.put("/_sim/jive/settings", json!({"prefix": true})).await;
    assert_eq!(r.status(), 204);
    h.json("/api/core/v3/contents").await;
}

#[tokio::test]
async fn version_reports_core_v3_and_its_revision_without_auth() {
    let config = JiveSimConfig {
        core_revision: 11,
        ..plain()
    };
    let h = start(config).await;
    let r = h.bare("/api/version").await;
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_str(strip(&r.text().await.unwrap())).unwrap();
    assert_eq!(v["jiveVersion"], JIVE_VERSION);
    let core = &v["jiveCoreVersions"][0];
    assert_eq!(
        (&core["version"], &core["revision"], &core["uri"]),
        (&json!(3), &json!(11), &json!("/api/core/v3"))
    );
    // Before revision 12 there is no deletedObjects service.
    let (status, body) = h.call("/api/core/v3/deletedObjects/contents").await;
    assert_eq!((status, &body["error"]["status"]), (404, &json!(404)));
    h.sim.set_core_revision(12);
    h.json("/api/core/v3/deletedObjects/contents").await;
}

#[tokio::test]
async fn content_entities_have_jive_fields_and_absolute_urls() {
    let h = start(plain()).await;
    let id = h.sim.create("document", "Q2 plan", P1).unwrap();
    let page = h.json("/api/core/v3/contents").await;
    let c = &page["list"][0];
    let b = &h.base;
    assert_eq!(c["contentID"], id.to_string());
    assert_ne!(c["id"], c["contentID"]);
    assert_eq!(c["type"], "document");
    assert_eq!(c["subject"], "Q2 plan");
    assert_eq!(c["status"], "published");
    assert_eq!(c["content"]["type"], "text/html");
    assert_eq!(c["published"], "2026-01-05T09:15:10.000+0000");
    assert_eq!(c["updated"], "2026-01-05T09:15:10.000+0000");
    assert_eq!(c["lastActivityDate"], "2026-01-05T09:15:10.000+0000");
    assert_eq!(c["author"]["jive"]["username"], "alice");
    let place = &c["parentPlace"];
    assert_eq!(place["uri"], format!("{b}/api/core/v3/places/1100"));
    assert_ne!(place["id"], "1100");
    assert_eq!(place["name"], "Ops");
    assert_eq!(
        c["resources"]["self"]["ref"],
        format!("{b}/api/core/v3/contents/{id}")
    );
    assert_eq!(
        c["resources"]["html"]["ref"],
        format!("{b}/docs/DOC-{}", c["id"].as_str().unwrap())
    );
    for field in ["followerCount", "likeCount", "replyCount", "viewCount"] {
        assert!(c[field].is_u64(), "{field}");
    }
    assert!(c["tags"].is_array());
    let one = h.json(&format!("/api/core/v3/contents/{id}")).await;
    assert_eq!(&one, c);
    assert_eq!(h.places()[0].uri, format!("{b}/api/core/v3/places/1100"));
}

impl Harness {
    fn places(&self) -> Vec<PlaceInfo> {
        self.sim.places()
    }
}

#[tokio::test]
async fn dates_are_utc_milliseconds_with_a_colonless_offset() {
    let h = start(plain()).await;
    h.advance_ms(7);
    h.sim.create("file", "a", P1).unwrap();
    let c = &h.json("/api/core/v3/contents").await["list"][0];
    let updated = c["updated"].as_str().unwrap();
    assert_eq!(updated, "2026-01-05T09:15:10.007+0000");
    assert_eq!(parse_date(updated), Some(t0() + ms(7)));
}

#[tokio::test]
async fn fields_select_top_level_and_dotted_paths() {
    let h = start(plain()).await;
    h.sim.create("document", "a", P1).unwrap();
    let c = &h
        .json("/api/core/v3/contents?fields=contentID,updated,author.id")
        .await["list"][0];
    let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["author", "contentID", "id", "type", "updated"]);
    assert_eq!(c["author"].as_object().unwrap().len(), 1);
    let all = &h.json("/api/core/v3/contents?fields=%40all").await["list"][0];
    assert!(all.get("content").is_some());
    let minus = &h
        .json("/api/core/v3/contents?fields=-author.resources,-content")
        .await["list"][0];
    assert!(minus.get("content").is_none());
    assert!(minus["author"].get("resources").is_none());
    assert!(minus["author"].get("id").is_some());
}

#[tokio::test]
async fn create_sets_published_a_few_ms_before_updated() {
    let h = start(JiveSimConfig::new(USER, PASSWORD)).await;
    h.advance_ms(1000);
    for i in 0..50 {
        h.sim.create("document", &format!("d{i}"), P2).unwrap();
    }
    let now = h.now();
    let page = h.json("/api/core/v3/contents?count=100").await;
    let mut lags = Vec::new();
    for c in page["list"].as_array().unwrap() {
        let published = parse_date(c["published"].as_str().unwrap()).unwrap();
        let updated = parse_date(c["updated"].as_str().unwrap()).unwrap();
        assert_eq!(
            updated, now,
            "every create at this instant shares its millisecond"
        );
        lags.push((updated - published).num_milliseconds());
    }
    assert!(lags.iter().all(|l| (7..=38).contains(l)), "{lags:?}");
    assert!(lags.iter().any(|l| *l != lags[0]), "lags vary: {lags:?}");
    let log = h.sim.changes();
    assert!(
        log.iter()
            .all(|c| c.at == now && (c.at - c.published).num_milliseconds() >= 7)
    );
}

#[tokio::test]
async fn unknown_paths_are_404_with_the_error_envelope() {
    let h = start(plain()).await;
    let (status, body) = h.call("/api/core/v3/widgets").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["status"], 404);
    let (status, body) = h.call("/api/core/v3/contents/99999").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["message"], "Missing content ID 99999");
}
