//! What the API answers when a request cannot be served: a status and
//! `{"error":{"code","message"}}` with a stable snake_case code.

use super::request::quote;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tributary_core::Cursor;
use tributary_store::StoreError;
use utoipa::ToSchema;

/// Declares [`ErrorCode`] from one table of `Variant => "word"`: the enum (whose schema is the
/// OpenAPI document's `ErrorCode`), its serde names, [`ErrorCode::ALL`] and
/// [`ErrorCode::as_str`] all come from the same rows, so none can leave a code out.
macro_rules! error_codes {
    // `tt`, not `literal`: a `literal` fragment reaches the derives wrapped in an invisible group,
    // which utoipa does not read, and the schema would fall back to the variant names.
    ($($(#[doc = $doc:literal])* $variant:ident => $word:tt,)+) => {
        /// The stable word clients match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[serde(rename = $word)] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The word itself, as it is serialized.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $word,)+
                }
            }
        }
    };
}

// The one list of the codes the API answers: `ApiError::code` maps every error into it, and
// the OpenAPI document's `ErrorCode` schema is derived from it.
error_codes! {
    Unauthorized => "unauthorized",
    InvalidParameter => "invalid_parameter",
    InvalidCursor => "invalid_cursor",
    CursorAhead => "cursor_ahead",
    CursorExpired => "cursor_expired",
    SourceNotFound => "source_not_found",
    AccountNotFound => "account_not_found",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    StoreUnavailable => "store_unavailable",
    InternalError => "internal_error",
    NotReady => "not_ready",
    Forbidden => "forbidden",
    InvalidBody => "invalid_body",
    InvalidSource => "invalid_source",
    SourceExists => "source_exists",
    SourcesUnavailable => "sources_unavailable",
    SourceBusy => "source_busy",
    InvalidOauthState => "invalid_oauth_state",
    OauthDenied => "oauth_denied",
    OauthExchangeFailed => "oauth_exchange_failed",
    AdminKeyNotAllowed => "admin_key_not_allowed",
    AdminKeyRequired => "admin_key_required",
    KeyNotFound => "key_not_found",
    // Outbound address policy (`[network]`).
    AddressNotAllowed => "address_not_allowed",
    // Greedy tenants (issue 11): a per-tenant limit, and a request or field over its size.
    TenantLimit => "tenant_limit",
    PayloadTooLarge => "payload_too_large",
    // Webhook subscriptions (issue 12).
    SubscriptionNotFound => "subscription_not_found",
}

/// An API failure. Each variant has one status and one stable `code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No key, a malformed `Authorization` header, or a key no tenant owns.
    #[error("{0}")]
    Unauthorized(String),
    /// A query parameter (or header) that cannot be understood; the message names it.
    #[error("{message}")]
    InvalidParameter { message: String },
    /// A cursor that is malformed or was issued by another store.
    #[error("{0}")]
    InvalidCursor(String),
    /// A cursor past the end of the log.
    #[error("{0}")]
    CursorAhead(String),
    /// A cursor older than the oldest retained event.
    #[error(
        "cursor has expired: the events after it were removed by retention; resume from oldest_cursor"
    )]
    CursorExpired { oldest: Cursor },
    /// A source that does not exist, or belongs to another tenant (the two are not told apart).
    #[error("no source {}", quote(.0))]
    SourceNotFound(String),
    /// A Kloudless-style account (a source) that does not exist, belongs to another tenant, or is
    /// not the source of a source-scoped key (the cases are not told apart).
    #[error("no account {}", quote(.0))]
    AccountNotFound(String),
    #[error("no route for {}", quote(.0))]
    NotFound(String),
    /// The key may not do this (a source-scoped key creating or deleting sources).
    #[error("{0}")]
    Forbidden(String),
    /// An admin key on an endpoint of a tenant's data: admin keys only manage API keys.
    #[error(
        "an admin key only manages API keys (/v1/keys) and reads no tenant's data: use a tenant's API key here"
    )]
    AdminKeyNotAllowed,
    /// A tenant's key on an endpoint that manages API keys.
    #[error(
        "managing API keys needs an admin key (configured in [[admin_keys]]): a tenant's API key cannot do it"
    )]
    AdminKeyRequired,
    /// An API key id that no created key has.
    #[error("no API key {}", quote(.0))]
    KeyNotFound(String),
    /// A request body that is not the JSON the operation takes; the message names the field.
    #[error("{0}")]
    InvalidBody(String),
    /// A source (provider, config, credentials, poll policy, id) its provider refuses; the
    /// message is the provider's and names the field.
    #[error("{0}")]
    InvalidSource(String),
    /// A source with this id exists already (in any tenant: ids are global).
    #[error("a source with id {} exists already", quote(.0))]
    SourceExists(String),
    /// This server was started without source management (no engine behind the API).
    #[error("source management is not available on this server")]
    SourcesUnavailable,
    /// An OAuth `state` this server did not issue, already used, expired or for another provider.
    #[error("{0}")]
    InvalidOauthState(String),
    /// The user or the provider refused the authorization (`error` on the callback).
    #[error("{0}")]
    OauthDenied(String),
    /// The provider's token endpoint did not give a usable token for the code.
    #[error("{0}")]
    OauthExchangeFailed(String),
    #[error("method {} is not allowed on {}", quote(method), quote(path))]
    MethodNotAllowed { method: String, path: String },
    /// A source being deleted or restarted whose poll in flight did not finish in time: it is
    /// stopped and polls no more, and the request succeeds once retried after that poll.
    #[error(
        "source {} has a poll in flight that did not finish in time; the source is stopped and \
         polls no more: retry the request (after Retry-After seconds) once that poll is done",
        quote(.0)
    )]
    SourceBusy(String),
    /// The store could not be read (I/O, worker failure): worth retrying.
    #[error("the event store is unavailable")]
    Unavailable,
    /// `GET /readyz`: the store does not answer or the server is shutting down; says which.
    #[error("{0}")]
    NotReady(String),
    /// A fault of ours, not of the request. Details go to the log, not to the client.
    #[error("internal error")]
    Internal,
    /// A source or OAuth flow whose upstream host is, or resolves only to, an address outbound
    /// requests may not reach (loopback, private, link-local, …; `[network] allow_private`).
    #[error("{0}")]
    AddressNotAllowed(String),
    /// The tenant (or its key) holds as many of something as its limit allows (`[limits]`);
    /// `retry_after` (seconds) when a place frees itself by then.
    #[error("{message}")]
    TenantLimit {
        message: String,
        retry_after: Option<u64>,
    },
    /// The server holds as many OAuth flows as it takes, from all tenants together.
    #[error("too many OAuth flows are waiting on this server; retry after {retry_after} seconds")]
    PendingFull { retry_after: u64 },
    /// A request body, or a field of it, over its size limit; the message names which.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A subscription that does not exist, or belongs to another tenant (not told apart).
    #[error("no subscription {}", quote(.0))]
    SubscriptionNotFound(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::InvalidParameter { .. }
            | ApiError::InvalidCursor(_)
            | ApiError::CursorAhead(_) => StatusCode::BAD_REQUEST,
            ApiError::CursorExpired { .. } => StatusCode::GONE,
            ApiError::SourceNotFound(_)
            | ApiError::AccountNotFound(_)
            | ApiError::KeyNotFound(_)
            | ApiError::SubscriptionNotFound(_)
            | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) | ApiError::AdminKeyNotAllowed | ApiError::AdminKeyRequired => {
                StatusCode::FORBIDDEN
            }
            ApiError::InvalidBody(_)
            | ApiError::InvalidSource(_)
            | ApiError::InvalidOauthState(_)
            | ApiError::OauthDenied(_)
            | ApiError::AddressNotAllowed(_) => StatusCode::BAD_REQUEST,
            ApiError::SourceExists(_) => StatusCode::CONFLICT,
            ApiError::OauthExchangeFailed(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable
            | ApiError::SourcesUnavailable
            | ApiError::SourceBusy(_)
            | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TenantLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PendingFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The stable word clients match on.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// This error's row of the code table. No wildcard: a new variant does not compile until it
    /// has a code, and so a documented one.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::InvalidParameter { .. } => ErrorCode::InvalidParameter,
            ApiError::InvalidCursor(_) => ErrorCode::InvalidCursor,
            ApiError::CursorAhead(_) => ErrorCode::CursorAhead,
            ApiError::CursorExpired { .. } => ErrorCode::CursorExpired,
            ApiError::SourceNotFound(_) => ErrorCode::SourceNotFound,
            ApiError::AccountNotFound(_) => ErrorCode::AccountNotFound,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::AdminKeyNotAllowed => ErrorCode::AdminKeyNotAllowed,
            ApiError::AdminKeyRequired => ErrorCode::AdminKeyRequired,
            ApiError::KeyNotFound(_) => ErrorCode::KeyNotFound,
            ApiError::InvalidBody(_) => ErrorCode::InvalidBody,
            ApiError::InvalidSource(_) => ErrorCode::InvalidSource,
            ApiError::SourceExists(_) => ErrorCode::SourceExists,
            ApiError::SourcesUnavailable => ErrorCode::SourcesUnavailable,
            ApiError::InvalidOauthState(_) => ErrorCode::InvalidOauthState,
            ApiError::OauthDenied(_) => ErrorCode::OauthDenied,
            ApiError::OauthExchangeFailed(_) => ErrorCode::OauthExchangeFailed,
            ApiError::SourceBusy(_) => ErrorCode::SourceBusy,
            ApiError::Unavailable => ErrorCode::StoreUnavailable,
            ApiError::NotReady(_) => ErrorCode::NotReady,
            ApiError::Internal => ErrorCode::InternalError,
            ApiError::AddressNotAllowed(_) => ErrorCode::AddressNotAllowed,
            ApiError::TenantLimit { .. } => ErrorCode::TenantLimit,
            ApiError::PendingFull { .. } => ErrorCode::SourcesUnavailable,
            ApiError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            ApiError::SubscriptionNotFound(_) => ErrorCode::SubscriptionNotFound,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidParameter {
            message: message.into(),
        }
    }

    /// The JSON body: `{"error":{"code","message"}}`, plus `oldest_cursor` for an expired cursor.
    pub fn body(&self) -> serde_json::Value {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.error_code(),
                // Whatever echoes input, ours or a library's, quotes at most an excerpt of it.
                message: super::request::bounded_message(&self.to_string()),
                oldest_cursor: match self {
                    ApiError::CursorExpired { oldest } => Some(oldest.encode()),
                    _ => None,
                },
            },
        };
        // A struct of strings always serializes.
        serde_json::to_value(body).unwrap_or(serde_json::Value::Null)
    }
}

/// Every error's body.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    code: ErrorCode,
    /// What went wrong, for a person; names the parameter at fault.
    message: String,
    /// For `cursor_expired` only: the cursor of the oldest retained event, to resume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    oldest_cursor: Option<String>,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Cursor(e) => ApiError::InvalidCursor(e.to_string()),
            StoreError::CursorExpired { oldest } => ApiError::CursorExpired { oldest },
            StoreError::CursorAhead { .. } => ApiError::CursorAhead(e.to_string()),
            // The caller's own tenant has no such source: said exactly as for any id.
            StoreError::UnknownSource { source_id } => ApiError::SourceNotFound(source_id),
            StoreError::Storage { .. } | StoreError::Worker(_) | StoreError::Unavailable { .. } => {
                tracing::warn!(error = %e, "store read failed");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store failure while serving the API");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let retry_after = match self {
            ApiError::SourceBusy(_) => Some(10),
            ApiError::TenantLimit { retry_after, .. } => retry_after,
            ApiError::PendingFull { retry_after } => Some(retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tributary\""),
            );
        }
        response
    }
}
