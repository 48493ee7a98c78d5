//! The access token each request carries: a fixed bearer token, or an OAuth access token kept
//! fresh by the kit's [`TokenCache`](tributary_provider_kit::oauth::TokenCache) at
//! `/puboauth/token`, the client in the form (notes §9, §12.16).
//!
//! The refresh rules (before `expires_in` runs out, `-1` kept until a `401`, one refresh at a
//! time, a rotated refresh token stored through the [`CredentialWriter`] before use) are the
//! kit's: `tributary_provider_kit::oauth`. What is Egnyte's: the cache lives in the credential's
//! shared state, so sources sharing a credential share one token and never refresh it twice; the
//! token endpoint throttles with `409`.

use crate::client::EgnyteClient;
use crate::config::{Credentials, Secret};
use crate::error::EgnyteError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter};

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

    /// The token for the next request, refreshed first when it is due.
    pub async fn token(
        &self,
        client: &EgnyteClient,
        clock: &dyn Clock,
    ) -> Result<Secret, EgnyteError> {
        if let Credentials::Bearer { token } = &self.credentials {
            return Ok(token.clone());
        }
        let Some(cache) = client.credential().oauth.as_ref() else {
            return Err(EgnyteError::Malformed {
                endpoint: "POST /puboauth/token".into(),
                detail: "OAuth credentials registered without OAuth state".into(),
            });
        };
        let fresh = cache
            .access_token(client.exchange(), self.writer.as_ref(), clock)
            .await?;
        if fresh.refreshed {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                credential = %client.credential().fingerprint(),
                "refreshed the Egnyte access token"
            );
        }
        Ok(fresh.token)
    }

    /// Forgets `refused` (answered 401), so the next [`token`](Self::token) refreshes. Returns
    /// whether a retry with a new token makes sense.
    pub async fn refused(&self, client: &EgnyteClient, refused: &Secret) -> bool {
        match client.credential().oauth.as_ref() {
            Some(cache) if matches!(self.credentials, Credentials::Oauth { .. }) => {
                cache.refused(refused).await;
                true
            }
            _ => false,
        }
    }
}
