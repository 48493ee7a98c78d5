//! OAuth2 authorization-code flow that ends in a new source.
//!
//! 1. `POST /v1/oauth/{provider}/start {id?, config, client_id, client_secret, redirect_uri,
//!    paused?}` (a tenant-wide key): checks the config, keeps the request under a fresh random
//!    `state` (in memory, for [`STATE_LIFETIME_SECS`] seconds, single use) and answers `{state,
//!    authorize_url, expires_at}`. The caller sends the user's browser to `authorize_url`.
//! 2. The provider redirects the browser to `redirect_uri?code&state`; whatever serves
//!    `redirect_uri` (this server's `GET /v1/oauth/{provider}/callback`, or an app forwarding to
//!    it) passes them on. The callback needs no API key: the `state` authenticates it, as the
//!    tenant's own request of step 1. It exchanges the code at the provider's token endpoint and
//!    creates the source with OAuth credentials from the answer (`201` with the source).
//!
//! Any provider whose factory describes its OAuth ([`ProviderFactory::oauth`]) can be started:
//! the factory gives, for the source's config, the authorize and token URLs, how the client
//! authenticates at the token endpoint (HTTP Basic or the form, RFC 6749 §2.3.1), the scopes,
//! and what an answer without a refresh token makes (`bearer` credentials, or a refusal). An
//! answer with a refresh token makes `oauth` credentials (`client_id`, `client_secret`,
//! `refresh_token`, `access_token`, and `access_token_expires_at` when it gives `expires_in`).
//!
//! [`ProviderFactory::oauth`]: tributary_provider_kit::ProviderFactory::oauth
//!
//! Pending states (`oauth_state.rs`) live in this process only: a restart forgets them, and
//! the user starts again. The source is created through the sources service
//! ([`SourceControl`](crate::control::SourceControl)), as `POST /v1/sources` creates one.

use super::oauth_state::Flow;
pub use super::oauth_state::MAX_PENDING;
use super::request::{Body, parse_body, quote, random_hex};
use super::source_json::{NewSource, SourceBody};
use super::{ApiError, ApiState, Tenant, openapi, query::RawQuery};
use crate::control::{Creation, check_config, check_source_places, create_source, tenant_wide};
use crate::registry::RegistryError;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::SourceId;
use tributary_provider_kit::oauth::{self, TokenAnswer};
use tributary_provider_kit::{ProviderFactory, WithoutRefresh};
use utoipa::ToSchema;

/// How long a `state` waits for its callback.
pub const STATE_LIFETIME_SECS: i64 = 600;
/// The timeout of a token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// `POST /v1/oauth/{provider}/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OauthStart {
    /// The id the new source gets; generated when absent.
    #[serde(default)]
    #[schema(nullable = false, value_type = Option<SourceId>)]
    id: Option<String>,
    /// The provider configuration without credentials, as for `POST /v1/sources`.
    #[schema(value_type = Object)]
    config: serde_json::Map<String, serde_json::Value>,
    /// The OAuth client registered with the provider.
    #[schema(min_length = 1)]
    client_id: String,
    /// Its secret: kept in memory until the callback, then stored in the source's credentials.
    #[schema(min_length = 1)]
    client_secret: String,
    /// Where the provider sends the browser back with `code` and `state` (http or https), as
    /// registered with the provider.
    redirect_uri: String,
    /// Create the source paused.
    #[serde(default)]
    paused: bool,
}

/// What `start` answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OauthStarted {
    /// The value the callback must bring back.
    state: String,
    /// Where to send the user's browser to consent.
    authorize_url: String,
    /// When `state` stops being accepted.
    #[schema(format = DateTime)]
    expires_at: String,
}

/// The callback's query (documentation only: the handler reads the raw pairs, so a missing
/// parameter is answered in the API's error shape).
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackParams {
    /// The authorization code.
    #[param(min_length = 1)]
    code: Option<String>,
    /// The `state` from `start`.
    #[param(min_length = 1)]
    state: Option<String>,
    /// Set by the provider instead of `code` when the authorization was refused.
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider named in the path, and its factory: `400 invalid_parameter` when the server
/// has no such provider. Whether it offers OAuth may depend on the config (`rest` does when its
/// config names the endpoints): `start` asks the factory with the config.
fn provider_of(
    path: Result<Path<String>, PathRejection>,
    state: &ApiState,
) -> Result<Arc<dyn ProviderFactory>, ApiError> {
    let Path(name) = path.map_err(|e| ApiError::invalid(format!("invalid provider: {e}")))?;
    let providers = state.sources()?.registry().providers();
    providers.get(&name).cloned().ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown provider {}: this server has {}",
            quote(&name),
            providers.known()
        ))
    })
}

#[utoipa::path(
    post,
    path = "/v1/oauth/{provider}/start",
    tag = "sources",
    operation_id = "start_oauth",
    summary = "Start an OAuth2 authorization that creates a source",
    description = "Checks the config, keeps the request for 10 minutes under a new `state`, and \
        answers the provider's authorization URL. After the user consents, the provider sends \
        `code` and `state` to `redirect_uri`; pass them to `GET /v1/oauth/{provider}/callback`. \
        Pending states are kept in memory: a restart forgets them.",
    params(("provider" = openapi::ProviderName, Path, description = "The provider")),
    request_body = OauthStart,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Started", body = OauthStarted),
        (status = 400, description = "An unknown provider (`invalid_parameter`), a body that is \
            not the JSON described (`invalid_body`), a config the provider refuses \
            (`invalid_source`), or a provider host that is, or resolves only to, an address \
            outbound requests may not reach (`address_not_allowed`)", body = openapi::ErrorBody),
        openapi::Unauthorized,
        openapi::SourceScopedKey,
        (status = 413, description = "A `config` larger than `[limits] max_config_bytes` \
            (`payload_too_large`)", body = openapi::ErrorBody),
        openapi::TenantLimit,
        (status = 503, description = "No source management on this server, or too many flows \
            waiting on the server, of all tenants (`sources_unavailable`, with `Retry-After`)",
            headers(("Retry-After" = u32, description = "Seconds until the oldest flow expires (too many flows only)")),
            body = openapi::ErrorBody),
    )
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    tenant: Tenant,
    path: Result<Path<String>, PathRejection>,
    Body(body): Body,
) -> Result<Json<OauthStarted>, ApiError> {
    let factory = provider_of(path, &state)?;
    let request: OauthStart = parse_body(&body)?;
    let id = request
        .id
        .map(|id| {
            SourceId::new(id).map_err(|e| ApiError::InvalidSource(format!("invalid `id`: {e}")))
        })
        .transpose()?;
    check_config(&request.config)?;
    let limits = state.limits();
    super::limits::check_size(
        "config",
        &request.config,
        limits.max_config_bytes,
        "max_config_bytes",
    )?;
    if request.client_id.trim().is_empty() || request.client_secret.is_empty() {
        return Err(ApiError::InvalidBody(
            "`client_id` and `client_secret` must not be empty".into(),
        ));
    }
    match reqwest::Url::parse(&request.redirect_uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        _ => {
            return Err(ApiError::InvalidBody(format!(
                "`redirect_uri` {} is not an absolute http(s) URL",
                quote(&request.redirect_uri)
            )));
        }
    }
    let control = state.sources()?;
    tenant_wide(&tenant, "create sources")?;
    // A tenant with no source place left is told now, not after its user has authorized (the
    // callback counts again, under the write lock).
    check_source_places(&state, &tenant).await?;
    let endpoints = factory
        .oauth(&request.config)
        .unwrap_or_else(|| {
            Err(format!(
                "{}: this config describes no OAuth authorization (see the provider's documentation)",
                factory.name()
            ))
        })
        .map_err(ApiError::InvalidSource)?;
    // Check the config as the source will be built, with stand-in OAuth credentials.
    let record = tributary_store::SourceRecord {
        incarnation: 0,
        id: match &id {
            Some(id) => id.clone(),
            None => SourceId::new("oauth-pending").map_err(|_| ApiError::Internal)?,
        },
        tenant: tenant.as_str().to_owned(),
        provider: factory.name().to_owned(),
        config: serde_json::Value::Object(request.config.clone()),
        credentials: serde_json::json!({"kind": "oauth", "client_id": request.client_id,
            "client_secret": "pending", "refresh_token": "pending"}),
        paused: request.paused,
        created_at: control.clock().now(),
    };
    control
        .registry()
        .check(&record)
        .await
        .map_err(|e| match e {
            // No source exists yet: the refusal alone, without the stand-in id.
            RegistryError::AddressNotAllowed { source, .. } => {
                ApiError::AddressNotAllowed(source.to_string())
            }
            e => ApiError::InvalidSource(e.to_string()),
        })?;
    let oauth_state = random_hex(32)?;
    let scope = endpoints.scopes.join(" ");
    let mut params = vec![
        ("client_id", request.client_id.as_str()),
        ("redirect_uri", request.redirect_uri.as_str()),
        ("response_type", "code"),
        ("state", oauth_state.as_str()),
    ];
    if !scope.is_empty() {
        params.push(("scope", scope.as_str()));
    }
    let authorize_url =
        reqwest::Url::parse_with_params(&endpoints.authorize_url, params).map_err(|e| {
            ApiError::InvalidSource(format!("the provider's base URL is not usable: {e}"))
        })?;
    let now = control.clock().now();
    let expires_at = now + ChronoDuration::seconds(STATE_LIFETIME_SECS);
    control.oauth().insert(
        oauth_state.clone(),
        Flow {
            provider: factory.name().to_owned(),
            endpoints,
            tenant,
            id,
            config: request.config,
            client_id: request.client_id,
            client_secret: request.client_secret,
            redirect_uri: request.redirect_uri,
            paused: request.paused,
            expires_at,
        },
        now,
        state.limits().oauth_pending_per_tenant,
    )?;
    Ok(Json(OauthStarted {
        state: oauth_state,
        authorize_url: authorize_url.to_string(),
        expires_at: tributary_core::time::format(&expires_at),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/oauth/{provider}/callback",
    tag = "sources",
    operation_id = "oauth_callback",
    summary = "Finish an OAuth2 authorization: exchange the code, create the source",
    description = "Needs no API key: the `state` from `POST /v1/oauth/{provider}/start` \
        authenticates it, once. Exchanges `code` at the provider's token endpoint and creates the \
        source, for the tenant that started the flow, with OAuth credentials from the answer.",
    params(
        ("provider" = openapi::ProviderName, Path, description = "The provider"),
        CallbackParams,
    ),
    security(()),
    responses(
        (status = 201, description = "The source, created", body = SourceBody),
        (status = 400, description = "A missing `code` or `state` or an unknown provider \
            (`invalid_parameter`); a `state` not issued here, used, expired or for another \
            provider (`invalid_oauth_state`); the user or provider refused \
            (`oauth_denied`); a source the provider refuses (`invalid_source`); a token host \
            outbound requests may not reach (`address_not_allowed`, nothing sent)", body = openapi::ErrorBody),
        (status = 409, description = "The id is taken (`source_exists`)", body = openapi::ErrorBody),
        (status = 413, description = "The credentials from the token answer are larger than \
            `[limits] max_credentials_bytes` (`payload_too_large`)", body = openapi::ErrorBody),
        openapi::TenantLimit,
        (status = 502, description = "The token endpoint refused the code or did not answer \
            (`oauth_exchange_failed`)", body = openapi::ErrorBody),
        openapi::SourcesUnavailable,
    )
)]
pub(crate) async fn callback(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    raw: RawQuery,
) -> Result<Response, ApiError> {
    let factory = provider_of(path, &state)?;
    let Query(pairs) =
        raw.map_err(|e| ApiError::invalid(format!("the query string cannot be read: {e}")))?;
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let oauth_state = param("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("missing query parameter `state`"))?;
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or("");
        // Forget the flow: the user starts again.
        if let Ok(control) = state.sources() {
            let _ = control.oauth().take(oauth_state, control.clock().now());
        }
        return Err(ApiError::OauthDenied(format!(
            "the authorization was refused: {}{}{}",
            quote(error),
            if description.is_empty() { "" } else { ": " },
            if description.is_empty() {
                String::new()
            } else {
                quote(description)
            }
        )));
    }
    let code = param("code")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("missing query parameter `code`"))?
        .to_owned();
    let control = state.sources()?;
    let flow = control
        .oauth()
        .take(oauth_state, control.clock().now())
        .ok_or_else(|| {
            ApiError::InvalidOauthState(
                "unknown `state`: not issued by this server, already used, or expired (flows last \
                 10 minutes and do not survive a restart); start again"
                    .into(),
            )
        })?;
    if flow.provider != factory.name() {
        return Err(ApiError::InvalidOauthState(format!(
            "this `state` was issued for provider {}, not {}",
            flow.provider,
            factory.name()
        )));
    }
    let now = control.clock().now();
    let token = exchange(control.registry().outbound(), &flow, &code).await?;
    let credentials = credentials(&flow, token, now)?;
    let creation = Creation::check(NewSource {
        notification: None,
        id: flow.id.map(|id| id.as_str().to_owned()),
        provider: flow.provider.clone(),
        config: flow.config,
        credentials,
        paused: flow.paused,
    })?;
    let source = create_source(&state, &flow.tenant, creation).await?;
    Ok((StatusCode::CREATED, Json(source)).into_response())
}

/// The largest token answer read: a token answer is a few hundred bytes.
const MAX_TOKEN_ANSWER_BYTES: u64 = 64 * 1024;

/// Exchanges the code at `flow.endpoints.token_url` through `outbound`, the providers' own way out: the
/// token host passes the same address policy (checked again here, at connect time, since the
/// name may resolve elsewhere than at `start`), and a redirect is the token endpoint's refusal,
/// not followed.
async fn exchange(
    outbound: &tributary_http::Outbound,
    flow: &Flow,
    code: &str,
) -> Result<TokenAnswer, ApiError> {
    let failed = |message: String| ApiError::OauthExchangeFailed(message);
    let request = oauth::token_request(
        outbound.client(),
        &flow.endpoints.token_url,
        flow.endpoints.client_auth,
        (&flow.client_id, &flow.client_secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", flow.redirect_uri.as_str()),
        ],
    )
    .timeout(TOKEN_TIMEOUT);
    let response = outbound.send(request).await.map_err(|e| match e {
        tributary_http::SendError::NotAllowed(refused) => ApiError::AddressNotAllowed(format!(
            "the token endpoint {} is not reachable: {refused}",
            flow.endpoints.token_url
        )),
        tributary_http::SendError::Http(e) => failed(format!(
            "the token endpoint {} did not answer: {}",
            flow.endpoints.token_url,
            e.without_url()
        )),
    })?;
    let status = response.status();
    let body = tributary_http::read_body(response, MAX_TOKEN_ANSWER_BYTES)
        .await
        .map_err(|e| failed(format!("reading the token answer: {e}")))?;
    if !status.is_success() {
        let reason = match oauth::oauth_error(&body) {
            (message, Some(_)) => message,
            (_, None) if status.is_redirection() => {
                "a redirect, not followed (the token URL must answer itself)".into()
            }
            (_, None) => "no OAuth error in the answer".into(),
        };
        return Err(failed(format!(
            "the token endpoint refused the code ({status}): {reason}"
        )));
    }
    TokenAnswer::parse(&body).map_err(|e| failed(format!("the token answer is not usable: {e}")))
}

/// The source's credentials from the token answer.
fn credentials(
    flow: &Flow,
    token: TokenAnswer,
    now: DateTime<Utc>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let value = match (flow.endpoints.without_refresh, token.refresh_token) {
        (WithoutRefresh::Bearer, None) => {
            serde_json::json!({"kind": "bearer", "token": token.access_token})
        }
        (WithoutRefresh::Refuse, None) => {
            return Err(ApiError::OauthExchangeFailed(format!(
                "{} answered no refresh_token; the source could not renew its access",
                flow.provider
            )));
        }
        (_, Some(refresh)) => {
            let mut c = serde_json::json!({"kind": "oauth", "client_id": flow.client_id,
                "client_secret": flow.client_secret, "refresh_token": refresh,
                "access_token": token.access_token});
            if let (Some(secs), Some(map)) =
                (token.expires_in.filter(|s| *s > 0), c.as_object_mut())
            {
                map.insert(
                    "access_token_expires_at".into(),
                    tributary_core::time::format(&(now + ChronoDuration::seconds(secs))).into(),
                );
            }
            c
        }
    };
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(ApiError::Internal),
    }
}
