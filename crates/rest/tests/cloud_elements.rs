//! Cloud Elements / SAP Open Connectors polling configurations, pasted as they are
//! (`cloud-elements/devportal` examples: `event.poller.configuration` with `url`, `idField`,
//! `datesConfiguration`, `${gmtDate:…}`), build a source; `updatedAtField` is read like
//! `updatedDateField`; and one such source polls a server that answers a bare array.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tributary_core::{EventType, ManualClock, MemoryObjectState, NoCredentialWriter, SourceId};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::{
    BuildContext, BuildError, BuiltProvider, ProviderFactory, SourceSpec,
};
use tributary_rest::RestFactory;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn build_with(config: Value, clock: Arc<ManualClock>) -> Result<BuiltProvider, BuildError> {
    let id = SourceId::new("ce").unwrap();
    RestFactory.build(
        SourceSpec { id: &id, config },
        BuildContext {
            outbound: Outbound::new(AddressPolicy::loopback()).unwrap(),
            clock,
            objects: Arc::new(MemoryObjectState::new()),
            credentials: Arc::new(NoCredentialWriter),
        },
    )
}

fn build(config: Value) -> Result<BuiltProvider, BuildError> {
    build_with(config, Arc::new(ManualClock::new(t0())))
}

/// The `event.poller.configuration` values of the devportal's examples (CRM accounts, a
/// Salesforce-style one with `createdCheckTolerance`, Twilio's RFC 822 dates, a helpdesk with
/// `XXX` offsets).
fn pasted() -> Vec<Value> {
    vec![
        json!({"accounts": {
            "url": "/hubs/crm/accounts?where=Comp_UpdatedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField": "key",
            "datesConfiguration": {
                "updatedDateField": "Comp_UpdatedDate",
                "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
                "updatedDateTimezone": "GMT",
                "createdDateField": "Comp_CreatedDate",
                "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
                "createdDateTimezone": "GMT"
            }
        }}),
        json!({"accounts": {
            "url": "/accounts?where=LastModifiedDate>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'}'",
            "idField": "Id",
            "datesConfiguration": {
                "updatedDateField": "LastModifiedDate",
                "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
                "updatedDateTimezone": "GMT",
                "createdDateField": "CreatedDate",
                "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ"
            },
            "createdCheckTolerance": 10
        }}),
        json!({"accounts": {
            "url": "/hubs/messaging/accounts?where=date_updated='${gmtDate:EEE, dd MMM yyyy HH:mm:ss Z}'",
            "idField": "sid",
            "datesConfiguration": {
                "updatedDateField": "date_updated",
                "updatedDateFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
                "updatedDateTimezone": "GMT",
                "createdDateField": "date_created",
                "createdDateFormat": "EEE, dd MMM yyyy HH:mm:ss Z",
                "createdDateTimezone": "GMT"
            }
        }}),
        json!({"incidents": {
            "url": "/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField": "id",
            "datesConfiguration": {
                "updatedDateField": "updated_at",
                "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ssXXX",
                "createdDateField": "created_at",
                "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ssXXX"
            }
        }}),
    ]
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&RestFactory.config_schema()).unwrap()
}

#[test]
fn the_config_schema_is_json_schema_2020_12() {
    assert!(jsonschema::draft202012::meta::is_valid(
        &RestFactory.config_schema()
    ));
}

#[test]
fn pasted_cloud_elements_configurations_build_a_source() {
    let schema = validator();
    for poller in pasted() {
        let config = json!({
            "base_url": "https://api.cloud-elements.com/elements/api-v2",
            "credentials": {"kind": "api_key", "in": "header", "name": "Authorization",
                "value": "User abc, Organization def, Element ghi"},
            "event.poller.configuration": poller
        });
        let errors: Vec<String> = schema.iter_errors(&config).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let built = build(config.clone()).unwrap_or_else(|e| panic!("{poller}: {e}"));
        assert_eq!(
            built.target,
            "https://api.cloud-elements.com/elements/api-v2"
        );
        assert_eq!(built.provider.name(), "rest");
        // The instance configuration often holds it as a JSON string: read the same.
        let mut as_string = config;
        as_string["event.poller.configuration"] = json!(poller.to_string());
        assert!(schema.is_valid(&as_string));
        build(as_string).unwrap();
    }
}

#[test]
fn both_spellings_of_the_date_fields_work_and_a_missing_one_is_named() {
    for spelling in ["updatedDateField", "updatedAtField"] {
        let config = json!({"base_url": "https://api.example.com", "resources": {"contacts": {
            "url": "/contacts?since=${gmtDate:epoch_millis}", "idField": "id",
            "datesConfiguration": {spelling: "updated", "createdAtField": "created"}
        }}});
        assert!(validator().is_valid(&config), "{spelling}");
        build(config).unwrap_or_else(|e| panic!("{spelling}: {e}"));
    }
    // Magento's shipments example names only the created date: nothing to window on.
    let e = build(json!({"base_url": "https://api.example.com", "event.poller.configuration": {"shipments": {
        "url": "/hubs/ecommerce/shipments?where=updated_at>='${gmtDate:yyyy-MM-dd HH:mm:ss}'",
        "idField": "increment_id",
        "datesConfiguration": {"createdDateField": "created_at", "createdDateFormat": "yyyy-MM-dd HH:mm:ss"}
    }}}))
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("rest resources.shipments.datesConfiguration.updatedDateField: is required"),
        "{e}"
    );
}

#[test]
fn a_bad_pattern_is_refused_when_the_source_is_created() {
    let e = build(
        json!({"base_url": "https://api.example.com", "event.poller.configuration": {"contacts": {
            "url": "/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField": "id",
            "datesConfiguration": {"updatedDateField": "updated", "updatedDateFormat": "yyyy-Q"}
        }}}),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e,
        "rest resources.contacts.datesConfiguration.updatedDateFormat: unsupported letter 'Q' at position 5"
    );
    let e = build(
        json!({"base_url": "https://api.example.com", "event.poller.configuration": {"contacts": {
            "url": "/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd hh:mm}'",
            "idField": "id",
            "datesConfiguration": {"updatedDateField": "updated"}
        }}}),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("unsupported letter 'h' at position 11"), "{e}");
}

#[test]
fn oauth_endpoints_come_from_the_config() {
    let config = json!({"base_url": "https://api.example.com", "oauth": {
        "authorize_url": "https://auth.example.com/authorize", "token_url": "https://auth.example.com/token",
        "scopes": ["read"], "client_auth": "basic"}});
    let e = RestFactory
        .oauth(config.as_object().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(e.token_url, "https://auth.example.com/token");
    assert_eq!(e.scopes, vec!["read".to_owned()]);
    assert!(
        RestFactory
            .oauth(json!({"base_url": "https://x"}).as_object().unwrap())
            .is_none()
    );
}

async fn contacts(
    State(seen): State<Arc<Mutex<Vec<String>>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    seen.lock()
        .unwrap()
        .push(q.get("where").cloned().unwrap_or_default());
    // A bare array, filtered on nothing: the poller keeps what is inside its window.
    Json(json!([
        {"id": "c-1", "name": "Ada", "lastUpdated": "2026-03-02T10:00:10Z", "created": "2026-03-02T10:00:10Z"},
        {"id": "c-2", "name": "Bob", "lastUpdated": "2026-03-02T10:00:20Z", "created": "2025-01-01T00:00:00Z"},
        {"id": "c-0", "name": "Old", "lastUpdated": "2026-03-02T09:00:00Z", "created": "2025-01-01T00:00:00Z"}
    ]))
}

#[tokio::test]
async fn a_pasted_configuration_polls_a_bare_array() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/hubs/crm/contacts", get(contacts))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let clock = Arc::new(ManualClock::new(t0()));
    let built = build_with(
        json!({"base_url": base, "skew_ms": 1000, "event.poller.configuration": {"contacts": {
            "url": "/hubs/crm/contacts?where=lastUpdated>'${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
            "idField": "id",
            "datesConfiguration": {
                "updatedDateField": "lastUpdated", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
                "updatedDateTimezone": "GMT",
                "createdDateField": "created", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"
            }
        }}}),
        clock.clone(),
    )
    .unwrap();
    let start = built.provider.poll(None).await.unwrap();
    clock.set(t0() + chrono::TimeDelta::seconds(30));
    let page = built.provider.poll(Some(&start.checkpoint)).await.unwrap();
    let got: Vec<_> = page
        .events
        .iter()
        .map(|e| (e.event_type, e.object.id.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(EventType::Add, "c-1"), (EventType::Update, "c-2")]
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["lastUpdated>'2026-03-02T09:59:59Z'"]
    );
    assert_eq!(
        page.watermark.unwrap().time(),
        t0() + chrono::TimeDelta::seconds(29)
    );
}
