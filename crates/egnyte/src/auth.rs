//! The access token each request carries: a fixed bearer token, or an OAuth access token that is
//! refreshed before it expires (notes §9, §12.16).
//!
//! Rules: a token with a lifetime (`expires_in > 0`) is refreshed `min(60 s, lifetime / 2)` before
//! it ends; a token without one (`expires_in` `-1`, `0` or absent) is used until Egnyte answers
//! `401`, after which the next request refreshes once. The token lives in the credential's shared
//! state, so sources sharing a credential share one token and never refresh it twice.
//!
//! A refresh answer may carry a new refresh token (the notes' §9 refresh grant; RFC 6749 §6: the
//! client must then discard the old one, which the server may revoke). The new token is handed
//! to the [`CredentialWriter`] and used only once it is stored: a failed write fails the request
//! (the poll), and the next one refreshes again with the new token, so it is never lost silently.

use crate::client::EgnyteClient;
use crate::config::{Credentials, Secret};
use crate::credential::AccessToken;
use crate::error::EgnyteError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter, RotatedRefreshToken};

pub(crate) struct Authenticator {
    credentials: Credentials,
    refreshes: AtomicU64,
    writer: Arc<dyn CredentialWriter>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            refreshes: AtomicU64::new(0),
            writer: Arc::new(NoCredentialWriter),
        }
    }

    /// Where rotated refresh tokens are stored before they are used.
    pub fn set_writer(&mut self, writer: Arc<dyn CredentialWriter>) {
        self.writer = writer;
    }

    /// Token refreshes this source made.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Whether a refused token can be replaced without an operator.
    pub fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::Oauth { .. })
    }

    /// The token for the next request, refreshed first when it is due.
    pub async fn token(
        &self,
        client: &EgnyteClient,
        clock: &dyn Clock,
    ) -> Result<Secret, EgnyteError> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Bearer { token } => return Ok(token.clone()),
            Credentials::Oauth {
                client_id,
                client_secret,
                ..
            } => (client_id, client_secret),
        };
        let Some(shared) = client.credential().oauth.as_ref() else {
            return Err(EgnyteError::Malformed {
                endpoint: "POST /puboauth/token".into(),
                detail: "OAuth credentials registered without OAuth state".into(),
            });
        };
        let mut state = shared.lock().await;
        let now = clock.now();
        if let Some(access) = &state.access
            && access.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(access.token.clone());
        }
        let answer = client
            .refresh_token(client_id, client_secret, &state.refresh_token)
            .await?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let refresh_at = answer.expires_in.filter(|s| *s > 0).map(|lifetime| {
            let margin = (lifetime / 2).min(60);
            now + chrono::Duration::seconds(lifetime - margin)
        });
        tracing::info!(
            credential = %client.credential().fingerprint(),
            expires_in = ?answer.expires_in,
            "refreshed the Egnyte access token"
        );
        if let Some(rotated) = answer
            .refresh_token
            .filter(|r| !r.is_empty() && r != state.stored_refresh_token.expose())
        {
            let rotation = RotatedRefreshToken {
                provider: "egnyte",
                client_id: client_id.clone(),
                previous: state.stored_refresh_token.clone(),
                current: Secret::new(rotated),
            };
            // The old token may be void already: the new one is kept for the next try, and no
            // access token from this answer is used before the new refresh token is stored.
            state.refresh_token = rotation.current.clone();
            state.access = None;
            if let Err(e) = self.writer.save_rotated(&rotation).await {
                tracing::error!(
                    credential = %client.credential().fingerprint(),
                    error = %e,
                    "Egnyte rotated the refresh token and storing it failed; the poll fails and the next one tries again"
                );
                return Err(EgnyteError::CredentialWrite(e));
            }
            state.stored_refresh_token = rotation.current;
        }
        let token = Secret::new(answer.access_token);
        state.access = Some(AccessToken {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Forgets `refused` (answered 401), so the next [`token`](Self::token) refreshes. Returns
    /// whether a retry with a new token makes sense.
    pub async fn refused(&self, client: &EgnyteClient, refused: &Secret) -> bool {
        if !self.can_refresh() {
            return false;
        }
        if let Some(shared) = client.credential().oauth.as_ref() {
            let mut state = shared.lock().await;
            if state.access.as_ref().is_some_and(|a| &a.token == refused) {
                state.access = None;
            }
            return true;
        }
        false
    }
}
