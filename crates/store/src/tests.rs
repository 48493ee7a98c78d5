//! Behaviour of the store as a whole: ingest, merge, read, retention, persistence. The
//! upgrade from format 2, the separation of tenants and secrets at rest have modules of their own.

mod secrets;
mod tenants;
mod upgrade;

use crate::*;
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::HashSet;
use tributary_core::*;

/// The tenant of tests that need only one.
const TENANT: &str = "t";

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_767_225_600_000 + ms).unwrap()
}

fn src(s: &str) -> SourceId {
    SourceId::new(s).unwrap()
}

fn record(tenant: &str, id: &str) -> SourceRecord {
    SourceRecord {
        id: src(id),
        tenant: tenant.into(),
        incarnation: 0,
        provider: "test".into(),
        config: serde_json::json!({}),
        credentials: serde_json::json!({}),
        paused: false,
        created_at: t(0),
    }
}

/// Creates (or keeps) the source `id` of `tenant`: the incarnation to ingest into.
async fn put_in(s: &SledStore, tenant: &str, id: &str) -> SourceRef {
    s.put_source(record(tenant, id)).await.unwrap()
}

/// [`put_in`] for [`TENANT`].
async fn put(s: &SledStore, id: &str) -> SourceRef {
    put_in(s, TENANT, id).await
}

fn ev(source: &str, id: &str, ms: i64, event_type: EventType, path: &str) -> Event {
    let mut object = Object::new(
        format!("obj-{id}"),
        ObjectKind::File,
        path.rsplit('/').next().unwrap_or(path),
    );
    object.path = Some(path.to_owned());
    Event {
        id: EventId::new(id).unwrap(),
        seq: None,
        source: src(source),
        provider: "test".into(),
        event_type,
        occurred_at: t(ms),
        observed_at: t(ms + 1),
        object,
        previous: None,
        actor: None,
        upstream: Upstream {
            id: id.into(),
            action: "create".into(),
            raw: None,
        },
        late: false,
    }
}

fn add(source: &str, id: &str, ms: i64) -> Event {
    ev(source, id, ms, EventType::Add, &format!("/{source}/{id}"))
}

fn cp(n: u64) -> Checkpoint {
    Checkpoint::from_json(serde_json::json!({"version": "V1", "n": n})).unwrap()
}

fn page(events: Vec<Event>, n: u64, watermark_ms: Option<i64>) -> Page {
    Page::new(
        events,
        cp(n),
        watermark_ms.map(|ms| Watermark::new(t(ms))),
        false,
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `(source, id, late)` of every event in the tenant's log, in log order.
async fn log_in(store: &SledStore, tenant: &str) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read(tenant, cursor.as_ref(), 7, &Filter::default())
            .await
            .unwrap();
        for e in &page.events {
            let e = e.event().unwrap();
            out.push((e.source.to_string(), e.id.to_string(), e.late));
        }
        cursor = Some(page.cursor);
        if page.remaining == 0 {
            return out;
        }
    }
}

/// [`log_in`] for [`TENANT`].
async fn log_of(store: &SledStore) -> Vec<(String, String, bool)> {
    log_in(store, TENANT).await
}

/// The ids of the events one read of the tenant's log returns.
async fn read_ids(s: &SledStore, f: &Filter) -> Vec<String> {
    s.read(TENANT, None, 100, f)
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.event().unwrap().id.to_string())
        .collect()
}

fn ids(log: &[(String, String, bool)]) -> Vec<&str> {
    log.iter().map(|(_, id, _)| id.as_str()).collect()
}

#[test]
fn merge_orders_sources_by_time_and_holds_events_at_the_frontier() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let (a, b) = (put(&s, "a").await, put(&s, "b").await);
        s.ingest(
            &a,
            page(
                vec![add("a", "a1", 10), add("a", "a2", 30), add("a", "a3", 50)],
                1,
                Some(60),
            ),
        )
        .await
        .unwrap();
        s.ingest(
            &b,
            page(vec![add("b", "b1", 20), add("b", "b2", 40)], 1, Some(60)),
        )
        .await
        .unwrap();
        let r = s.merge(TENANT, t(40)).await.unwrap();
        assert_eq!(
            r,
            MergeReport {
                merged: 3,
                late: 0,
                last: Seq(3)
            }
        );
        assert_eq!(ids(&log_of(&s).await), ["a1", "b1", "a2"]);
        assert_eq!(s.pending_len(&a).unwrap(), 1);
        assert_eq!(s.pending_len(&b).unwrap(), 1);
        let r = s.merge(TENANT, t(1000)).await.unwrap();
        assert_eq!(
            r,
            MergeReport {
                merged: 2,
                late: 0,
                last: Seq(5)
            }
        );
        assert_eq!(ids(&log_of(&s).await), ["a1", "b1", "a2", "b2", "a3"]);
        let seqs: Vec<_> = s
            .read(TENANT, None, 100, &Filter::default())
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| e.seq.get())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
    });
}

#[test]
fn merged_entries_are_read_only_once_published_after_the_flush() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let (a, b) = (put(&s, "a").await, put(&s, "b").await);
        put(&s, "c").await;
        s.ingest(
            &a,
            page(vec![add("a", "a1", 10), add("a", "a2", 12)], 1, Some(60)),
        )
        .await
        .unwrap();
        s.ingest(&b, page(vec![add("b", "b1", 15)], 1, Some(60)))
            .await
            .unwrap();
        s.merge(TENANT, t(1000)).await.unwrap();
        s.ingest(
            &a,
            page(vec![add("a", "a3", 20), add("a", "a4", 30)], 2, Some(60)),
        )
        .await
        .unwrap();
        // The merge's own step, before the flush that `merge` does: committed, not yet shown.
        let (r, published) = s.merge_blocking(TENANT, t(1000)).unwrap();
        assert_eq!((r.merged, r.last), (2, Seq(5)));
        assert_eq!(ids(&log_of(&s).await), ["a1", "a2", "b1"]);
        assert_eq!(s.latest(TENANT).await.unwrap().seq, Seq(3));
        // Sources' newest entries are shown before the end moves: a read in between counts
        // only what lies within the end it read.
        published.unwrap().publish(Seq(3));
        let p = s
            .read(TENANT, None, 1, &sources(&["a", "c"]))
            .await
            .unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(1), 1));
        // (A merge with nothing to move publishes the end it found.)
        let (_, nothing) = s.merge_blocking(TENANT, t(1000)).unwrap();
        nothing.unwrap().publish(r.last);
        assert_eq!(ids(&log_of(&s).await), ["a1", "a2", "b1", "a3", "a4"]);
        let p = s
            .read(TENANT, None, 1, &sources(&["a", "c"]))
            .await
            .unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(1), 3));
        // A merge that finishes later but ended earlier never moves the end back.
        let (_, nothing) = s.merge_blocking(TENANT, t(1000)).unwrap();
        nothing.unwrap().publish(Seq(1));
        assert_eq!(s.latest(TENANT).await.unwrap().seq, Seq(5));
    });
}

#[test]
fn merge_breaks_time_ties_by_source_and_never_reorders_one_source() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let (x, y, z) = (put(&s, "x").await, put(&s, "y").await, put(&s, "z").await);
        // Source z reports 5 then 3 (upstream order wins); y has 4; x ties with z at 5.
        s.ingest(
            &z,
            page(vec![add("z", "z5", 5), add("z", "z3", 3)], 1, None),
        )
        .await
        .unwrap();
        s.ingest(&y, page(vec![add("y", "y4", 4)], 1, None))
            .await
            .unwrap();
        s.ingest(&x, page(vec![add("x", "x5", 5)], 1, None))
            .await
            .unwrap();
        let r = s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!(r.merged, 4);
        assert_eq!(r.late, 1);
        let log = log_of(&s).await;
        assert_eq!(ids(&log), ["y4", "x5", "z5", "z3"]);
        assert_eq!(
            log.iter().map(|l| l.2).collect::<Vec<_>>(),
            [false, false, false, true]
        );
    });
}

#[test]
fn events_arriving_behind_the_frontier_are_appended_late() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let b = put(&s, "b").await;
        s.ingest(&a, page(vec![add("a", "a1", 100)], 1, None))
            .await
            .unwrap();
        s.merge(TENANT, t(200)).await.unwrap();
        s.ingest(
            &b,
            page(vec![add("b", "b1", 50), add("b", "b2", 150)], 1, None),
        )
        .await
        .unwrap();
        assert_eq!(
            s.merge(TENANT, t(200)).await.unwrap(),
            MergeReport {
                merged: 2,
                late: 1,
                last: Seq(3)
            }
        );
        let log = log_of(&s).await;
        assert_eq!(
            log,
            [
                ("a".into(), "a1".into(), false),
                ("b".into(), "b1".into(), true),
                ("b".into(), "b2".into(), false)
            ]
        );
    });
}

#[test]
fn reingesting_a_page_is_a_no_op_and_repeated_ids_in_a_page_are_absorbed() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let b = put(&s, "b").await;
        let p = page(
            vec![add("a", "1", 1), add("a", "2", 2), add("a", "1", 1)],
            1,
            Some(5),
        );
        assert_eq!(
            s.ingest(&a, p.clone()).await.unwrap(),
            IngestReport {
                accepted: 2,
                duplicates: 1
            }
        );
        assert_eq!(
            s.ingest(&a, p.clone()).await.unwrap(),
            IngestReport {
                accepted: 0,
                duplicates: 3
            }
        );
        s.merge(TENANT, t(10)).await.unwrap();
        // Still absorbed once merged.
        assert_eq!(
            s.ingest(&a, p).await.unwrap(),
            IngestReport {
                accepted: 0,
                duplicates: 3
            }
        );
        assert_eq!(ids(&log_of(&s).await), ["1", "2"]);
        let state = s.source_state(&a).unwrap().unwrap();
        assert_eq!((state.events_ingested, state.duplicates_absorbed), (2, 7));
        // The same event id from another source is a different event.
        assert_eq!(
            s.ingest(&b, page(vec![add("b", "1", 3)], 1, None))
                .await
                .unwrap()
                .accepted,
            1
        );
    });
}

#[test]
fn ordered_sources_are_deduplicated_by_position() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let with_positions = |events: Vec<Event>, positions: Vec<u64>| {
            let mut p = page(events, 1, None);
            p.positions = Some(positions);
            p
        };
        let first = with_positions(
            vec![add("a", "10", 1), add("a", "11", 2), add("a", "12", 3)],
            vec![10, 11, 12],
        );
        assert_eq!(
            s.ingest(&a, first.clone()).await.unwrap(),
            IngestReport {
                accepted: 3,
                duplicates: 0
            }
        );
        // A replay, and a page that overlaps it, keep only what lies past position 12.
        assert_eq!(
            s.ingest(&a, first).await.unwrap(),
            IngestReport {
                accepted: 0,
                duplicates: 3
            }
        );
        let overlap = with_positions(vec![add("a", "12", 3), add("a", "13", 4)], vec![12, 13]);
        assert_eq!(
            s.ingest(&a, overlap).await.unwrap(),
            IngestReport {
                accepted: 1,
                duplicates: 1
            }
        );
        assert_eq!(s.source_state(&a).unwrap().unwrap().max_position, Some(13));
        // Positions that do not pair with the events or do not increase are refused whole.
        let bad = with_positions(vec![add("a", "20", 5), add("a", "21", 6)], vec![21, 20]);
        let err = s.ingest(&a, bad).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid page: positions must strictly increase, found 21 then 20"
        );
        let short = with_positions(vec![add("a", "20", 5)], vec![]);
        assert!(matches!(
            s.ingest(&a, short).await,
            Err(StoreError::Invalid { what: "page", .. })
        ));
        s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!(ids(&log_of(&s).await), ["10", "11", "12", "13"]);
    });
}

#[test]
fn ingest_refuses_an_event_of_another_source_and_writes_nothing() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let err = s
            .ingest(&a, page(vec![add("a", "1", 1), add("b", "2", 2)], 1, None))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"event "2" names source SourceId("b") but was ingested for source SourceId("a")"#
        );
        assert_eq!(s.pending_len(&a).unwrap(), 0);
        assert!(s.source_state(&a).unwrap().is_none());
    });
}

#[test]
fn ingest_refuses_times_that_cannot_be_published() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let mut e = add("a", "1", 1);
        e.object.modified = Some(DateTime::<Utc>::MAX_UTC);
        let err = s.ingest(&a, page(vec![e], 1, None)).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"invalid event: event "1" has a time outside the years 0000-9999"#),
            "{err}"
        );
        let mut p = page(vec![add("a", "1", 1)], 1, None);
        p.watermark = Some(Watermark(DateTime::<Utc>::MAX_UTC));
        assert!(matches!(
            s.ingest(&a, p).await,
            Err(StoreError::Invalid {
                what: "watermark",
                ..
            })
        ));
        assert!(s.source_state(&a).unwrap().is_none());
        // The latest publishable time is fine.
        let p = Page::new(vec![], cp(1), Some(Watermark::closed()), false);
        s.ingest(&a, p).await.unwrap();
        assert_eq!(
            s.source_state(&a).unwrap().unwrap().watermark,
            Some(Watermark::closed())
        );
    });
}

#[test]
fn checkpoint_watermark_and_gaps_are_committed_with_the_events() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let mut p = page(vec![add("a", "1", 1)], 7, Some(50));
        p.gaps.push(Gap {
            detected_at: t(60),
            after: "100".into(),
            resumed_at: "250".into(),
            reason: "event id 100 expired upstream".into(),
        });
        s.ingest(&a, p).await.unwrap();
        // A page without a watermark keeps the last; a smaller one does not move it back.
        s.ingest(&a, page(vec![], 8, None)).await.unwrap();
        s.ingest(&a, page(vec![], 9, Some(20))).await.unwrap();
        let state = s.source_state(&a).unwrap().unwrap();
        assert_eq!(state.checkpoint, cp(9));
        assert_eq!(state.watermark, Some(Watermark::new(t(50))));
        assert_eq!(state.gaps_recorded, 1);
        let gaps = s.gaps(&a).unwrap();
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].after, "100");
    });
}

#[test]
fn upstream_calls_are_counted_per_utc_day_with_the_pages() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let (a, b) = (put(&s, "a").await, put(&s, "b").await);
        let day = |d: u32| {
            Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0)
                .unwrap()
                .date_naive()
        };
        let with_calls = |n: u64, calls: Option<(u32, u64)>| {
            let mut p = page(vec![], n, None);
            p.upstream_calls = calls.map(|(d, calls)| DailyCalls { day: day(d), calls });
            p
        };
        let calls = |s: &SledStore| s.source_state(&a).unwrap().unwrap().calls;
        // A page counting nothing records nothing.
        s.ingest(&a, with_calls(1, None)).await.unwrap();
        assert_eq!(calls(&s), None);
        s.ingest(&a, with_calls(2, Some((22, 3)))).await.unwrap();
        s.ingest(&a, with_calls(3, Some((22, 2)))).await.unwrap();
        s.ingest(&a, with_calls(4, None)).await.unwrap();
        assert_eq!(
            calls(&s),
            Some(DailyCalls {
                day: day(22),
                calls: 5
            })
        );
        let state = s.source_state(&a).unwrap().unwrap();
        assert_eq!((state.calls_on(day(22)), state.calls_on(day(23))), (5, 0));
        // A new UTC day starts from what its first page carries.
        s.ingest(&a, with_calls(5, Some((23, 4)))).await.unwrap();
        assert_eq!(
            calls(&s),
            Some(DailyCalls {
                day: day(23),
                calls: 4
            })
        );
        // Calls dated before the last day (a clock set back) count toward the last day.
        s.ingest(&a, with_calls(6, Some((22, 1)))).await.unwrap();
        assert_eq!(
            calls(&s),
            Some(DailyCalls {
                day: day(23),
                calls: 5
            })
        );
        // Other sources count apart.
        s.ingest(&b, with_calls(1, Some((23, 7)))).await.unwrap();
        assert_eq!(
            calls(&s),
            Some(DailyCalls {
                day: day(23),
                calls: 5
            })
        );
    });
}

#[test]
fn object_memory_is_committed_with_the_page_and_scoped_to_its_source() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let (a, b) = (put(&s, "a").await, put(&s, "b").await);
        let mut p = page(vec![add("a", "1", 1)], 1, None);
        p.objects = vec![
            ObjectChange::set("g1", serde_json::json!({"path": "/x"})),
            ObjectChange::set("g2", serde_json::json!(true)),
        ];
        s.ingest(&a, p).await.unwrap();
        let memory = s.object_state(&a);
        assert_eq!(
            memory.get("g1").unwrap(),
            Some(serde_json::json!({"path": "/x"}))
        );
        assert_eq!(s.object_state(&b).get("g1").unwrap(), None);
        // A refused page changes nothing.
        let mut bad = page(vec![add("b", "2", 2)], 2, None);
        bad.objects = vec![ObjectChange::forget("g1")];
        assert!(s.ingest(&a, bad).await.is_err());
        assert!(memory.get("g1").unwrap().is_some());
        let mut p = page(vec![], 3, None);
        p.objects = vec![ObjectChange::forget("g1")];
        s.ingest(&a, p).await.unwrap();
        assert_eq!(memory.get("g1").unwrap(), None);
        assert_eq!(memory.get("g2").unwrap(), Some(serde_json::json!(true)));
        s.delete_source(TENANT, &a.id).await.unwrap();
        assert_eq!(memory.get("g2").unwrap(), None);
    });
}

#[test]
fn a_read_within_a_scan_budget_stops_early_and_continues_from_its_cursor() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let events = (1..=30)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    EventType::Delete
                } else {
                    EventType::Add
                };
                ev("a", &i.to_string(), i, kind, "/x")
            })
            .collect();
        s.ingest(&a, page(events, 1, None)).await.unwrap();
        s.merge(TENANT, t(100)).await.unwrap();
        let deletes = Filter {
            types: vec![EventType::Delete],
            ..Filter::default()
        };
        // Seven entries examined: two deletes (3 and 6), and the cursor after the seventh.
        let first = s.read_within(TENANT, None, 5, &deletes, 7).await.unwrap();
        let ids = |p: &ReadPage| -> Vec<String> {
            p.events
                .iter()
                .map(|e| e.event().unwrap().id.to_string())
                .collect()
        };
        assert_eq!(ids(&first), ["3", "6"]);
        assert_eq!((first.cursor.seq, first.remaining), (Seq(7), 23));
        // Continuing in small budgets gives exactly what one read gives.
        let mut all = ids(&first);
        let mut cursor = first.cursor;
        loop {
            let p = s
                .read_within(TENANT, Some(&cursor), 5, &deletes, 7)
                .await
                .unwrap();
            all.extend(ids(&p));
            cursor = p.cursor;
            if p.remaining == 0 {
                break;
            }
        }
        assert_eq!(
            all,
            ids(&s.read(TENANT, None, 100, &deletes).await.unwrap())
        );
        assert_eq!(all.len(), 10);
        // A budget of 0 examines one entry; a page that fills stops before the budget.
        assert_eq!(
            s.read_within(TENANT, None, 5, &deletes, 0)
                .await
                .unwrap()
                .cursor
                .seq,
            Seq(1)
        );
        let full = s
            .read_within(TENANT, None, 2, &Filter::default(), 7)
            .await
            .unwrap();
        assert_eq!((ids(&full).len(), full.cursor.seq), (2, Seq(2)));
    });
}

/// A read by several sources returns theirs only: not the entries of the tenant's other
/// sources, nor those of a source created after the read started (a reader continuing from its
/// cursor), nor those of a source deleted and created again with a named id.
#[test]
fn a_filter_naming_several_sources_never_reads_another() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        let (a, b, c) = (put(&s, "a").await, put(&s, "b").await, put(&s, "c").await);
        let ab = sources(&["a", "b"]);
        for (source, id, ms) in [(&a, "1", 1), (&b, "2", 2), (&c, "3", 3)] {
            let e = add(source.id.as_str(), id, ms);
            s.ingest(source, page(vec![e], 1, None)).await.unwrap();
        }
        s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!(read_ids(&s, &ab).await, ["1", "2"]);
        // A reader one page in, when a new source d arrives and everyone adds entries.
        let first = s.read(TENANT, None, 1, &ab).await.unwrap();
        assert_eq!((first.cursor.seq, first.remaining), (Seq(1), 1));
        let d = put(&s, "d").await;
        for (source, id, ms) in [(&d, "4", 4), (&c, "5", 5), (&a, "6", 6), (&b, "7", 7)] {
            let e = add(source.id.as_str(), id, ms);
            s.ingest(source, page(vec![e], 2, None)).await.unwrap();
        }
        s.merge(TENANT, t(100)).await.unwrap();
        let ids = |p: &ReadPage| -> Vec<String> {
            p.events
                .iter()
                .map(|e| e.event().unwrap().id.to_string())
                .collect()
        };
        let p = s.read(TENANT, Some(&first.cursor), 1, &ab).await.unwrap();
        assert_eq!(
            (ids(&p), p.cursor.seq, p.remaining),
            (vec!["2".into()], Seq(2), 2)
        );
        let p = s.read(TENANT, Some(&p.cursor), 1, &ab).await.unwrap();
        assert_eq!(
            (ids(&p), p.cursor.seq, p.remaining),
            (vec!["6".into()], Seq(6), 1)
        );
        let p = s.read(TENANT, Some(&first.cursor), 100, &ab).await.unwrap();
        assert_eq!(
            (ids(&p), p.cursor.seq, p.remaining),
            (vec!["2".into(), "6".into(), "7".into()], Seq(7), 0)
        );
        // Reopened, the same.
        drop(s);
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(read_ids(&s, &ab).await, ["1", "2", "6", "7"]);
        assert_eq!(
            read_ids(&s, &Filter::default()).await,
            ["1", "2", "3", "4", "5", "6", "7"]
        );
        // b deleted and created again: the filter names the new b, whose entries are none yet.
        assert!(s.delete_source(TENANT, &src("b")).await.unwrap());
        let b = put(&s, "b").await;
        assert_eq!(read_ids(&s, &ab).await, ["1", "6"]);
        let p = s.read(TENANT, None, 1, &ab).await.unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(1), 1));
        s.ingest(&b, page(vec![add("b", "8", 8)], 1, None))
            .await
            .unwrap();
        s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!(read_ids(&s, &ab).await, ["1", "6", "8"]);
    });
}

#[test]
fn reads_filter_by_source_type_path_and_time() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let b = put(&s, "b").await;
        s.ingest(
            &a,
            page(
                vec![
                    ev("a", "1", 1, EventType::Add, "/docs/x.txt"),
                    ev("a", "2", 2, EventType::Delete, "/docs/y.txt"),
                    ev("a", "3", 3, EventType::Add, "/docsother/z.txt"),
                ],
                1,
                None,
            ),
        )
        .await
        .unwrap();
        s.ingest(
            &b,
            page(
                vec![
                    ev("b", "4", 4, EventType::Add, "/docs/w.txt"),
                    ev("b", "5", 5, EventType::Update, "/p"),
                ],
                1,
                None,
            ),
        )
        .await
        .unwrap();
        s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!(
            read_ids(&s, &Filter::default()).await,
            ["1", "2", "3", "4", "5"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    sources: vec![src("b")],
                    ..Filter::default()
                }
            )
            .await,
            ["4", "5"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    sources: vec![src("b"), src("a")],
                    ..Filter::default()
                }
            )
            .await,
            ["1", "2", "3", "4", "5"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    types: vec![EventType::Add],
                    ..Filter::default()
                }
            )
            .await,
            ["1", "3", "4"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    path_prefix: Some("/docs".into()),
                    ..Filter::default()
                }
            )
            .await,
            ["1", "2", "4"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    since: Some(t(2)),
                    until: Some(t(5)),
                    ..Filter::default()
                }
            )
            .await,
            ["2", "3", "4"]
        );
        assert_eq!(
            read_ids(
                &s,
                &Filter {
                    sources: vec![src("a")],
                    types: vec![EventType::Add],
                    path_prefix: Some("/docs/".into()),
                    ..Filter::default()
                }
            )
            .await,
            ["1"]
        );
        // A filtered page that ends early still moves the cursor to the end it examined.
        let p = s
            .read(
                TENANT,
                None,
                100,
                &Filter {
                    sources: vec![src("a")],
                    ..Filter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(5), 0));
        let p = s
            .read(
                TENANT,
                None,
                1,
                &Filter {
                    types: vec![EventType::Delete],
                    ..Filter::default()
                },
            )
            .await
            .unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(2), 3));
    });
}

/// Sources a, b, c interleaved in the log: a at 1, 4, 7, …; b at 2, 5, 8, …; c at 3, 6, 9, ….
/// Answers the three sources.
async fn three_interleaved_sources(s: &SledStore, per_source: i64) -> [SourceRef; 3] {
    let mut refs = Vec::new();
    for (k, name) in ["a", "b", "c"].into_iter().enumerate() {
        let source = put(s, name).await;
        let events = (0..per_source)
            .map(|i| add(name, &format!("{name}{i}"), 3 * i + k as i64))
            .collect();
        s.ingest(&source, page(events, 1, None)).await.unwrap();
        refs.push(source);
    }
    s.merge(TENANT, t(1_000_000)).await.unwrap();
    refs.try_into().unwrap()
}

fn sources(names: &[&str]) -> Filter {
    Filter {
        sources: names.iter().map(|n| src(n)).collect(),
        ..Filter::default()
    }
}

#[test]
fn remaining_counts_only_the_named_sources_entries() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let [a, ..] = three_interleaved_sources(&s, 10).await;
        put(&s, "nobody").await;
        let at = |seq| Some(Cursor::new(s.stream_key(TENANT), Seq(seq)));
        // (sources, after, page size, → events, cursor, remaining)
        type Case = (&'static [&'static str], u64, usize, usize, u64, u64);
        let cases: [Case; 9] = [
            (&["a", "b", "c"], 0, 5, 5, 5, 25),
            (&["a", "b"], 0, 5, 5, 7, 15),
            (&["a", "c"], 4, 4, 4, 10, 13),
            (&["b"], 0, 3, 3, 8, 7),
            (&["c"], 25, 100, 2, 30, 0),
            // Past a source's last entry: nothing left, and the cursor moves to the end.
            (&["a"], 28, 100, 0, 30, 0),
            (&["a", "b"], 29, 100, 0, 30, 0),
            // A source named twice counts once.
            (&["b", "c", "b"], 0, 2, 2, 3, 18),
            // A source with no entries counts none; the last entry of `a` is the page's, so the
            // cursor moves on to the end.
            (&["a", "nobody"], 26, 1, 1, 30, 0),
        ];
        // A source the tenant does not have is refused.
        assert!(matches!(
            s.read(TENANT, None, 1, &sources(&["a", "somebody"])).await,
            Err(StoreError::UnknownSource { source_id }) if source_id == "somebody"
        ));
        for (names, after, size, n, cursor, remaining) in cases {
            let p = s
                .read(TENANT, at(after).as_ref(), size, &sources(names))
                .await
                .unwrap();
            assert_eq!(
                (p.events.len(), p.cursor.seq, p.remaining),
                (n, Seq(cursor), remaining),
                "{names:?} after {after}, {size} per page"
            );
        }
        // Other filters narrow the page, not `remaining`.
        let deletes_of_b = Filter {
            types: vec![EventType::Delete],
            ..sources(&["b"])
        };
        let p = s
            .read(TENANT, at(0).as_ref(), 10, &deletes_of_b)
            .await
            .unwrap();
        assert_eq!((p.events.len(), p.cursor.seq, p.remaining), (0, Seq(30), 0));
        let p = s
            .read_within(TENANT, at(0).as_ref(), 10, &deletes_of_b, 4)
            .await
            .unwrap();
        assert_eq!((p.events.len(), p.cursor.seq, p.remaining), (0, Seq(11), 6));

        // Retention removes the oldest entries; the ordinals of the rest still count right.
        s.apply_retention(
            Retention {
                max_events: Some(20),
                max_age: None,
            },
            t(0),
        )
        .await
        .unwrap();
        let p = s
            .read(TENANT, None, 1, &sources(&["a", "c"]))
            .await
            .unwrap();
        assert_eq!(
            (p.events.len(), p.cursor.seq, p.remaining),
            (1, Seq(12), 12)
        );
        // New entries of a source continue its count.
        s.ingest(
            &a,
            page(
                vec![add("a", "late-1", 100), add("a", "late-2", 101)],
                2,
                None,
            ),
        )
        .await
        .unwrap();
        s.merge(TENANT, t(1_000_000)).await.unwrap();
        let p = s
            .read(TENANT, at(12).as_ref(), 1, &sources(&["a", "b"]))
            .await
            .unwrap();
        assert_eq!(
            (p.events.len(), p.cursor.seq, p.remaining),
            (1, Seq(13), 13)
        );
    });
}

#[test]
fn cursors_are_checked() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let other = SledStore::temporary().unwrap();
        s.ingest(&a, page(vec![add("a", "1", 1)], 1, None))
            .await
            .unwrap();
        s.merge(TENANT, t(10)).await.unwrap();
        // Another store's cursor for the same tenant, another tenant's cursor at the same
        // position, and that of a tenant that never had a source: all foreign.
        let u = put_in(&s, "u", "a").await;
        s.ingest(&u, page(vec![add("a", "1", 1)], 1, None))
            .await
            .unwrap();
        s.merge("u", t(10)).await.unwrap();
        for foreign in [
            other.latest(TENANT).await.unwrap(),
            s.latest("u").await.unwrap(),
            s.latest("nobody").await.unwrap(),
        ] {
            assert!(matches!(
                s.read(TENANT, Some(&foreign), 10, &Filter::default()).await,
                Err(StoreError::Cursor(CursorError::Foreign { .. }))
            ));
        }
        assert_eq!(s.latest("u").await.unwrap().seq, Seq(1));
        let ahead = Cursor::new(s.stream_key(TENANT), Seq(2));
        assert_eq!(
            s.read(TENANT, Some(&ahead), 10, &Filter::default())
                .await
                .unwrap_err()
                .to_string(),
            "cursor points past the end of the log (position 2 > last position 1)"
        );
        assert!(matches!(
            s.read(TENANT, None, 0, &Filter::default()).await,
            Err(StoreError::Invalid { .. })
        ));
        let latest = s.latest(TENANT).await.unwrap();
        assert_eq!(latest.seq, Seq(1));
        let p = s
            .read(TENANT, Some(&latest), 10, &Filter::default())
            .await
            .unwrap();
        assert_eq!((p.events.len(), p.cursor, p.remaining), (0, latest, 0));
    });
}

#[test]
fn retention_removes_the_oldest_events_and_expires_their_cursors() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let a = put(&s, "a").await;
        let events = (1..=10)
            .map(|i| add("a", &i.to_string(), i * 1000))
            .collect();
        s.ingest(&a, page(events, 1, None)).await.unwrap();
        s.merge(TENANT, t(100_000)).await.unwrap();
        let start = s.oldest(TENANT).await.unwrap();
        assert_eq!(start.seq, Seq(0));

        let r = s
            .apply_retention(
                Retention {
                    max_events: Some(7),
                    max_age: None,
                },
                t(0),
            )
            .await
            .unwrap();
        let oldest = s.oldest(TENANT).await.unwrap();
        assert_eq!((r.removed, oldest.seq), (3, Seq(3)));
        match s.read(TENANT, Some(&start), 10, &Filter::default()).await {
            Err(StoreError::CursorExpired { oldest: told }) => assert_eq!(told, oldest),
            other => panic!("expected an expired cursor, got {other:?}"),
        }
        assert_eq!(
            s.read(TENANT, None, 100, &Filter::default())
                .await
                .unwrap()
                .events
                .first()
                .unwrap()
                .seq,
            Seq(4)
        );
        assert_eq!(
            s.read(TENANT, None, 100, &sources(&["a"]))
                .await
                .unwrap()
                .events
                .len(),
            7
        );

        // By age: events before now - 3.5s go.
        let r = s
            .apply_retention(
                Retention {
                    max_events: None,
                    max_age: Some(std::time::Duration::from_millis(3_500)),
                },
                t(9_000),
            )
            .await
            .unwrap();
        assert_eq!(
            (r.removed, s.oldest(TENANT).await.unwrap().seq),
            (2, Seq(5))
        );
        // Retention keeps the dedup index: an old page replayed cannot come back.
        assert_eq!(
            s.ingest(&a, page(vec![add("a", "1", 1000)], 2, None))
                .await
                .unwrap()
                .accepted,
            0
        );
        // Everything removed: the latest cursor stays valid.
        s.apply_retention(
            Retention {
                max_events: Some(0),
                max_age: None,
            },
            t(0),
        )
        .await
        .unwrap();
        assert_eq!(s.oldest(TENANT).await.unwrap().seq, Seq(10));
        assert_eq!(
            s.read(TENANT, None, 10, &Filter::default())
                .await
                .unwrap()
                .events
                .len(),
            0
        );
    });
}

#[test]
fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (a, key) = rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        let a = s
            .put_source(SourceRecord {
                provider: "egnyte".into(),
                config: serde_json::json!({"domain": "acme"}),
                credentials: serde_json::json!({"token": "secret"}),
                ..record(TENANT, "a")
            })
            .await
            .unwrap();
        s.ingest(
            &a,
            page(vec![add("a", "1", 1), add("a", "2", 2)], 3, Some(5)),
        )
        .await
        .unwrap();
        s.merge(TENANT, t(2)).await.unwrap();
        (a, s.stream_key(TENANT))
    });
    rt().block_on(async {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.stream_key(TENANT), key);
        assert_eq!(
            s.source(TENANT, &src("a")).unwrap().unwrap().source_ref(),
            a
        );
        assert_eq!(ids(&log_of(&s).await), ["1"]);
        assert_eq!(s.pending_len(&a).unwrap(), 1);
        assert_eq!(s.source_state(&a).unwrap().unwrap().checkpoint, cp(3));
        assert_eq!(s.sources().unwrap()[0].config["domain"], "acme");
        s.merge(TENANT, t(10)).await.unwrap();
        assert_eq!(ids(&log_of(&s).await), ["1", "2"]);
    });
}

#[test]
fn sources_and_subscriptions_are_kept_and_deleted() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let mut record = SourceRecord {
            provider: "jive".into(),
            paused: true,
            ..record(TENANT, "a")
        };
        let a = s.put_source(record.clone()).await.unwrap();
        assert_eq!(s.sources_generation(), 1);
        record.incarnation = a.incarnation;
        assert_eq!(s.source(TENANT, &src("a")).unwrap(), Some(record.clone()));
        assert_eq!(s.sources_of(TENANT).unwrap(), vec![record.clone()]);
        assert_eq!(s.sources().unwrap(), vec![record.clone()]);
        // Replacing the record keeps the incarnation, whatever the caller put there.
        record.paused = false;
        let again = s
            .put_source(SourceRecord {
                incarnation: 99,
                ..record.clone()
            })
            .await
            .unwrap();
        assert_eq!(again, a);
        assert_eq!(s.source(TENANT, &src("a")).unwrap(), Some(record));
        s.ingest(&a, page(vec![add("a", "1", 1)], 1, None))
            .await
            .unwrap();
        assert!(s.delete_source(TENANT, &src("a")).await.unwrap());
        assert!(!s.delete_source(TENANT, &src("a")).await.unwrap());
        assert!(!s.delete_source("nobody", &src("a")).await.unwrap());
        assert_eq!(s.sources_generation(), 5);
        assert_eq!(s.source(TENANT, &src("a")).unwrap(), None);
        assert_eq!(s.sources_of(TENANT).unwrap(), vec![]);
        assert_eq!(s.pending_len(&a).unwrap(), 0);
        assert!(s.source_state(&a).unwrap().is_none());
        // Re-created, the source starts afresh: old ids are no longer absorbed.
        let a = put(&s, "a").await;
        assert_eq!(
            s.ingest(&a, page(vec![add("a", "1", 1)], 1, None))
                .await
                .unwrap()
                .accepted,
            1
        );

        let sub = SubscriptionRecord {
            id: "sub1".into(),
            tenant: "t1".into(),
            url: "http://127.0.0.1:9/hook".into(),
            secrets: SigningSecrets {
                current: "whsec_a".into(),
                previous: None,
            },
            filter: Filter {
                types: vec![EventType::Delete],
                ..Filter::default()
            },
            mode: DeliveryMode::Full,
            max_batch: 50,
            description: Some("crm sync".into()),
            paused: false,
            disabled: Some(Disabled {
                at: t(3),
                reason: "410 Gone".into(),
            }),
            created_at: t(0),
        };
        s.put_subscription(sub.clone()).await.unwrap();
        assert_eq!(s.subscriptions().unwrap(), vec![sub]);
        let d = DeliveryState {
            delivered: Seq(4),
            attempts: 2,
            next_attempt_at: Some(t(9)),
            last_error: Some("503".into()),
            failing_since: Some(t(1)),
            batch: Some(PendingBatch {
                webhook_id: "msg_1".into(),
                first: Seq(5),
                last: Seq(7),
            }),
            last_attempt_at: Some(t(2)),
        };
        s.set_delivery("sub1", d.clone()).await.unwrap();
        assert_eq!(s.delivery("sub1").unwrap(), Some(d));
        // The newest attempts are kept, newest first, at most MAX_ATTEMPTS_KEPT.
        for k in 0..(MAX_ATTEMPTS_KEPT as u64 + 5) {
            let attempt = DeliveryAttempt {
                at: t(k as i64),
                webhook_id: format!("msg_{k}"),
                status: Some(503),
                latency_ms: k,
                error: None,
                first: Seq(5),
                last: Seq(7),
            };
            s.record_attempt("sub1", attempt).await.unwrap();
        }
        let kept = s.attempts("sub1").unwrap();
        assert_eq!(kept.len(), MAX_ATTEMPTS_KEPT);
        assert_eq!(kept[0].webhook_id, format!("msg_{}", MAX_ATTEMPTS_KEPT + 4));
        assert_eq!(kept[MAX_ATTEMPTS_KEPT - 1].webhook_id, "msg_5");
        assert!(s.delete_subscription("sub1").await.unwrap());
        assert_eq!(s.delivery("sub1").unwrap(), None);
        assert_eq!(s.attempts("sub1").unwrap(), vec![]);
        assert_eq!(s.subscription("sub1").unwrap(), None);
    });
}

#[test]
fn large_merges_commit_in_batches_without_losing_order() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let n = crate::merge::MERGE_BATCH as i64 * 2 + 17;
        for (k, name) in ["a", "b"].iter().enumerate() {
            let events = (0..n)
                .map(|i| add(name, &i.to_string(), i * 2 + k as i64))
                .collect();
            let source = put(&s, name).await;
            s.ingest(&source, page(events, 1, None)).await.unwrap();
        }
        let r = s.merge(TENANT, t(i64::from(u32::MAX))).await.unwrap();
        assert_eq!(
            (r.merged, r.late, r.last),
            (2 * n as u64, 0, Seq(2 * n as u64))
        );
        let log = log_of(&s).await;
        let expected: Vec<(String, String, bool)> = (0..n)
            .flat_map(|i| {
                [
                    ("a".into(), i.to_string(), false),
                    ("b".into(), i.to_string(), false),
                ]
            })
            .collect();
        assert_eq!(log, expected);
    });
}

/// Per-source event times: non-decreasing, as upstreams report them.
fn workload() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(0i64..50, 0..40), 1..5).prop_map(|sources| {
        sources
            .into_iter()
            .map(|steps| {
                steps
                    .into_iter()
                    .scan(0, |t, d| {
                        *t += d;
                        Some(*t)
                    })
                    .collect()
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Sources ingest in random page sizes; the merge runs between pages with the frontier at the
    /// smallest watermark (the next event each source will report). The log holds every event
    /// exactly once, sorted by (time, source), with none late; re-ingesting a page changes nothing.
    #[test]
    fn merge_with_honest_watermarks_is_sorted_and_loses_nothing(w in workload(), page_size in 1usize..9, order_seed: u64) {
        rt().block_on(async {
            let s = SledStore::temporary().unwrap();
            let names: Vec<String> = (0..w.len()).map(|i| format!("s{i}")).collect();
            let mut refs = Vec::new();
            for name in &names {
                refs.push(put(&s, name).await);
            }
            let mut next = vec![0usize; w.len()];
            let mut rng = fastrand::Rng::with_seed(order_seed);
            let horizon = 1_000_000;
            loop {
                let open: Vec<usize> = (0..w.len()).filter(|&i| next[i] < w[i].len()).collect();
                if open.is_empty() { break; }
                let i = open[rng.usize(..open.len())];
                let end = (next[i] + page_size).min(w[i].len());
                let events: Vec<Event> = (next[i]..end).map(|j| add(&names[i], &j.to_string(), w[i][j])).collect();
                let watermark = w[i].get(end).copied().unwrap_or(horizon);
                let p = page(events, end as u64, Some(watermark));
                let before = log_of(&s).await;
                s.ingest(&refs[i], p.clone()).await.unwrap();
                let again = s.ingest(&refs[i], p).await.unwrap();
                prop_assert_eq!(again.accepted, 0);
                prop_assert_eq!(log_of(&s).await, before);
                next[i] = end;
                let frontier = (0..w.len()).map(|k| w[k].get(next[k]).copied().unwrap_or(horizon)).min().unwrap();
                s.merge(TENANT, t(frontier)).await.unwrap();
            }
            s.merge(TENANT, t(horizon + 1)).await.unwrap();
            let got = log_of(&s).await;
            let mut expected: Vec<(i64, String, usize)> = w.iter().enumerate().flat_map(|(i, ts)| ts.iter().enumerate().map(move |(j, &t)| (t, format!("s{i}"), j))).collect();
            expected.sort();
            let expected: Vec<(String, String, bool)> = expected.into_iter().map(|(_, s, j)| (s, j.to_string(), false)).collect();
            prop_assert_eq!(got, expected);
            Ok(())
        })?;
    }

    /// With arbitrary frontiers (sources lagging, late events), the merge still loses nothing,
    /// keeps each source's order, and marks late exactly the events behind an earlier-merged one.
    #[test]
    fn merge_with_any_frontiers_keeps_source_order_and_marks_late(w in workload(), frontiers in prop::collection::vec(0i64..2_000, 1..6)) {
        rt().block_on(async {
            let s = SledStore::temporary().unwrap();
            let mut refs = Vec::new();
            for i in 0..w.len() {
                refs.push(put(&s, &format!("s{i}")).await);
            }
            for (k, f) in frontiers.iter().enumerate() {
                for (i, ts) in w.iter().enumerate() {
                    let chunk: Vec<Event> = ts.iter().enumerate().filter(|(j, _)| j % frontiers.len() == k).map(|(j, &t)| add(&format!("s{i}"), &j.to_string(), t)).collect();
                    s.ingest(&refs[i], page(chunk, k as u64, None)).await.unwrap();
                }
                s.merge(TENANT, t(*f)).await.unwrap();
            }
            s.merge(TENANT, t(1_000_000)).await.unwrap();
            let events: Vec<Event> = s.read(TENANT, None, 100_000, &Filter::default()).await.unwrap().events.iter().map(|e| e.event().unwrap()).collect();
            prop_assert_eq!(events.len(), w.iter().map(Vec::len).sum::<usize>());
            let mut max_time = None;
            for e in &events {
                let late = max_time.is_some_and(|m| e.occurred_at < m);
                prop_assert_eq!(e.late, late, "event {:?}", e.id);
                max_time = max_time.max(Some(e.occurred_at));
            }
            // Within each source: ingest order, which is each page in turn.
            for (i, ts) in w.iter().enumerate() {
                let name = format!("s{i}");
                let got: Vec<String> = events.iter().filter(|e| e.source.as_str() == name).map(|e| e.id.to_string()).collect();
                let rounds = frontiers.len();
                let want: Vec<String> = (0..rounds).flat_map(|k| (0..ts.len()).filter(move |j| j % rounds == k)).map(|j| j.to_string()).collect();
                prop_assert_eq!(got, want);
            }
            Ok(())
        })?;
    }

    /// Paging from any cursor with any page size returns every later event exactly once, in order.
    #[test]
    fn paging_from_any_cursor_returns_every_event_once_in_order(n in 0usize..120, start in 0u64..130, page_sizes in prop::collection::vec(1usize..25, 1..8), one_source in any::<bool>()) {
        rt().block_on(async {
            let s = SledStore::temporary().unwrap();
            let events: Vec<Event> = (0..n).map(|i| add(if i % 3 == 0 { "b" } else { "a" }, &i.to_string(), i as i64)).collect();
            let (in_a, in_b): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| e.source.as_str() == "a");
            let (a, b) = (put(&s, "a").await, put(&s, "b").await);
            s.ingest(&a, page(in_a, 1, None)).await.unwrap();
            s.ingest(&b, page(in_b, 1, None)).await.unwrap();
            s.merge(TENANT, t(1_000)).await.unwrap();
            let start = start.min(n as u64);
            let filter = if one_source { Filter { sources: vec![src("a")], ..Filter::default() } } else { Filter::default() };
            let mut cursor = Cursor::new(s.stream_key(TENANT), Seq(start));
            let mut seen = Vec::new();
            let mut unique = HashSet::new();
            for k in 0.. {
                let p = s.read(TENANT, Some(&cursor), page_sizes[k % page_sizes.len()], &filter).await.unwrap();
                prop_assert!(p.cursor >= cursor);
                for e in &p.events {
                    prop_assert!(unique.insert(e.seq));
                    seen.push(e.seq.get());
                }
                cursor = p.cursor;
                if p.remaining == 0 { break; }
            }
            let want: Vec<u64> = (start + 1..=n as u64).filter(|&q| !one_source || (q - 1) % 3 != 0).collect();
            prop_assert_eq!(seen, want);
            Ok(())
        })?;
    }
}

/// Many sources committing at once, as an engine with dozens of polls in flight does. sled's
/// `flush_async` futures were seen never to complete under this load (40 concurrent writers hung
/// the idle-sources benchmark), so writes flush on their blocking thread instead.
#[test]
fn many_concurrent_writers_all_commit() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..96 {
            let store = store.clone();
            tasks.spawn(async move {
                let name = format!("s{i}");
                let source = put(&store, &name).await;
                for n in 0..3i64 {
                    let e = add(&name, &format!("e{n}"), n);
                    store
                        .ingest(&source, page(vec![e], n.unsigned_abs(), Some(n)))
                        .await
                        .unwrap();
                }
            });
        }
        let all = async {
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(120), all)
            .await
            .expect("every writer commits");
        let merged = store.merge(TENANT, t(1_000)).await.unwrap();
        assert_eq!(merged.merged, 96 * 3);
    });
}
