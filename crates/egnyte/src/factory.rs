//! [`EgnyteFactory`]: how the server registers and builds Egnyte sources.

use crate::config::{ConfigError, EgnyteConfig, default_poll_policy};
use crate::credential::RateLimiters;
use crate::provider::EgnyteProvider;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::Arc;
use tributary_core::PollPolicy;
use tributary_provider_kit::{
    BuildContext, BuildError, BuiltProvider, ClientAuth, OAuthEndpoints, ProviderFactory,
    SourceSpec, WithoutRefresh,
};

/// The provider's name in sources and events.
pub const NAME: &str = "egnyte";

/// Builds Egnyte sources. Every source it builds shares its [`RateLimiters`]: one limiter (and
/// OAuth token) per credential, as Egnyte counts calls per access token.
#[derive(Debug, Default)]
pub struct EgnyteFactory {
    limiters: Arc<RateLimiters>,
}

/// `[providers.egnyte]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Requests per second per credential (Egnyte's default allowance: 2).
    calls_per_second: Option<u32>,
}

impl EgnyteFactory {
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory whose sources share `limiters`.
    pub fn with_limiters(limiters: RateLimiters) -> Self {
        Self {
            limiters: Arc::new(limiters),
        }
    }
}

impl ProviderFactory for EgnyteFactory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn configure(&mut self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.is_null() {
            return Ok(());
        }
        let settings = Settings::deserialize(settings).map_err(|e| e.to_string())?;
        if let Some(n) = settings.calls_per_second {
            let per_second = NonZeroU32::new(n).ok_or("calls_per_second must be at least 1")?;
            self.limiters = Arc::new(RateLimiters::new(governor::Quota::per_second(per_second)));
        }
        Ok(())
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
        let text = |key: &str| config.get(key).and_then(|v| v.as_str());
        let base = match crate::config::endpoint(text("domain"), text("base_url")) {
            Ok(base) => base,
            Err(e) => return Some(Err(e.to_string())),
        };
        // Egnyte's authorization-code flow: the browser goes to `/puboauth/token` with
        // `response_type=code`; the code is exchanged at the same path with the client in the form.
        Some(Ok(OAuthEndpoints {
            authorize_url: format!("{base}/puboauth/token"),
            token_url: format!("{base}/puboauth/token"),
            client_auth: ClientAuth::Form,
            scopes: Vec::new(),
            without_refresh: WithoutRefresh::Bearer,
        }))
    }

    fn build(
        &self,
        source: SourceSpec<'_>,
        context: BuildContext,
    ) -> Result<BuiltProvider, BuildError> {
        let config: EgnyteConfig =
            serde_json::from_value(source.config).map_err(|e| BuildError::Config(e.to_string()))?;
        let policy = config.poll.clone();
        let provider = EgnyteProvider::new(
            source.id.clone(),
            config,
            context.objects,
            &self.limiters,
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
