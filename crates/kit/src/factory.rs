//! [`ProviderFactory`]: the seam between a provider crate and the server.

use std::sync::Arc;
use tributary_core::{Clock, CredentialWriter, ObjectStateRead, PollPolicy, Provider, SourceId};
use tributary_http::{AddressNotAllowed, Outbound};

/// A stored source, as its factory is given it.
#[derive(Debug, Clone)]
pub struct SourceSpec<'a> {
    pub id: &'a SourceId,
    /// The source's `config` object with its `credentials` set in it under `"credentials"`
    /// (absent when the source has none). A config that is not an object is the factory's to
    /// refuse.
    pub config: serde_json::Value,
}

/// What every source of every provider shares, handed to [`ProviderFactory::build`].
#[derive(Clone)]
pub struct BuildContext {
    /// The one way out: a client and the operator's address policy (`[network]`). A provider
    /// sends every request through it, so none reaches an address the policy forbids.
    pub outbound: Outbound,
    /// The clock everything time-dependent reads (a test's is under its control).
    pub clock: Arc<dyn Clock>,
    /// The source's object memory as of its last committed page (and the pages in flight);
    /// changed only through [`Page::objects`](tributary_core::Page::objects).
    pub objects: Arc<dyn ObjectStateRead>,
    /// Where rotated refresh tokens are stored durably before the provider uses them.
    pub credentials: Arc<dyn CredentialWriter>,
}

/// A provider ready for the engine.
pub struct BuiltProvider {
    pub provider: Arc<dyn Provider>,
    /// The source's poll policy: its config's `poll`, the fields it leaves out taken from
    /// [`ProviderFactory::default_policy`].
    pub policy: PollPolicy,
    /// The base URL the provider sends its requests to (the server checks it against the
    /// address policy when a source is created).
    pub target: String,
}

/// Why a source cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The config (or credentials) are not what the provider takes; the message names the field.
    #[error("{0}")]
    Config(String),
    /// The source's host is an address the outbound policy forbids.
    #[error(transparent)]
    AddressNotAllowed(#[from] AddressNotAllowed),
}

/// How the OAuth client authenticates at the token endpoint (RFC 6749 §2.3.1); `basic` or
/// `form` in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with `client_id:client_secret` (Jive).
    Basic,
    /// `client_id` and `client_secret` in the form body (Egnyte).
    Form,
}

/// What a token answer without a `refresh_token` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutRefresh {
    /// A bearer credential with the access token alone (Egnyte's non-expiring tokens).
    Bearer,
    /// Nothing: the source could not renew its access, so the callback fails.
    Refuse,
}

/// Where a provider's OAuth2 authorization-code flow goes, for one source config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthEndpoints {
    /// Where the user's browser consents; `client_id`, `redirect_uri`, `response_type=code`,
    /// `state` (and `scope` when [`OAuthEndpoints::scopes`] is not empty) are added.
    pub authorize_url: String,
    /// Where the code is exchanged (and, later, the refresh token).
    pub token_url: String,
    pub client_auth: ClientAuth,
    /// Scopes to ask for, space-separated in the request; empty to ask for none.
    pub scopes: Vec<String>,
    pub without_refresh: WithoutRefresh,
}

/// What a provider crate exports: everything the server needs to know of a provider, and how to
/// build one for a stored source.
///
/// The server registers a list of factories and looks each source's `provider` up by
/// [`name`](ProviderFactory::name); nothing in the server names a provider.
pub trait ProviderFactory: Send + Sync {
    /// The name sources give in `provider`, and events carry in `provider`: lowercase, stable.
    fn name(&self) -> &'static str;

    /// Takes the operator's `[providers.<name>]` table (`Null` when there is none), before any
    /// source is built: settings shared by every source of the provider. The default takes
    /// none and refuses a non-empty table. The message names the field.
    fn configure(&mut self, settings: &serde_json::Value) -> Result<(), String> {
        match settings {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::Object(map) if map.is_empty() => Ok(()),
            _ => Err(format!("provider {} takes no settings", self.name())),
        }
    }

    /// The poll policy of a source whose config gives none (and the fields a partial one
    /// leaves out).
    fn default_policy(&self) -> PollPolicy;

    /// A JSON Schema (2020-12) of the source `config` this provider takes, `credentials`
    /// included, for the API's OpenAPI document.
    fn config_schema(&self) -> serde_json::Value;

    /// The OAuth2 endpoints for a source with this `config` (credentials not yet set), when
    /// the provider offers OAuth: `None` when it does not, `Some(Err(message))` when the config
    /// does not say where (no base URL, say).
    fn oauth(
        &self,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<OAuthEndpoints, String>> {
        let _ = config;
        None
    }

    /// Checks `source` and builds its provider. Builds nothing that runs in the background:
    /// the server also calls it only to validate a config.
    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError>;
}

impl std::fmt::Debug for dyn ProviderFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderFactory")
            .field("name", &self.name())
            .finish()
    }
}
