//! The [`Authorization`] each request carries. Static credentials are used as they are; OAuth
//! credentials are refreshed at `oauth.token_url` when there is no access token, when it ends
//! within a minute, and once after a `401`. A rotated refresh token (RFC 6749 §6) is stored
//! through the [`CredentialWriter`] before it is used: a failed write fails the poll.
//!
//! Kept small on purpose: the kit is to own one OAuth refresh for every provider.

use crate::client::{Authorization, RestClient};
use crate::config::{Credentials, KeyLocation, OAuthConfig};
use crate::error::RestError;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter, RotatedRefreshToken, Secret};

#[derive(Debug)]
struct Token {
    access: Option<Secret>,
    expires_at: Option<DateTime<Utc>>,
    refresh: Secret,
}

/// One source's credentials and, for OAuth, its current access token.
pub(crate) struct Authenticator {
    credentials: Option<Credentials>,
    oauth: Option<OAuthConfig>,
    token: tokio::sync::Mutex<Option<Token>>,
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
    pub fn new(credentials: Option<Credentials>, oauth: Option<OAuthConfig>) -> Self {
        let token = match &credentials {
            Some(Credentials::Oauth {
                refresh_token,
                access_token,
                access_token_expires_at,
                ..
            }) => Some(Token {
                access: access_token.clone(),
                expires_at: *access_token_expires_at,
                refresh: refresh_token.clone(),
            }),
            _ => None,
        };
        Self {
            credentials,
            oauth,
            token: tokio::sync::Mutex::new(token),
            writer: Arc::new(NoCredentialWriter),
            refreshes: AtomicU64::new(0),
        }
    }

    pub fn set_writer(&mut self, writer: Arc<dyn CredentialWriter>) {
        self.writer = writer;
    }

    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub async fn authorization(
        &self,
        client: &RestClient,
        clock: &dyn Clock,
    ) -> Result<Authorization, RestError> {
        let (client_id, client_secret) = match &self.credentials {
            None | Some(Credentials::None) => return Ok(Authorization::None),
            Some(Credentials::Bearer { token }) => return Ok(Authorization::Bearer(token.clone())),
            Some(Credentials::Basic { username, password }) => {
                return Ok(Authorization::Basic {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
            Some(Credentials::ApiKey {
                location,
                name,
                value,
            }) => {
                let (name, value) = (name.clone(), value.clone());
                return Ok(match location {
                    KeyLocation::Header => Authorization::Header { name, value },
                    KeyLocation::Query => Authorization::Query { name, value },
                });
            }
            Some(Credentials::Oauth {
                client_id,
                client_secret,
                ..
            }) => (client_id, client_secret),
        };
        let mut guard = self.token.lock().await;
        let Some(token) = guard.as_mut() else {
            return Ok(Authorization::None);
        };
        let now = clock.now();
        if let Some(access) = &token.access
            && token
                .expires_at
                .is_none_or(|at| at - TimeDelta::seconds(60) > now)
        {
            return Ok(Authorization::Bearer(access.clone()));
        }
        let Some(oauth) = &self.oauth else {
            return Err(RestError::Token {
                endpoint: "oauth.token_url".into(),
                message: "no token URL is configured".into(),
            });
        };
        let answer = client
            .refresh_token(
                &oauth.token_url,
                oauth.client_auth,
                client_id,
                client_secret,
                &token.refresh,
            )
            .await?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        if let Some(rotated) = answer.refresh_token.filter(|r| r != token.refresh.expose()) {
            let current = Secret::new(rotated);
            self.writer
                .save_rotated(&RotatedRefreshToken {
                    provider: crate::map::PROVIDER,
                    client_id: client_id.clone(),
                    previous: token.refresh.clone(),
                    current: current.clone(),
                })
                .await?;
            token.refresh = current;
        }
        let access = Secret::new(answer.access_token);
        token.access = Some(access.clone());
        token.expires_at = answer
            .expires_in
            .filter(|s| *s > 0)
            .map(|s| now + TimeDelta::seconds(s));
        Ok(Authorization::Bearer(access))
    }

    /// The upstream answered 401 to `auth`: true when a refresh may help (an OAuth access token,
    /// which is dropped so that the next [`Authenticator::authorization`] refreshes).
    pub async fn refused(&self, auth: &Authorization) -> bool {
        let Authorization::Bearer(refused) = auth else {
            return false;
        };
        let mut guard = self.token.lock().await;
        match guard.as_mut() {
            Some(token) if token.access.as_ref() == Some(refused) => {
                token.access = None;
                true
            }
            Some(_) => true,
            None => false,
        }
    }
}
