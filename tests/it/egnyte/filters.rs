//! The list filters end to end: which events each `suppress` mode (app, user, none) and `type`
//! filter lets into the store. The exact query each sends (`type` pipe-joined, `folder`,
//! `suppress`) is checked once, in `crates/egnyte/tests/http.rs` (`sends_the_filters_exactly`).

use super::harness::{Harness, OWN_CLIENT, assert_events, expected, ids, sim_config, visible};
use tributary_core::EventType;
use tributary_egnyte::{ApiVersion, Suppress};
use tributary_sim::egnyte::ActorSpec;

// Suppress.

#[tokio::test]
async fn suppress_hides_our_app_or_only_our_app_as_our_user() {
    let h = Harness::start(sim_config(0)).await;
    let me = h.sim.default_actor();
    assert_eq!(me, ActorSpec::api(1001, OWN_CLIENT));
    h.sim
        .create_folder("/Shared/S", &ActorSpec::web(1002))
        .unwrap(); // 1
    h.sim.create_file("/Shared/S/mine.txt", &me).unwrap(); // 2: our app, our user
    h.sim
        .create_file("/Shared/S/colleague.txt", &ActorSpec::api(1002, OWN_CLIENT))
        .unwrap(); // 3: our app, another user
    h.sim
        .create_file(
            "/Shared/S/partner.txt",
            &ActorSpec::api(1001, "partner-sync"),
        )
        .unwrap(); // 4: another app, our user
    h.sim
        .new_version("/Shared/S/mine.txt", &ActorSpec::desktop(1003))
        .unwrap(); // 5
    let log = h.sim.log();

    for (mode, shown, fifth) in [
        (Suppress::App, vec!["1", "4", "5"], EventType::Add),
        (Suppress::User, vec!["1", "3", "4", "5"], EventType::Add),
        (
            Suppress::None,
            vec!["1", "2", "3", "4", "5"],
            EventType::Update,
        ),
    ] {
        let src = h
            .source(&format!("egnyte-suppress-{mode:?}").to_lowercase())
            .await;
        let mut config = h.config();
        config.suppress = mode;
        let p = h.provider(&src, config);
        h.drain(&src, &p, 3).await;
        let got = h.unified(&src).await;
        assert_eq!(ids(&got), shown, "{mode:?}");
        // A new version of a file whose creation was hidden is the first sight of it: `add`.
        assert_eq!(got.last().unwrap().event_type, fifth, "{mode:?}");
        let want = expected(
            &src,
            log.iter().filter(|e| visible(e, mode)).map(|e| (0, e)),
        );
        assert_events(&got, &want);
    }
}

#[tokio::test]
async fn a_type_filter_lets_only_those_types_into_the_store_on_v1_and_v2() {
    let h = Harness::start(sim_config(0)).await;
    let web = ActorSpec::web(1002);
    h.sim.create_folder("/Shared/T", &web).unwrap();
    h.sim.create_file("/Shared/T/a.txt", &web).unwrap();
    let note = h
        .sim
        .create_note("/Shared/T/a.txt", &web)
        .unwrap()
        .note_id
        .unwrap();
    h.sim.delete_note(&note, &web).unwrap();
    h.sim.new_version("/Shared/T/a.txt", &web).unwrap();
    let log = h.sim.log();

    for (name, types, version, shown) in [
        ("notes", vec!["note"], ApiVersion::V2, vec!["3", "4"]),
        (
            "both",
            vec!["file_system", "note"],
            ApiVersion::V2,
            vec!["1", "2", "3", "4", "5"],
        ),
        (
            "v1-files",
            vec!["file_system"],
            ApiVersion::V1,
            vec!["1", "2", "5"],
        ),
    ] {
        let src = h.source(&format!("egnyte-types-{name}")).await;
        let mut config = h.config();
        config.suppress = Suppress::None;
        config.types = types.iter().map(|t| (*t).to_owned()).collect();
        config.api_version = version;
        let p = h.provider(&src, config);
        h.drain(&src, &p, 3).await;
        let got = h.unified(&src).await;
        assert_eq!(ids(&got), shown, "{name}");
        let want = expected(
            &src,
            log.iter()
                .filter(|e| types.contains(&e.wire.kind.as_str()))
                .map(|e| (0, e)),
        );
        assert_events(&got, &want);
    }
}
