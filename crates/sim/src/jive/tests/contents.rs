//! `GET /contents`: date windows, filters, sorts, paging and the mid-scan hook.

use super::*;
use serde_json::json;

fn window(before: Option<DateTime<Utc>>, after: Option<DateTime<Utc>>) -> String {
    let b = before.map_or_else(|| "null".to_owned(), arg);
    let a = after.map_or_else(|| "null".to_owned(), arg);
    format!(
        "/api/core/v3/contents?filter=modificationDate%28{b}%2C{a}%29&sort=dateCreatedAsc&count=100"
    )
}

#[tokio::test]
async fn modification_date_bounds_are_inclusive_and_null_is_open() {
    let h = start(plain()).await;
    let ids = h.docs(5); // updated at t0+1 … t0+5 ms
    let at = |n: i64| t0() + ms(n);
    assert_eq!(
        h.ids(&window(Some(at(4)), Some(at(2)))).await,
        strs(&ids[1..4])
    );
    assert_eq!(
        h.ids(&window(Some(at(3)), Some(at(3)))).await,
        strs(&ids[2..3])
    );
    assert_eq!(h.ids(&window(None, Some(at(4)))).await, strs(&ids[3..]));
    assert_eq!(h.ids(&window(Some(at(2)), None)).await, strs(&ids[..2]));
    assert_eq!(h.ids(&window(None, None)).await, strs(&ids));
    // The wrong order (after first) is not an error: it matches nothing.
    assert!(h.ids(&window(Some(at(2)), Some(at(4)))).await.is_empty());
    // Seconds with `Z` work too.
    let z =
        "/api/core/v3/contents?filter=modificationDate(2026-01-05T09:15:11Z,2026-01-05T09:15:10Z)";
    assert_eq!(h.ids(z).await.len(), 5);
}

#[tokio::test]
async fn modification_date_compares_updated_and_creation_date_published() {
    let h = start(plain()).await;
    let ids = h.docs(3);
    h.advance_ms(100);
    h.sim.edit(ids[0]).unwrap();
    let edit_time = h.now();
    assert_eq!(h.ids(&window(None, Some(edit_time))).await, strs(&ids[..1]));
    let created = format!(
        "/api/core/v3/contents?filter=creationDate%28{}%2Cnull%29&sort=dateCreatedAsc",
        arg(t0() + ms(2))
    );
    assert_eq!(h.ids(&created).await, strs(&ids[..2]));
}

#[tokio::test]
async fn bad_filters_are_400_filter_invalid() {
    let h = start(plain()).await;
    let two = "place(/api/core/v3/places/1100,/api/core/v3/places/1101)";
    let e = h
        .bad_request(&format!(
            "/api/core/v3/contents?filter={}",
            super::super::wire::encode(two)
        ))
        .await;
    assert_eq!(
        e,
        json!({"message": format!("Invalid filter expression {two}"), "status": 400, "code": "filterInvalid"})
    );
    // A `+` sent unencoded decodes to a space.
    let e = h
        .bad_request(
            "/api/core/v3/contents?filter=modificationDate(2026-01-05T09:15:11.000+0000,null)",
        )
        .await;
    assert_eq!(e["code"], "filterInvalid");
    for bad in ["tag(x)", "unread", "type(a", "modificationDate(null)"] {
        let e = h
            .bad_request(&format!("/api/core/v3/contents?filter={bad}"))
            .await;
        assert_eq!(e["message"], format!("Invalid filter expression {bad}"));
    }
    let e = h
        .bad_request("/api/core/v3/contents?sort=modificationDateAsc")
        .await;
    assert!(
        e["message"].as_str().unwrap().contains("dateCreatedDesc"),
        "{e}"
    );
    h.bad_request("/api/core/v3/contents?count=lots").await;
    h.bad_request("/api/core/v3/contents?startIndex=-5").await;
}

#[tokio::test]
async fn type_and_place_filters_are_anded() {
    let h = start(plain()).await;
    let d1 = h.sim.create("document", "d1", P1).unwrap();
    let f1 = h.sim.create("file", "f1", P1).unwrap();
    let d2 = h.sim.create("document", "d2", P2).unwrap();
    let base = &h.base;
    let q = |f: &str| format!("/api/core/v3/contents?sort=dateCreatedAsc&{f}");
    assert_eq!(h.ids(&q("filter=type(document)")).await, strs(&[d1, d2]));
    assert_eq!(h.ids(&q("filter=type(document,file)")).await.len(), 3);
    let absolute = super::super::wire::encode(&format!("{base}/api/core/v3/places/1100"));
    assert_eq!(
        h.ids(&q(&format!("filter=place({absolute})"))).await,
        strs(&[d1, f1])
    );
    assert_eq!(
        h.ids(&q("filter=place(/places/1100)&filter=type(document)"))
            .await,
        strs(&[d1])
    );
    assert!(h.ids(&q("filter=place(/places/42)")).await.is_empty());
}

#[tokio::test]
async fn sorts_order_by_creation_activity_and_title() {
    let h = start(plain()).await;
    let ids = h.docs(3);
    h.sim.rename(ids[0], "zebra").unwrap();
    h.sim.rename(ids[2], "Apple").unwrap();
    let q = |s: &str| format!("/api/core/v3/contents?sort={s}");
    assert_eq!(
        h.ids(&q("dateCreatedDesc")).await,
        strs(&[ids[2], ids[1], ids[0]])
    );
    assert_eq!(
        h.ids("/api/core/v3/contents").await,
        h.ids(&q("dateCreatedDesc")).await
    );
    assert_eq!(h.ids(&q("dateCreatedAsc")).await, strs(&ids));
    assert_eq!(h.ids(&q("titleAsc")).await, strs(&[ids[2], ids[1], ids[0]]));
}

#[tokio::test]
async fn a_comment_moves_latest_activity_but_not_updated() {
    let h = start(plain()).await;
    let ids = h.docs(3);
    h.advance_ms(50);
    h.sim.comment(ids[0]).unwrap();
    let q = |s: &str| format!("/api/core/v3/contents?sort={s}");
    assert_eq!(
        h.ids(&q("latestActivityAsc")).await,
        strs(&[ids[1], ids[2], ids[0]])
    );
    assert_eq!(
        h.ids(&q("latestActivityDesc")).await,
        strs(&[ids[0], ids[2], ids[1]])
    );
    let c = h.sim.content(ids[0]).unwrap();
    assert_eq!(c.updated, t0() + ms(1));
    assert_eq!(c.last_activity, h.now());
    assert_eq!(c.reply_count, 1);
    // The comment is invisible to a modificationDate window after the creates.
    assert!(h.ids(&window(None, Some(t0() + ms(10)))).await.is_empty());
    // Within a window, latestActivity order is not updated order.
    let page = h
        .json(&format!(
            "{}&sort=latestActivityAsc",
            window(None, None).replace("&sort=dateCreatedAsc", "")
        ))
        .await;
    let updated: Vec<&str> = page["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["updated"].as_str().unwrap())
        .collect();
    assert!(updated.windows(2).any(|w| w[0] > w[1]), "{updated:?}");
}

#[tokio::test]
async fn the_envelope_echoes_count_and_links_only_when_there_is_more() {
    let h = start(plain()).await;
    h.docs(5);
    let page = h.json("/api/core/v3/contents?count=2&fields=%40all").await;
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["startIndex"], 0);
    assert_eq!(page["list"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["links"],
        json!({"next": format!("{}/api/core/v3/contents?fields=%40all&count=2&startIndex=2", h.base)})
    );
    let last = h.json("/api/core/v3/contents?count=2&startIndex=4").await;
    assert_eq!(last["itemsPerPage"], 2);
    assert_eq!(last["list"].as_array().unwrap().len(), 1);
    assert!(last["links"].get("next").is_none());
    assert_eq!(
        last["links"]["previous"],
        format!("{}/api/core/v3/contents?count=2&startIndex=2", h.base)
    );
    // An exactly-full last page has no next, and a lone page no links at all.
    let full = h.json("/api/core/v3/contents?count=5").await;
    assert_eq!(full["list"].as_array().unwrap().len(), 5);
    assert!(full.get("links").is_none(), "{full}");
    // count is clamped to 100; default 25.
    assert_eq!(
        h.json("/api/core/v3/contents?count=500").await["itemsPerPage"],
        100
    );
    assert_eq!(h.json("/api/core/v3/contents").await["itemsPerPage"], 25);
}

#[tokio::test]
async fn following_next_verbatim_pages_every_item_once() {
    let h = start(plain()).await;
    h.advance_ms(5);
    h.sim.generate(230);
    let before = h.now();
    let expected: std::collections::BTreeSet<String> = h
        .sim
        .changes()
        .iter()
        .filter(|c| c.kind != ChangeKind::Delete)
        .map(|c| c.content_id.clone())
        .filter(|id| {
            h.sim
                .content(id.parse().unwrap())
                .is_some_and(|c| !c.deleted)
        })
        .collect();
    let mut url = format!(
        "/api/core/v3/contents?filter=modificationDate%28{}%2Cnull%29&sort=dateCreatedAsc&count=7",
        arg(before)
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = h.json(&url).await;
        pages += 1;
        seen.extend(ids_of(&page));
        match page["links"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    assert_eq!(unique, expected);
    assert_eq!(pages, expected.len().div_ceil(7));
}

#[tokio::test]
async fn an_edit_mid_scan_shifts_offsets_and_naive_paging_skips_an_item() {
    let h = start(plain()).await;
    let ids = h.docs(6); // updated t0+1 … t0+6
    h.advance_ms(1000);
    let url = window(Some(t0() + ms(6)), Some(t0() + ms(1))).replace("count=100", "count=3");
    // Page 2 is answered after the first item of page 1 is edited out of the window.
    h.sim
        .on_contents_request(2, vec![Operation::Edit { content_id: ids[0] }]);
    let first = h.json(&url).await;
    assert_eq!(ids_of(&first), strs(&ids[..3]));
    let next = first["links"]["next"].as_str().unwrap().to_owned();
    let second = h.json(&next).await;
    // ids[3] slid into page 1's range: offset paging never sees it.
    assert_eq!(ids_of(&second), strs(&ids[4..]));
    assert!(second["links"].get("next").is_none());
    // Through the control API too, counted from when it is posted.
    let r = h
        .post(
            "/_sim/jive/mutate",
            json!({"on_request": 1, "ops": [{"op": "rename", "content_id": ids[4].to_string(), "subject": "moved on"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(h.ids(&next).await, strs(&ids[5..]));
    assert_eq!(h.sim.content(ids[4]).unwrap().subject, "moved on");
}
