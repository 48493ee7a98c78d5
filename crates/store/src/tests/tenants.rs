//! Tenants apart: each has its own log and positions, and sources named per tenant are stored
//! per incarnation.

use super::*;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// `(source, id, seq)` of every event one paged read of the tenant's log returns, checking
/// `remaining` against what the page leaves.
async fn numbered(s: &SledStore, tenant: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    let mut cursor = None;
    let total = s.latest(tenant).await.unwrap().seq.get();
    loop {
        let p = s
            .read(tenant, cursor.as_ref(), 2, &Filter::default())
            .await
            .unwrap();
        for e in &p.events {
            let event = e.event().unwrap();
            assert_eq!(event.seq, Some(e.seq));
            out.push((event.source.to_string(), event.id.to_string(), e.seq.get()));
        }
        assert_eq!(p.remaining, total - p.cursor.seq.get());
        cursor = Some(p.cursor);
        if p.remaining == 0 {
            return out;
        }
    }
}

fn expect(entries: &[(&str, &str)]) -> Vec<(String, String, u64)> {
    entries
        .iter()
        .zip(1..)
        .map(|(&(source, id), seq)| (source.into(), id.into(), seq))
        .collect()
}

#[test]
fn tenants_have_their_own_logs_and_sequences() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let acme = put_in(&s, "acme", "egnyte-main").await;
        let globex = put_in(&s, "globex", "egnyte-main").await;
        assert_ne!(acme.incarnation, globex.incarnation);
        let jive = put_in(&s, "globex", "jive-x").await;
        // The same event ids in both tenants' sources: different events.
        let events = |ms: &[i64]| -> Vec<Event> {
            ms.iter()
                .enumerate()
                .map(|(i, &ms)| add("egnyte-main", &format!("e{i}"), ms))
                .collect()
        };
        let r = s.ingest(&acme, page(events(&[1, 3, 5]), 1, None)).await;
        assert_eq!(r.unwrap().accepted, 3);
        let r = s.ingest(&globex, page(events(&[2, 4]), 1, None)).await;
        assert_eq!(r.unwrap().accepted, 2);
        s.ingest(&jive, page(vec![add("jive-x", "j0", 3)], 1, None))
            .await
            .unwrap();

        // Merging acme touches nothing of globex's.
        let r = s.merge("acme", t(100)).await.unwrap();
        assert_eq!((r.merged, r.late, r.last), (3, 0, Seq(3)));
        assert_eq!(s.pending_len(&globex).unwrap(), 2);
        assert_eq!(s.pending_len(&jive).unwrap(), 1);
        assert_eq!(s.latest("globex").await.unwrap().seq, Seq(0));
        assert_eq!(numbered(&s, "globex").await, vec![]);
        let egnyte = |ids: &[&'static str]| -> Vec<(&'static str, &'static str)> {
            ids.iter().map(|id| ("egnyte-main", *id)).collect()
        };
        assert_eq!(
            numbered(&s, "acme").await,
            expect(&egnyte(&["e0", "e1", "e2"]))
        );

        // Several tenants in one merge: a report each, in the order asked.
        let reports = s
            .merge_tenants(vec![
                ("globex".into(), t(100)),
                ("acme".into(), t(100)),
                ("nobody".into(), t(100)),
            ])
            .await
            .unwrap();
        let reports: Vec<(&str, u64, Seq)> = reports
            .iter()
            .map(|(tenant, r)| (tenant.as_str(), r.merged, r.last))
            .collect();
        assert_eq!(
            reports,
            [
                ("globex", 3, Seq(3)),
                ("acme", 0, Seq(3)),
                ("nobody", 0, Seq(0))
            ]
        );
        assert_eq!(
            numbered(&s, "globex").await,
            expect(&[
                ("egnyte-main", "e0"),
                ("jive-x", "j0"),
                ("egnyte-main", "e1")
            ])
        );
        assert_eq!(
            numbered(&s, "acme").await,
            expect(&egnyte(&["e0", "e1", "e2"]))
        );

        // A source filter names the reader's own source; another tenant's id is unknown.
        let only = |id: &str| Filter {
            sources: vec![src(id)],
            ..Filter::default()
        };
        let p = s
            .read("globex", None, 1, &only("egnyte-main"))
            .await
            .unwrap();
        assert_eq!((p.events.len(), p.cursor.seq, p.remaining), (1, Seq(1), 1));
        let p = s
            .read("acme", None, 10, &only("egnyte-main"))
            .await
            .unwrap();
        assert_eq!(p.events.len(), 3);
        assert!(matches!(
            s.read("acme", None, 10, &only("jive-x")).await,
            Err(StoreError::UnknownSource { .. })
        ));

        // Streams have keys of their own; a tenant that never had a source reads an empty log.
        assert_ne!(s.stream_key("acme"), s.stream_key("globex"));
        let p = s
            .read("nobody", None, 10, &Filter::default())
            .await
            .unwrap();
        assert_eq!((p.events.len(), p.cursor.seq, p.remaining), (0, Seq(0), 0));
        assert_eq!(p.cursor.epoch, s.stream_key("nobody"));
        assert_eq!(s.oldest("nobody").await.unwrap().seq, Seq(0));
        assert!(matches!(
            s.read("nobody", None, 10, &only("egnyte-main")).await,
            Err(StoreError::UnknownSource { .. })
        ));

        // Retention counts each tenant's log apart.
        let r = s
            .apply_retention(
                Retention {
                    max_events: Some(2),
                    max_age: None,
                },
                t(0),
            )
            .await
            .unwrap();
        assert_eq!(r.removed, 2);
        assert_eq!(s.oldest("acme").await.unwrap().seq, Seq(1));
        assert_eq!(s.oldest("globex").await.unwrap().seq, Seq(1));
        let sources_of = |tenant| -> Vec<String> {
            s.sources_of(tenant)
                .unwrap()
                .into_iter()
                .map(|r| r.id.to_string())
                .collect()
        };
        assert_eq!(sources_of("acme"), ["egnyte-main"]);
        assert_eq!(sources_of("globex"), ["egnyte-main", "jive-x"]);
        assert_eq!(s.sources().unwrap().len(), 3);
    });
}

#[test]
fn a_deleted_and_recreated_source_starts_afresh() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let old = put(&s, "a").await;
        let b = put(&s, "b").await;
        let mut p = page(vec![add("a", "1", 1), add("a", "2", 2)], 7, Some(5));
        p.objects = vec![ObjectChange::set("folder", serde_json::json!("/x"))];
        p.gaps.push(Gap {
            detected_at: t(3),
            after: "0".into(),
            resumed_at: "1".into(),
            reason: "expired".into(),
        });
        s.ingest(&old, p).await.unwrap();
        s.ingest(&b, page(vec![add("b", "3", 3)], 1, None))
            .await
            .unwrap();
        s.merge(TENANT, t(100)).await.unwrap();
        // Pending when deleted: dropped with the incarnation.
        s.ingest(&old, page(vec![add("a", "9", 9)], 8, None))
            .await
            .unwrap();
        assert!(s.delete_source(TENANT, &src("a")).await.unwrap());

        let new = put(&s, "a").await;
        assert_ne!(new.incarnation, old.incarnation);
        assert!(new.incarnation > b.incarnation, "never reused");
        assert_eq!(s.source_state(&new).unwrap(), None);
        assert_eq!(s.gaps(&new).unwrap(), vec![]);
        assert_eq!(s.pending_len(&new).unwrap(), 0);
        assert_eq!(s.object_state(&new).get("folder").unwrap(), None);
        assert_ne!(s.public_source_number(&new), s.public_source_number(&old));
        // The old incarnation is refused, the new one takes the same event ids again.
        assert!(matches!(
            s.ingest(&old, page(vec![add("a", "4", 4)], 9, None)).await,
            Err(StoreError::UnknownSource { source_id }) if source_id == "a"
        ));
        let r = s
            .ingest(
                &new,
                page(vec![add("a", "1", 10), add("a", "5", 11)], 1, None),
            )
            .await
            .unwrap();
        assert_eq!((r.accepted, r.duplicates), (2, 0));
        let merged = s.merge(TENANT, t(100)).await.unwrap();
        assert_eq!((merged.merged, merged.last), (2, Seq(5)));

        // The tenant's log keeps the old incarnation's events; a read by the id shows the new
        // one's only, and counts only those.
        assert_eq!(ids(&log_of(&s).await), ["1", "2", "3", "1", "5"]);
        let by_a = Filter {
            sources: vec![src("a")],
            ..Filter::default()
        };
        let p = s.read(TENANT, None, 10, &by_a).await.unwrap();
        let seqs: Vec<u64> = p.events.iter().map(|e| e.seq.get()).collect();
        assert_eq!((seqs, p.remaining), (vec![4, 5], 0));
        let p = s.read(TENANT, None, 1, &by_a).await.unwrap();
        assert_eq!((p.cursor.seq, p.remaining), (Seq(4), 1));

        // Another tenant with a source of the same id sees nothing of this one's.
        let other = put_in(&s, "other", "a").await;
        assert_eq!(s.source_state(&other).unwrap(), None);
        assert_eq!(s.object_state(&other).get("folder").unwrap(), None);
        let r = s
            .ingest(&other, page(vec![add("a", "1", 1)], 1, None))
            .await
            .unwrap();
        assert_eq!(r.accepted, 1);
        assert_eq!(
            s.read("other", None, 10, &by_a).await.unwrap().events,
            vec![]
        );
        s.merge("other", t(100)).await.unwrap();
        assert_eq!(ids(&log_in(&s, "other").await), ["1"]);
        assert_eq!(ids(&log_of(&s).await), ["1", "2", "3", "1", "5"]);
    });
}

/// One step of a multi-tenant workload. Indexes are taken modulo the tenants in play and the
/// pool of source ids (shared by the tenants, so their ids collide).
#[derive(Debug, Clone)]
enum Step {
    /// Ingest events into the tenant's source (creating it when it is not there): each event
    /// this many milliseconds after the previous one of the source.
    Ingest {
        tenant: usize,
        source: usize,
        steps: Vec<i64>,
    },
    Delete {
        tenant: usize,
        source: usize,
    },
    Merge {
        tenant: usize,
    },
    /// Move the clock new pages start from: sources' times interleave and, after a merge,
    /// sometimes fall behind it (late).
    Tick(i64),
}

const POOL: [&str; 3] = ["s0", "s1", "s2"];

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => (0..4usize, 0..POOL.len(), prop::collection::vec(0i64..3, 1..5))
            .prop_map(|(tenant, source, steps)| Step::Ingest { tenant, source, steps }),
        1 => (0..4usize, 0..POOL.len()).prop_map(|(tenant, source)| Step::Delete { tenant, source }),
        2 => (0..4usize).prop_map(|tenant| Step::Merge { tenant }),
        2 => (0i64..6).prop_map(Step::Tick),
    ];
    prop::collection::vec(step, 1..32)
}

/// A live source of the model.
struct Live {
    source: SourceRef,
    /// The time of its last event (the next is not earlier).
    last: i64,
    /// Its unmerged events: `(time, id)`.
    pending: Vec<(i64, String)>,
}

/// What the store should hold for one tenant.
#[derive(Default)]
struct Model {
    /// Live sources by pool index.
    live: HashMap<usize, Live>,
    /// `(source, event id, late, incarnation)` in log order.
    log: Vec<(String, String, bool, u64)>,
    last_time: Option<i64>,
}

impl Model {
    /// The merge of everything pending: by (time, source id), each source in its order.
    fn merge(&mut self) -> MergeReport {
        let mut pending: Vec<(i64, String, u64, String)> = Vec::new();
        for Live {
            source,
            pending: events,
            ..
        } in self.live.values_mut()
        {
            for (ms, id) in events.drain(..) {
                pending.push((ms, source.id.to_string(), source.incarnation, id));
            }
        }
        // Stable: one source's events keep their order.
        pending.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
        let mut report = MergeReport::default();
        for (ms, source, inc, id) in pending {
            let late = self.last_time.is_some_and(|t| ms < t);
            self.last_time = Some(self.last_time.map_or(ms, |t| t.max(ms)));
            self.log.push((source, id, late, inc));
            report.merged += 1;
            report.late += u64::from(late);
        }
        report.last = Seq(self.log.len() as u64);
        report
    }
}

/// Reads the tenant's log in pages of the given sizes (cycled), checking every page's
/// positions and `remaining` against the model; answers `(source, id, late, incarnation)`.
async fn paged(
    s: &SledStore,
    tenant: &str,
    filter: &Filter,
    model: &[(String, String, bool, u64)],
    wanted: Option<u64>,
    sizes: &[usize],
) -> Vec<(String, String, bool, u64)> {
    let mut got = Vec::new();
    let mut cursor = None;
    for k in 0.. {
        let p = s
            .read(tenant, cursor.as_ref(), sizes[k % sizes.len()], filter)
            .await
            .unwrap();
        for e in &p.events {
            let event = e.event().unwrap();
            assert_eq!(event.seq, Some(e.seq));
            let entry = &model[e.seq.get() as usize - 1];
            let seen = (event.source.to_string(), event.id.to_string(), event.late);
            assert_eq!(seen, (entry.0.clone(), entry.1.clone(), entry.2));
            got.push(entry.clone());
        }
        let left = model[p.cursor.seq.get() as usize..]
            .iter()
            .filter(|e| wanted.is_none_or(|inc| e.3 == inc))
            .count() as u64;
        assert_eq!(p.remaining, left, "{tenant} after {}", p.cursor.seq);
        cursor = Some(p.cursor);
        if p.remaining == 0 {
            assert_eq!(p.cursor.seq.get(), model.len() as u64);
            return got;
        }
    }
    unreachable!()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Tenants whose sources share ids ingest, merge, delete and re-create at random. Each
    /// tenant's log is exactly its own sources' events (deleted incarnations' merged ones
    /// included, their unmerged ones dropped), in merge order, numbered 1, 2, 3, …, `late`
    /// where behind the tenant's own merged time; a read by a source gives its current
    /// incarnation's only; `remaining` is exact after every page.
    #[test]
    fn each_tenant_reads_exactly_its_own_events_in_merge_order(
        tenants in 2usize..=4,
        steps in steps(),
        sizes in prop::collection::vec(1usize..6, 1..4),
    ) {
        rt().block_on(async {
            let s = SledStore::temporary().unwrap();
            let names: Vec<String> = (0..tenants).map(|i| format!("tenant-{i}")).collect();
            let mut models: Vec<Model> = (0..tenants).map(|_| Model::default()).collect();
            let mut incarnations = HashSet::new();
            let (mut clock, mut next_id) = (0i64, 0u64);
            for step in steps {
                match step {
                    Step::Ingest { tenant, source, steps } => {
                        let (tenant, name) = (tenant % tenants, POOL[source]);
                        let model = &mut models[tenant];
                        let live = match model.live.entry(source) {
                            Entry::Occupied(live) => live.into_mut(),
                            Entry::Vacant(vacant) => {
                                let r = put_in(&s, &names[tenant], name).await;
                                prop_assert!(incarnations.insert(r.incarnation), "incarnation reused");
                                vacant.insert(Live { source: r, last: clock, pending: Vec::new() })
                            }
                        };
                        let mut at = clock.max(live.last);
                        let mut events = Vec::new();
                        for d in steps {
                            at += d;
                            next_id += 1;
                            let id = format!("e{next_id}");
                            events.push(add(name, &id, at));
                            live.pending.push((at, id));
                        }
                        live.last = at;
                        let n = events.len() as u64;
                        let report = s.ingest(&live.source, page(events, next_id, None)).await.unwrap();
                        prop_assert_eq!(report.accepted, n);
                    }
                    Step::Delete { tenant, source } => {
                        let tenant = tenant % tenants;
                        let existed = models[tenant].live.remove(&source).is_some();
                        let deleted = s.delete_source(&names[tenant], &src(POOL[source])).await.unwrap();
                        prop_assert_eq!(deleted, existed);
                    }
                    Step::Merge { tenant } => {
                        let tenant = tenant % tenants;
                        let report = s.merge(&names[tenant], time::max()).await.unwrap();
                        prop_assert_eq!(report, models[tenant].merge());
                    }
                    Step::Tick(d) => clock += d,
                }
            }
            let everyone = names.iter().map(|n| (n.clone(), time::max())).collect();
            let reports = s.merge_tenants(everyone).await.unwrap();
            for ((name, report), model) in reports.into_iter().zip(&mut models) {
                prop_assert_eq!(report, model.merge(), "{}", name);
            }

            for (name, model) in names.iter().zip(&models) {
                let all = paged(&s, name, &Filter::default(), &model.log, None, &sizes).await;
                prop_assert_eq!(&all, &model.log);
                for Live { source: r, .. } in model.live.values() {
                    let filter = Filter { sources: vec![r.id.clone()], ..Filter::default() };
                    let got = paged(&s, name, &filter, &model.log, Some(r.incarnation), &sizes).await;
                    let want: Vec<_> = model.log.iter().filter(|e| e.3 == r.incarnation).cloned().collect();
                    prop_assert_eq!(got, want);
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn the_raw_baseline_reads_exactly_the_tenants_log_entries() {
    rt().block_on(async {
        let s = SledStore::temporary().unwrap();
        let acme = put_in(&s, "acme", "egnyte-main").await;
        let globex = put_in(&s, "globex", "egnyte-main").await;
        let events = |ms: &[i64]| -> Vec<Event> {
            ms.iter()
                .enumerate()
                .map(|(i, &ms)| add("egnyte-main", &format!("e{i}"), ms))
                .collect()
        };
        s.ingest(&acme, page(events(&[1, 3, 5, 7]), 1, None))
            .await
            .unwrap();
        s.ingest(&globex, page(events(&[2, 4]), 1, None))
            .await
            .unwrap();
        s.merge_tenants(vec![("acme".into(), t(100)), ("globex".into(), t(100))])
            .await
            .unwrap();

        let scan = s.raw_log_scan("acme").unwrap();
        assert_eq!(scan.entries, 4);
        assert_eq!(s.raw_log_scan("globex").unwrap().entries, 2);
        assert_eq!(s.raw_log_scan("nobody").unwrap(), RawRead::default());
        // Every stored byte of acme's entries: each one's JSON and its 16-byte header.
        let read = s.read("acme", None, 10, &Filter::default()).await.unwrap();
        let json: u64 = read.events.iter().map(|e| e.json().len() as u64).sum();
        assert_eq!(scan.bytes, json + 4 * 16);

        // Pages of 2 after positions 0, 2 and 3 (acme's log is 1..=4): 2 + 2 + 1 entries, none
        // of globex's.
        let pages = s.raw_log_pages("acme", &[0, 2, 3], 2).unwrap();
        assert_eq!(pages.entries, 5);
        assert_eq!(s.raw_log_pages("globex", &[0, 5], 10).unwrap().entries, 2);
    });
}
