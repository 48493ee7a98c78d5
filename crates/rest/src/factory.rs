//! [`RestFactory`]: how the server registers and builds REST sources.

use crate::config::{ConfigError, RestConfig, default_poll_policy};
use crate::provider::RestProvider;
use std::sync::Arc;
use tributary_core::PollPolicy;
use tributary_provider_kit::{
    BuildContext, BuildError, BuiltProvider, ClientAuth, OAuthEndpoints, ProviderFactory,
    SourceSpec, WithoutRefresh,
};

/// Builds REST sources. It takes no `[providers.rest]` settings.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestFactory;

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(format!("rest {e}"))
    }
}

impl ProviderFactory for RestFactory {
    fn name(&self) -> &'static str {
        crate::map::PROVIDER
    }

    fn default_policy(&self) -> PollPolicy {
        default_poll_policy()
    }

    fn config_schema(&self) -> serde_json::Value {
        crate::schema::config()
    }

    /// The endpoints of `oauth.authorize_url` and `oauth.token_url`, when the config has an
    /// `oauth` object; `None` (no OAuth) otherwise.
    fn oauth(
        &self,
        config: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Result<OAuthEndpoints, String>> {
        let oauth = config.get("oauth")?;
        let url = |field: &str| {
            oauth
                .get(field)
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("rest: the config names no `oauth.{field}`"))
                .and_then(|u| {
                    tributary_http::check_base_url(u)
                        .map_err(|e| format!("rest: oauth.{field}: {e}"))
                })
        };
        let scopes = oauth
            .get("scopes")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let client_auth = match oauth.get("client_auth").and_then(|v| v.as_str()) {
            Some("basic") => ClientAuth::Basic,
            _ => ClientAuth::Form,
        };
        Some(url("authorize_url").and_then(|authorize_url| {
            Ok(OAuthEndpoints {
                authorize_url,
                token_url: url("token_url")?,
                client_auth,
                scopes,
                without_refresh: WithoutRefresh::Refuse,
            })
        }))
    }

    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError> {
        let config = RestConfig::from_json(source.config)?;
        let policy = config.poll.clone();
        let target = config.compile()?.0;
        let provider = RestProvider::new(
            source.id.clone(),
            config,
            context.objects,
            context.clock,
            context.outbound,
        )?
        .with_credential_writer(context.credentials);
        Ok(BuiltProvider {
            provider: Arc::new(provider),
            policy,
            target,
        })
    }
}
