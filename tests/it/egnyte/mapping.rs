//! Each Egnyte action, made in the simulator, and the exact unified event it becomes in the
//! store. A real payload (the notes' example page) and hand-made odd answers (unreadable events,
//! unmapped actions, quota headers) are mapped in `crates/egnyte/tests/http.rs`.

use super::harness::{Harness, assert_events, at, expected, ids, sim_config};
use tributary_core::{Actor, Event, EventId, EventType, Object, ObjectKind, Upstream};
use tributary_egnyte::{ApiVersion, Suppress};
use tributary_sim::egnyte::{ActionSource, ActorSpec, Operation};

struct Wanted {
    src: tributary_core::SourceId,
}

impl Wanted {
    fn event(
        &self,
        id: i64,
        event_type: EventType,
        object: Object,
        previous: Option<Object>,
        by: &ActorSpec,
        action: &str,
    ) -> Event {
        Event {
            id: EventId::new(id.to_string()).unwrap(),
            seq: None,
            source: self.src.clone(),
            provider: "egnyte".into(),
            event_type,
            occurred_at: chrono::DateTime::parse_from_rfc3339("2026-01-05T09:00:00.000Z")
                .unwrap()
                .into(),
            observed_at: chrono::DateTime::UNIX_EPOCH,
            object,
            previous,
            actor: Some(Actor {
                id: by.user.to_string(),
                name: None,
                email: None,
                via: Some(super::harness::via(by.source).into()),
            }),
            upstream: Upstream {
                id: id.to_string(),
                action: action.into(),
                raw: None,
            },
            late: false,
        }
    }
}

const FS: &str = "https://acme.egnyte.com/pubapi/v1/fs";

fn file(id: &str, path: &str, url: Option<&str>) -> Object {
    at(
        id.into(),
        ObjectKind::File,
        path,
        url.map(|u| format!("{FS}{u}")),
    )
}

fn folder(path: &str, url: Option<&str>) -> Object {
    at(
        format!("folder:{path}"),
        ObjectKind::Folder,
        path,
        url.map(|u| format!("{FS}{u}")),
    )
}

#[tokio::test]
async fn maps_every_action_to_its_exact_unified_event() {
    let h = Harness::start(sim_config(0)).await;
    let src = h.source("egnyte-mapping").await;
    let w = Wanted {
        src: src.id.clone(),
    };
    let s = &h.sim;
    let web = ActorSpec::web(1002);
    let desk = ActorSpec::desktop(1003);
    let mobile = ActorSpec::mobile(1004);
    let api = s.default_actor();
    let system = ActorSpec {
        user: 1004,
        source: ActionSource::System,
        client_id: None,
    };
    use EventType::*;
    let mut want = Vec::new();

    let id = s.create_folder("/Shared/Plans", &web).unwrap().event_id;
    want.push(w.event(
        id,
        Add,
        folder("/Shared/Plans", Some("/Shared/Plans")),
        None,
        &web,
        "create",
    ));
    let q1 = "/Shared/Plans/Q1 budget.xlsx";
    let o = s.create_file(q1, &desk).unwrap();
    let g1 = o.group_id.unwrap();
    let q1_url = Some("/Shared/Plans/Q1%20budget.xlsx");
    want.push(w.event(
        o.event_id,
        Add,
        file(&g1, q1, q1_url),
        None,
        &desk,
        "create",
    ));
    // page_size 2: the new version is on the next page, known from the object memory (one page
    // per poll) or from the earlier page of the same poll.
    let o = s.new_version(q1, &mobile).unwrap();
    assert_eq!(o.group_id.as_deref(), Some(g1.as_str()));
    want.push(w.event(
        o.event_id,
        Update,
        file(&g1, q1, q1_url),
        None,
        &mobile,
        "create",
    ));
    let b = "/Shared/Plans/Budget Q1.xlsx";
    let id = s.rename(q1, "Budget Q1.xlsx", &api).unwrap().event_id;
    let b_url = Some("/Shared/Plans/Budget%20Q1.xlsx");
    want.push(w.event(
        id,
        Rename,
        file(&g1, b, b_url),
        Some(file(&g1, q1, None)),
        &api,
        "rename",
    ));
    let id = s.create_folder("/Shared/Archive", &web).unwrap().event_id;
    want.push(w.event(
        id,
        Add,
        folder("/Shared/Archive", Some("/Shared/Archive")),
        None,
        &web,
        "create",
    ));
    let ab = "/Shared/Archive/Budget Q1.xlsx";
    let ab_url = Some("/Shared/Archive/Budget%20Q1.xlsx");
    let id = s.move_to(b, "/Shared/Archive", &desk).unwrap().event_id;
    want.push(w.event(
        id,
        Move,
        file(&g1, ab, ab_url),
        Some(file(&g1, b, None)),
        &desk,
        "move",
    ));
    let cp = "/Shared/Plans/Copy of budget.xlsx";
    let cp_url = Some("/Shared/Plans/Copy%20of%20budget.xlsx");
    let o = s.copy(ab, cp, &web).unwrap();
    let g2 = o.group_id.unwrap();
    assert_ne!(g1, g2);
    want.push(w.event(
        o.event_id,
        Copy,
        file(&g2, cp, cp_url),
        Some(file(&g1, ab, None)),
        &web,
        "copy",
    ));
    let o = s.create_note(ab, &mobile).unwrap();
    let n = o.note_id.unwrap();
    let note = |url: bool| Object {
        parent: Some(ab.into()),
        url: url.then(|| format!("https://acme.egnyte.com/pubapi/v1/notes/{n}")),
        ..Object::new(n.clone(), ObjectKind::Note, n.clone())
    };
    want.push(w.event(o.event_id, Add, note(true), None, &mobile, "create"));
    let id = s.delete_note(&n, &web).unwrap().event_id;
    want.push(w.event(id, Delete, note(false), None, &web, "delete"));
    let id = s.delete(cp, &desk).unwrap().event_id;
    want.push(w.event(id, Delete, file(&g2, cp, None), None, &desk, "delete"));
    let id = s.restore(cp, &web).unwrap().event_id;
    want.push(w.event(id, Restore, file(&g2, cp, cp_url), None, &web, "restore"));
    // Restored: its group id is known again.
    let id = s.new_version(cp, &web).unwrap().event_id;
    want.push(w.event(id, Update, file(&g2, cp, cp_url), None, &web, "create"));
    // A new file and its new version in the same page.
    let fresh = "/Shared/Plans/fresh.txt";
    let fresh_url = Some("/Shared/Plans/fresh.txt");
    let o = s.create_file(fresh, &api).unwrap();
    let g3 = o.group_id.unwrap();
    want.push(w.event(
        o.event_id,
        Add,
        file(&g3, fresh, fresh_url),
        None,
        &api,
        "create",
    ));
    let id = s.new_version(fresh, &api).unwrap().event_id;
    want.push(w.event(
        id,
        Update,
        file(&g3, fresh, fresh_url),
        None,
        &api,
        "create",
    ));
    // A delete forgets the group id: a restore that Egnyte reports as `create` is an `add`.
    let id = s.delete(fresh, &web).unwrap().event_id;
    want.push(w.event(id, Delete, file(&g3, fresh, None), None, &web, "delete"));
    s.set_emit_restore(false);
    let id = s.restore(fresh, &web).unwrap().event_id;
    want.push(w.event(id, Add, file(&g3, fresh, fresh_url), None, &web, "create"));
    // Folders: rename (a new id), copy (previous = the source), delete.
    let oa = "/Shared/Old Archive";
    let id = s
        .rename("/Shared/Archive", "Old Archive", &web)
        .unwrap()
        .event_id;
    want.push(w.event(
        id,
        Rename,
        folder(oa, Some("/Shared/Old%20Archive")),
        Some(folder("/Shared/Archive", None)),
        &web,
        "rename",
    ));
    let id = s
        .copy("/Shared/Plans", "/Shared/Plans 2", &mobile)
        .unwrap()
        .event_id;
    want.push(w.event(
        id,
        Copy,
        folder("/Shared/Plans 2", Some("/Shared/Plans%202")),
        Some(folder("/Shared/Plans", None)),
        &mobile,
        "copy",
    ));
    let id = s.delete(oa, &system).unwrap().event_id;
    want.push(w.event(id, Delete, folder(oa, None), None, &system, "delete"));
    assert_eq!(want.len(), 19);

    let mut config = h.config();
    config.suppress = Suppress::None;
    config.page_size = 2;
    config.max_pages_per_poll = 1;
    let p = h.provider(&src, config.clone());
    assert_eq!(h.drain(&src, &p, 20).await, 10);
    let got = h.unified(&src).await;
    assert_events(&got, &want);
    // The ground-truth expectation agrees with the hand-written one.
    let log = h.sim.log();
    assert_events(&got, &expected(&src, log.iter().map(|e| (0, e))));
    assert!(p.stats().unmapped.is_empty());

    // The same 10 pages in one poll map the same way.
    let one = h.source("egnyte-mapping-one-poll").await;
    config.max_pages_per_poll = 10;
    let p = h.provider(&one, config);
    assert_eq!(h.drain(&one, &p, 1).await, 1);
    assert_eq!(p.stats().calls, 1 + 10);
    let want: Vec<_> = want
        .into_iter()
        .map(|e| Event {
            source: one.id.clone(),
            ..e
        })
        .collect();
    assert_events(&h.unified(&one).await, &want);
}

#[tokio::test]
async fn permission_changes_pass_as_counted_unmapped_updates_with_their_raw_payload_on_v2_only() {
    let h = Harness::start(sim_config(0)).await;
    let web = ActorSpec::web(1002);
    h.sim.create_folder("/Shared/P", &web).unwrap();
    let change = Operation::ChangePermission {
        path: "/Shared/P".into(),
        subject_user: 1003,
        privilege: "READ".into(),
    };
    let id = h.sim.apply(change, &web).unwrap().event_id;
    h.sim.create_file("/Shared/P/x.txt", &web).unwrap();
    let log = h.sim.log();

    let src = h.source("egnyte-permissions-v2").await;
    let mut config = h.config();
    config.suppress = Suppress::None;
    let p = h.provider(&src, config.clone());
    h.drain(&src, &p, 3).await;
    let got = h.unified(&src).await;
    assert_eq!(ids(&got), ["1", "2", "3"]);
    let raw = serde_json::to_value(&log[1].wire).unwrap();
    assert!(raw.get("eventTypeSpecificAttributes").is_some());
    let wanted = Wanted {
        src: src.id.clone(),
    };
    let mut want = wanted.event(
        id,
        EventType::Update,
        folder("/Shared/P", Some("/Shared/P")),
        None,
        &web,
        "permission_change",
    );
    want.upstream.raw = Some(raw);
    assert_eq!(got[1], want);
    assert_eq!(
        p.stats().unmapped.into_iter().collect::<Vec<_>>(),
        [("permission_change/permission_change".to_owned(), 1)]
    );
    // The file after it is still a first sight (`add`): the unmapped event changed no memory.
    assert_eq!(got[2].event_type, EventType::Add);

    let src = h.source("egnyte-permissions-v1").await;
    config.api_version = ApiVersion::V1;
    let p = h.provider(&src, config);
    h.drain(&src, &p, 3).await;
    assert_eq!(ids(&h.unified(&src).await), ["1", "3"]);
    assert!(p.stats().unmapped.is_empty());
}
