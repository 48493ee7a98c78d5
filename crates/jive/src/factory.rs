//! [`JiveFactory`]: how the server registers and builds Jive sources.

use crate::config::{ConfigError, JiveConfig, default_poll_policy};
use crate::provider::JiveProvider;
use std::sync::Arc;
use tributary_core::PollPolicy;
use tributary_provider_kit::{
    BuildContext, BuildError, BuiltProvider, ClientAuth, OAuthEndpoints, ProviderFactory,
    SourceSpec, WithoutRefresh,
};

/// The provider's name in sources and events.
pub const NAME: &str = "jive";

/// Builds Jive sources. It takes no `[providers.jive]` settings.
#[derive(Debug, Default, Clone, Copy)]
pub struct JiveFactory;

impl ProviderFactory for JiveFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_policy(&self) -> PollPolicy {
        default_poll_policy()
    }

    fn config_schema(&self) -> serde_json::Value {
        crate::config::schema()
    }

    fn oauth(
        &self,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<OAuthEndpoints, String>> {
        let Some(base) = config.get("base_url").and_then(|v| v.as_str()) else {
            return Some(Err("jive: the config names no `base_url`".into()));
        };
        let base = match crate::config::base_url(base) {
            Ok(base) => base,
            Err(e) => return Some(Err(e.to_string())),
        };
        // A Jive add-on's OAuth 2.0: the client authenticates with HTTP Basic at the token
        // endpoint, and every answer carries a refresh token (an access token lasts hours).
        Some(Ok(OAuthEndpoints {
            authorize_url: format!("{base}/oauth2/authorize"),
            token_url: format!("{base}/oauth2/token"),
            client_auth: ClientAuth::Basic,
            scopes: Vec::new(),
            without_refresh: WithoutRefresh::Refuse,
        }))
    }

    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError> {
        let config: JiveConfig =
            serde_json::from_value(source.config).map_err(|e| BuildError::Config(e.to_string()))?;
        let policy = config.poll.clone();
        let provider = JiveProvider::new(
            source.id.clone(),
            config,
            context.objects,
            context.clock,
            context.outbound,
        )
        .map_err(|e| match e {
            ConfigError::AddressNotAllowed(a) => BuildError::AddressNotAllowed(a),
            e => BuildError::Config(e.to_string()),
        })?
        .with_credential_writer(context.credentials);
        Ok(BuiltProvider {
            target: provider.target().to_owned(),
            provider: Arc::new(provider),
            policy,
        })
    }
}
