//! The [`Authorization`] each request carries. Static credentials (bearer, basic, an API key)
//! are used as they are; OAuth credentials get an access token from the kit's [`TokenCache`] at
//! `oauth.token_url`, the client in the form or by HTTP Basic (`oauth.client_auth`).
//!
//! The refresh rules (before the token runs out, after a `401`, one at a time, a rotated refresh
//! token stored through the [`CredentialWriter`] before use) are the kit's:
//! `tributary_provider_kit::oauth`. What is rest's: a configured `access_token_expires_at` is
//! treated like a refreshed token's end, so the stored token is replaced a minute before it.

use crate::client::{Authorization, RestClient};
use crate::config::{ConfigError, Credentials, KeyLocation, OAuthConfig};
use crate::error::RestError;
use chrono::TimeDelta;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter};
use tributary_provider_kit::oauth::{AccessToken, RefreshGrant, TokenCache};

/// One source's credentials and, for OAuth, its token cache.
pub(crate) struct Authenticator {
    credentials: Option<Credentials>,
    oauth: Option<TokenCache>,
    writer: Arc<dyn CredentialWriter>,
    refreshes: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Refused when OAuth credentials come without `oauth.token_url` (the config's checks refuse
    /// that first).
    pub fn new(
        credentials: Option<Credentials>,
        oauth: Option<&OAuthConfig>,
    ) -> Result<Self, ConfigError> {
        let cache = match &credentials {
            Some(Credentials::Oauth {
                client_id,
                client_secret,
                refresh_token,
                access_token,
                access_token_expires_at,
            }) => {
                let oauth = oauth.ok_or_else(|| ConfigError {
                    field: "oauth.token_url".into(),
                    message: "OAuth credentials need the token URL they refresh at".into(),
                })?;
                let grant = RefreshGrant {
                    provider: crate::map::PROVIDER,
                    token_url: oauth.token_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    client_auth: oauth.client_auth,
                    throttle_statuses: Vec::new(),
                };
                let access = access_token.clone().map(|token| AccessToken {
                    token,
                    refresh_at: access_token_expires_at.map(|at| at - TimeDelta::seconds(60)),
                });
                Some(TokenCache::new(grant, refresh_token.clone(), access))
            }
            _ => None,
        };
        Ok(Self {
            credentials,
            oauth: cache,
            writer: Arc::new(NoCredentialWriter),
            refreshes: AtomicU64::new(0),
        })
    }

    /// Where rotated refresh tokens are stored before they are used.
    pub fn set_writer(&mut self, writer: Arc<dyn CredentialWriter>) {
        self.writer = writer;
    }

    /// OAuth access-token refreshes so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// The `Authorization` for the next request; an OAuth token is refreshed when it is due.
    pub async fn authorization(
        &self,
        client: &RestClient,
        clock: &dyn Clock,
    ) -> Result<Authorization, RestError> {
        if let Some(cache) = &self.oauth {
            let fresh = cache
                .access_token(client.exchange(), self.writer.as_ref(), clock)
                .await?;
            if fresh.refreshed {
                self.refreshes.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Authorization::Bearer(fresh.token));
        }
        Ok(match &self.credentials {
            None | Some(Credentials::None | Credentials::Oauth { .. }) => Authorization::None,
            Some(Credentials::Bearer { token }) => Authorization::Bearer(token.clone()),
            Some(Credentials::Basic { username, password }) => Authorization::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            Some(Credentials::ApiKey {
                location,
                name,
                value,
            }) => {
                let (name, value) = (name.clone(), value.clone());
                match location {
                    KeyLocation::Header => Authorization::Header { name, value },
                    KeyLocation::Query => Authorization::Query { name, value },
                }
            }
        })
    }

    /// The upstream answered `401` to `auth`: forgets an OAuth access token so the next
    /// [`Authenticator::authorization`] refreshes, and says whether a retry may help.
    pub async fn refused(&self, auth: &Authorization) -> bool {
        let (Some(cache), Authorization::Bearer(token)) = (&self.oauth, auth) else {
            return false;
        };
        cache.refused(token).await;
        true
    }
}
