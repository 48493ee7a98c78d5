//! `GET /deletedObjects/contents`: markers, order, `since`, restores.

use super::*;
use serde_json::json;

const DELETED: &str = "/api/core/v3/deletedObjects/contents";

fn object_ids(page: &Value) -> Vec<String> {
    page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["objectId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn markers_default_to_newest_first_and_sort_ascending_on_request() {
    let h = start(plain()).await;
    let ids = h.docs(3);
    for id in &ids {
        h.advance_ms(10);
        h.sim.delete(*id).unwrap();
    }
    let newest_first = h.json(DELETED).await;
    assert_eq!(object_ids(&newest_first), strs(&[ids[2], ids[1], ids[0]]));
    assert_eq!(newest_first["itemsPerPage"], 25);
    assert!(newest_first.get("links").is_none());
    let asc = h.json(&format!("{DELETED}?sort=eventDateAsc")).await;
    assert_eq!(object_ids(&asc), strs(&ids));
    let m = &asc["list"][0];
    let uuid = m["id"].as_str().unwrap();
    assert_eq!(uuid.len(), 36);
    assert_eq!(
        uuid.split('-').map(str::len).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert_eq!(m["type"], "deletedObject");
    assert_eq!(m["objectType"], "document");
    assert_eq!(
        m["url"],
        format!("{}/api/core/v3/contents/{}", h.base, ids[0])
    );
    assert_eq!(m["eventDate"], "2026-01-05T09:15:10.013+0000");
    assert_eq!(
        m["resources"]["self"],
        json!({"ref": format!("{}/api/core/v3/deletedObjects/{uuid}", h.base), "allowed": ["GET"]})
    );
    // Deleted content is gone from /contents.
    assert!(h.ids("/api/core/v3/contents").await.is_empty());
    let bad = h
        .bad_request(&format!("{DELETED}?sort=dateCreatedAsc"))
        .await;
    assert_eq!(bad["status"], 400);
}

#[tokio::test]
async fn since_is_inclusive_and_type_filters() {
    let h = start(plain()).await;
    let doc = h.sim.create("document", "d", P1).unwrap();
    let file = h.sim.create("file", "f", P1).unwrap();
    h.advance_ms(5);
    h.sim.delete(doc).unwrap();
    let at = h.now();
    h.advance_ms(1);
    h.sim.delete(file).unwrap();
    let since =
        |t: DateTime<Utc>| format!("{DELETED}?sort=eventDateAsc&filter=since%28{}%29", arg(t));
    assert_eq!(object_ids(&h.json(&since(at)).await), strs(&[doc, file]));
    assert_eq!(object_ids(&h.json(&since(at + ms(1))).await), strs(&[file]));
    assert!(object_ids(&h.json(&since(at + ms(2))).await).is_empty());
    let typed = format!("{DELETED}?filter=type(file,discussion)");
    assert_eq!(object_ids(&h.json(&typed).await), strs(&[file]));
    let e = h
        .bad_request(&format!("{DELETED}?filter=before(2026-01-01T00:00:00Z)"))
        .await;
    assert_eq!(e["code"], "filterInvalid");
}

#[tokio::test]
async fn restore_brings_content_back_and_keeps_the_old_marker() {
    let h = start(plain()).await;
    let id = h.docs(1)[0];
    h.advance_ms(5);
    let deleted = h.sim.delete(id).unwrap();
    h.advance_ms(5);
    h.sim.restore(id).unwrap();
    let page = h.json("/api/core/v3/contents").await;
    assert_eq!(ids_of(&page), strs(&[id]));
    assert_eq!(page["list"][0]["updated"], format_date(h.now()));
    let markers = h.json(DELETED).await;
    assert_eq!(markers["list"][0]["id"], deleted.marker_id.unwrap());
    h.advance_ms(5);
    h.sim.delete(id).unwrap();
    assert_eq!(object_ids(&h.json(DELETED).await).len(), 2);
    assert!(matches!(
        h.sim.edit(id),
        Err(SimError::Op(OpError::Deleted(_)))
    ));
    assert!(matches!(
        h.sim.restore(ContentId(1)),
        Err(SimError::Op(OpError::NotFound(_)))
    ));
}

#[tokio::test]
async fn markers_page_with_links() {
    let h = start(plain()).await;
    for id in h.docs(5) {
        h.sim.delete(id).unwrap();
    }
    let mut url = format!("{DELETED}?sort=eventDateAsc&count=2");
    let mut seen = Vec::new();
    loop {
        let page = h.json(&url).await;
        seen.extend(object_ids(&page));
        match page["links"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
}

#[tokio::test]
async fn marker_ties_are_shuffled_per_request_for_as_many_requests_as_asked() {
    let h = start(plain()).await;
    let ids = h.docs(24);
    h.advance_ms(5);
    for id in &ids[..12] {
        h.sim.delete(*id).unwrap();
    }
    h.advance_ms(1);
    for id in &ids[12..] {
        h.sim.delete(*id).unwrap();
    }
    let asc = format!("{DELETED}?sort=eventDateAsc&count=100");
    assert_eq!(object_ids(&h.json(&asc).await), strs(&ids));

    h.sim.set_shuffle_marker_ties(3);
    let mut orders = Vec::new();
    for _ in 0..3 {
        let got = object_ids(&h.json(&asc).await);
        // Only ties move: every marker of the first millisecond still comes first.
        let (first, second) = got.split_at(12);
        let mut first = first.to_vec();
        first.sort();
        let mut want = strs(&ids[..12]);
        want.sort();
        assert_eq!(first, want);
        let mut second = second.to_vec();
        second.sort();
        let mut want = strs(&ids[12..]);
        want.sort();
        assert_eq!(second, want);
        orders.push(got);
    }
    assert!(
        orders.iter().any(|o| *o != strs(&ids)),
        "some request shuffled the ties"
    );
    assert_ne!(orders[0], orders[1], "each request has an order of its own");
    // After the three requests, the order they were made in again.
    assert_eq!(object_ids(&h.json(&asc).await), strs(&ids));

    h.sim.set_shuffle_marker_ties(u32::MAX);
    let a = object_ids(&h.json(&asc).await);
    let b = object_ids(&h.json(&asc).await);
    assert_ne!(a, b, "shuffled on every request");
    h.sim.set_shuffle_marker_ties(0);
    assert_eq!(object_ids(&h.json(&asc).await), strs(&ids));
}
