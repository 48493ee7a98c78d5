//! [`RestFactory`]: how the server registers and builds REST sources.

use crate::config::{ConfigError, OAuthConfig, RestConfig, default_poll_policy};
use crate::provider::RestProvider;
use serde::Deserialize;
use std::sync::Arc;
use tributary_core::PollPolicy;
use tributary_provider_kit::{
    BuildContext, BuildError, BuiltProvider, OAuthEndpoints, ProviderFactory, SourceSpec,
    WithoutRefresh,
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
        let oauth = match OAuthConfig::deserialize(oauth) {
            Ok(oauth) => oauth,
            Err(e) => return Some(Err(format!("rest: oauth: {e}"))),
        };
        let url = |field: &str, value: Option<&str>| {
            let value =
                value.ok_or_else(|| format!("rest: the config names no `oauth.{field}`"))?;
            tributary_http::check_base_url(value).map_err(|e| format!("rest: oauth.{field}: {e}"))
        };
        Some(
            url("authorize_url", oauth.authorize_url.as_deref()).and_then(|authorize_url| {
                Ok(OAuthEndpoints {
                    authorize_url,
                    token_url: url("token_url", Some(&oauth.token_url))?,
                    client_auth: oauth.client_auth,
                    scopes: oauth.scopes,
                    without_refresh: WithoutRefresh::Refuse,
                })
            }),
        )
    }

    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError> {
        let config = RestConfig::from_json(source.config)?;
        let policy = config.poll.clone();
        let provider = RestProvider::new(
            source.id.clone(),
            config,
            context.objects,
            context.clock,
            context.outbound,
        )?
        .with_credential_writer(context.credentials);
        Ok(BuiltProvider {
            target: provider.target().to_owned(),
            provider: Arc::new(provider),
            policy,
        })
    }
}
