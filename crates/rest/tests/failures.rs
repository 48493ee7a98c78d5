//! What the scheduler is told when the upstream fails: the kit's reading of a status
//! (`failure::classify`), of a request without an answer, and of a refused token refresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{ManualClock, MemoryObjectState, NoCredentialWriter, ProviderError, SourceId};
use tributary_http::{AddressPolicy, Outbound};
use tributary_provider_kit::{BuildContext, ProviderFactory, SourceSpec};
use tributary_rest::RestFactory;

/// `/status/{code}` answers that status, with `Retry-After` when the query has `retry_after`.
async fn status(Path(code): Path<u16>, Query(q): Query<HashMap<String, String>>) -> Response {
    let status = StatusCode::from_u16(code).unwrap();
    match q.get("retry_after") {
        Some(s) => (status, [(header::RETRY_AFTER, s.clone())], "no").into_response(),
        None => (status, "no").into_response(),
    }
}

async fn refuse_grant() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": "revoked"})),
    )
        .into_response()
}

async fn serve() -> String {
    let app = Router::new()
        .route("/status/{code}", get(status))
        .route("/token", post(refuse_grant));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn poll(config: Value) -> ProviderError {
    let id = SourceId::new("failures").unwrap();
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00Z")
            .unwrap()
            .into(),
    ));
    let built = RestFactory
        .build(
            SourceSpec { id: &id, config },
            BuildContext {
                outbound: Outbound::new(AddressPolicy::loopback()).unwrap(),
                clock,
                objects: Arc::new(MemoryObjectState::new()),
                credentials: Arc::new(NoCredentialWriter),
            },
        )
        .unwrap();
    built.provider.poll(None).await.unwrap_err()
}

fn config(base: &str, url: &str) -> Value {
    json!({
        "base_url": base,
        "start": "2026-03-02T09:00:00Z",
        "resources": {"items": {"url": url, "id_field": "id",
            "dates": {"updated_field": "updated_at"}}}
    })
}

#[tokio::test]
async fn failure_statuses_are_read_the_kit_way() {
    let base = serve().await;
    let throttled = |retry_after| ProviderError::RateLimited {
        retry_after,
        message: String::new(),
    };
    for (url, want) in [
        (
            "/status/429?retry_after=7",
            throttled(Some(Duration::from_secs(7))),
        ),
        ("/status/429", throttled(None)),
        (
            "/status/503?retry_after=3",
            throttled(Some(Duration::from_secs(3))),
        ),
        (
            "/status/503",
            ProviderError::Transient {
                message: String::new(),
            },
        ),
        (
            "/status/500",
            ProviderError::Transient {
                message: String::new(),
            },
        ),
        (
            "/status/408",
            ProviderError::Transient {
                message: String::new(),
            },
        ),
        (
            "/status/401",
            ProviderError::Auth {
                message: String::new(),
            },
        ),
        (
            "/status/403",
            ProviderError::Fatal {
                message: String::new(),
            },
        ),
        (
            "/status/404",
            ProviderError::Fatal {
                message: String::new(),
            },
        ),
        (
            "/status/302",
            ProviderError::Fatal {
                message: String::new(),
            },
        ),
    ] {
        let got = poll(config(&base, url)).await;
        let path = url.split('?').next().unwrap();
        let code = &path["/status/".len()..];
        let message = format!("GET {path}: HTTP {code}: no");
        let want = match want {
            ProviderError::RateLimited { retry_after, .. } => ProviderError::RateLimited {
                retry_after,
                message,
            },
            ProviderError::Transient { .. } => ProviderError::Transient { message },
            ProviderError::Auth { .. } => ProviderError::Auth { message },
            ProviderError::Fatal { .. } => ProviderError::Fatal { message },
        };
        assert_eq!(got, want, "{url}");
    }
}

#[tokio::test]
async fn no_answer_is_transient_and_a_refused_refresh_is_auth() {
    let base = serve().await;
    // Nothing listens on the port of a dropped listener.
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    assert!(matches!(
        poll(config(&closed, "/items")).await,
        ProviderError::Transient { message } if message.starts_with("GET /items: request failed")
    ));

    let mut oauth = config(&base, "/status/200");
    oauth["credentials"] = json!({"kind": "oauth", "client_id": "c", "client_secret": "s",
        "refresh_token": "r"});
    oauth["oauth"] = json!({"token_url": format!("{base}/token")});
    assert_eq!(
        poll(oauth).await,
        ProviderError::Auth {
            message: "POST /token: credentials refused (400): invalid_grant: revoked".into()
        }
    );
}
