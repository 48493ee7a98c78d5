//! The `Authorization` each request carries: HTTP Basic, or an OAuth access token kept fresh by
//! the kit's [`TokenCache`] at `{base}/oauth2/token`, the client authenticated by Basic (notes
//! §5). The refresh rules (before `expires_in` runs out, after a `401`, one at a time, a rotated
//! refresh token stored before use) are the kit's: `tributary_provider_kit::oauth`.
//!
//! Jive documents a 10-year refresh token and no rotation, but its token endpoint is RFC 6749's,
//! whose §6 lets a refresh answer carry a new refresh token that voids the old; the kit stores it
//! through the [`CredentialWriter`] before use.

use crate::client::{Authorization, JiveClient};
use crate::config::Credentials;
use crate::error::JiveError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter, SourceId};
use tributary_provider_kit::ClientAuth;
use tributary_provider_kit::oauth::{AccessToken, RefreshGrant, TokenCache};

/// One source's credentials and, for OAuth, its token cache.
pub(crate) struct Authenticator {
    source: SourceId,
    credentials: Credentials,
    oauth: Option<TokenCache>,
    refreshes: AtomicU64,
    writer: Arc<dyn CredentialWriter>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("source", &self.source)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// `base`: the instance's base URL, without a trailing slash.
    pub fn new(source: SourceId, credentials: Credentials, base: &str) -> Self {
        let oauth = match &credentials {
            Credentials::Oauth {
                client_id,
                client_secret,
                refresh_token,
                access_token,
                access_token_expires_at,
            } => Some(TokenCache::new(
                RefreshGrant {
                    provider: "jive",
                    token_url: format!("{base}/oauth2/token"),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    client_auth: ClientAuth::Basic,
                    throttle_statuses: Vec::new(),
                },
                refresh_token.clone(),
                access_token.clone().map(|token| AccessToken {
                    token,
                    refresh_at: *access_token_expires_at,
                }),
            )),
            Credentials::Basic { .. } => None,
        };
        Self {
            source,
            credentials,
            oauth,
            refreshes: AtomicU64::new(0),
            writer: Arc::new(NoCredentialWriter),
        }
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
        client: &JiveClient,
        clock: &dyn Clock,
    ) -> Result<Authorization, JiveError> {
        let Some(cache) = &self.oauth else {
            let Credentials::Basic { username, password } = &self.credentials else {
                return Err(JiveError::Malformed {
                    endpoint: "POST /oauth2/token".into(),
                    detail: "OAuth credentials without OAuth state".into(),
                });
            };
            return Ok(Authorization::Basic {
                username: username.clone(),
                password: password.clone(),
            });
        };
        let fresh = cache
            .access_token(client.exchange(), self.writer.as_ref(), clock)
            .await?;
        if fresh.refreshed {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(source = %self.source, "refreshed the Jive access token");
        }
        Ok(Authorization::Bearer(fresh.token))
    }

    /// Forgets a refused bearer token so the next request refreshes; whether a retry makes sense.
    pub async fn refused(&self, auth: &Authorization) -> bool {
        let (Some(cache), Authorization::Bearer(token)) = (&self.oauth, auth) else {
            return false;
        };
        cache.refused(token).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use chrono::DateTime;
    use std::time::Duration;
    use tributary_core::ManualClock;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client(server: &MockServer) -> JiveClient {
        let config = crate::JiveConfig::new(server.uri(), Credentials::basic("u", "p"));
        let clock = Arc::new(tributary_core::SystemClock);
        let budget = tributary_http::PollBudget::new(config.poll_limits(), clock);
        JiveClient::new(
            server.uri(),
            Duration::from_secs(5),
            config.max_response_bytes,
            budget,
            tributary_http::Outbound::new(tributary_http::AddressPolicy::loopback()).unwrap(),
        )
        .unwrap()
    }

    fn authenticator(server: &MockServer, credentials: Credentials) -> Authenticator {
        Authenticator::new(
            SourceId::new("jive-test").unwrap(),
            credentials,
            &server.uri(),
        )
    }

    fn clock() -> ManualClock {
        ManualClock::new(DateTime::from_timestamp_millis(1_714_554_902_511).unwrap())
    }

    #[tokio::test]
    async fn basic_credentials_go_out_as_they_are_and_are_never_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
        let auth = authenticator(&server, Credentials::basic("ann", "pw"));
        let got = auth
            .authorization(&client(&server), &clock())
            .await
            .unwrap();
        let Authorization::Basic { username, password } = &got else {
            panic!("expected basic, got {got:?}");
        };
        assert_eq!((username.as_str(), password.expose()), ("ann", "pw"));
        assert!(!auth.refused(&got).await);
        assert_eq!(auth.refreshes(), 0);
    }

    /// The rules themselves are the kit's (tested there); this is Jive's use of them: the token
    /// URL under the base, the client by Basic, the source's count of refreshes.
    #[tokio::test]
    async fn oauth_refreshes_at_the_instance_token_url_with_the_client_by_basic() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(header("authorization", "Basic Y2xpZW50OnNoaA=="))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "fresh", "expires_in": 172_800, "token_type": "bearer"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let auth = authenticator(
            &server,
            Credentials::Oauth {
                client_id: "client".into(),
                client_secret: Secret::new("shh"),
                refresh_token: Secret::new("r1"),
                access_token: Some(Secret::new("stale")),
                access_token_expires_at: None,
            },
        );
        let client = client(&server);
        let clock = clock();
        let stale = auth.authorization(&client, &clock).await.unwrap();
        assert!(matches!(&stale, Authorization::Bearer(t) if t.expose() == "stale"));
        assert!(auth.refused(&stale).await);
        let fresh = auth.authorization(&client, &clock).await.unwrap();
        assert!(matches!(&fresh, Authorization::Bearer(t) if t.expose() == "fresh"));
        assert_eq!(auth.refreshes(), 1);
        assert_eq!(client.calls(), 1);
    }
}
