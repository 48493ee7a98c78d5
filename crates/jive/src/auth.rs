//! The `Authorization` each request carries: HTTP Basic, or an OAuth access token that is
//! refreshed at `{base}/oauth2/token` before it expires.
//!
//! Rules: a token with a lifetime (`expires_in > 0`) is refreshed `min(60 s, lifetime / 2)` before
//! it ends; a token without one (`expires_in` `0`, negative or absent) is used until Jive answers
//! `401`, after which the next request refreshes. A rotated refresh token replaces the old one.
//!
//! Jive documents a 10-year refresh token and no rotation (notes §5), but its token endpoint is
//! RFC 6749's, whose §6 lets a refresh answer carry a new refresh token that voids the old. Such a
//! token is handed to the [`CredentialWriter`] and used only once it is stored: a failed write
//! fails the request (the poll), and the next one refreshes again with the new token.

use crate::client::{Authorization, JiveClient};
use crate::config::{Credentials, Secret};
use crate::error::JiveError;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tributary_core::{Clock, CredentialWriter, NoCredentialWriter, RotatedRefreshToken, SourceId};

/// The access token of an OAuth source.
#[derive(Debug)]
struct OauthState {
    access: Option<Secret>,
    refresh_at: Option<DateTime<Utc>>,
    refresh_token: Secret,
    /// The refresh token as last stored: differs from `refresh_token` only while storing a
    /// rotated one failed.
    stored_refresh_token: Secret,
}

/// One source's credentials and, for OAuth, its current access token.
pub(crate) struct Authenticator {
    source: SourceId,
    credentials: Credentials,
    oauth: Option<tokio::sync::Mutex<OauthState>>,
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
    pub fn new(source: SourceId, credentials: Credentials) -> Self {
        let oauth = match &credentials {
            Credentials::Oauth {
                refresh_token,
                access_token,
                access_token_expires_at,
                ..
            } => Some(tokio::sync::Mutex::new(OauthState {
                access: access_token.clone(),
                refresh_at: access_token.as_ref().and(*access_token_expires_at),
                refresh_token: refresh_token.clone(),
                stored_refresh_token: refresh_token.clone(),
            })),
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
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Basic { username, password } => {
                return Ok(Authorization::Basic {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
            Credentials::Oauth {
                client_id,
                client_secret,
                ..
            } => (client_id, client_secret),
        };
        let Some(oauth) = &self.oauth else {
            return Err(JiveError::Malformed {
                endpoint: "POST /oauth2/token".into(),
                detail: "OAuth credentials without OAuth state".into(),
            });
        };
        let mut state = oauth.lock().await;
        let now = clock.now();
        if let Some(access) = &state.access
            && state.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(Authorization::Bearer(access.clone()));
        }
        let answer = client
            .refresh_token(client_id, client_secret, &state.refresh_token)
            .await?;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        if let Some(rotated) = answer
            .refresh_token
            .filter(|r| !r.is_empty() && r != state.stored_refresh_token.expose())
        {
            let rotation = RotatedRefreshToken {
                provider: "jive",
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
                    source = %self.source,
                    error = %e,
                    "Jive rotated the refresh token and storing it failed; the poll fails and the next one tries again"
                );
                return Err(JiveError::CredentialWrite(e));
            }
            state.stored_refresh_token = rotation.current;
        }
        state.refresh_at = refresh_at(now, answer.expires_in);
        let token = Secret::new(answer.access_token);
        state.access = Some(token.clone());
        tracing::info!(source = %self.source, "refreshed the Jive access token");
        Ok(Authorization::Bearer(token))
    }

    /// Forgets a refused bearer token so the next request refreshes; whether a retry makes sense.
    pub async fn refused(&self, auth: &Authorization) -> bool {
        let (Some(oauth), Authorization::Bearer(token)) = (&self.oauth, auth) else {
            return false;
        };
        let mut state = oauth.lock().await;
        if state.access.as_ref() == Some(token) {
            state.access = None;
        }
        true
    }
}

/// When a token obtained at `now` that lives `expires_in` seconds is due for a refresh:
/// `min(60 s, lifetime / 2)` before it ends, or never (until refused) without a lifetime.
fn refresh_at(now: DateTime<Utc>, expires_in: Option<i64>) -> Option<DateTime<Utc>> {
    expires_in.filter(|s| *s > 0).map(|lifetime| {
        let margin = (lifetime / 2).min(60);
        now + TimeDelta::seconds(lifetime - margin)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tributary_core::ManualClock;
    use tributary_core::ProviderError;
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_714_554_902_511).unwrap()
    }

    fn oauth(access_token: Option<&str>) -> Credentials {
        Credentials::Oauth {
            client_id: "client".into(),
            client_secret: Secret::new("shh"),
            refresh_token: Secret::new("r1"),
            access_token: access_token.map(Secret::new),
            access_token_expires_at: None,
        }
    }

    fn authenticator(credentials: Credentials) -> Authenticator {
        Authenticator::new(SourceId::new("jive-test").unwrap(), credentials)
    }

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

    fn bearer(auth: &Authorization) -> &str {
        match auth {
            Authorization::Bearer(token) => token.expose(),
            Authorization::Basic { .. } => panic!("expected a bearer token, got {auth:?}"),
        }
    }

    fn token(access: &str, expires_in: i64, refresh: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access,
            "expires_in": expires_in,
            "refresh_token": refresh,
            "token_type": "bearer",
        }))
    }

    #[test]
    fn refreshes_a_minute_before_a_long_lived_token_ends() {
        assert_eq!(
            refresh_at(t0(), Some(3600)),
            Some(t0() + TimeDelta::seconds(3540))
        );
    }

    #[test]
    fn refreshes_a_short_lived_token_half_way() {
        assert_eq!(
            refresh_at(t0(), Some(60)),
            Some(t0() + TimeDelta::seconds(30))
        );
        assert_eq!(
            refresh_at(t0(), Some(1)),
            Some(t0() + TimeDelta::seconds(1))
        );
    }

    #[test]
    fn keeps_a_token_without_a_lifetime_until_refused() {
        assert_eq!(refresh_at(t0(), None), None);
        assert_eq!(refresh_at(t0(), Some(0)), None);
        assert_eq!(refresh_at(t0(), Some(-1)), None);
    }

    #[tokio::test]
    async fn basic_credentials_go_out_as_they_are_and_are_never_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("never", 3600, "never"))
            .expect(0)
            .mount(&server)
            .await;
        let auth = authenticator(Credentials::basic("ann", "pw"));
        let clock = ManualClock::new(t0());
        let got = auth.authorization(&client(&server), &clock).await.unwrap();
        let Authorization::Basic { username, password } = &got else {
            panic!("expected basic, got {got:?}");
        };
        assert_eq!((username.as_str(), password.expose()), ("ann", "pw"));
        assert!(!auth.refused(&got).await);
        assert_eq!(auth.refreshes(), 0);
    }

    #[tokio::test]
    async fn uses_a_configured_access_token_without_refreshing() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("never", 3600, "never"))
            .expect(0)
            .mount(&server)
            .await;
        let auth = authenticator(oauth(Some("given")));
        let clock = ManualClock::new(t0());
        let got = auth.authorization(&client(&server), &clock).await.unwrap();
        assert_eq!(bearer(&got), "given");
        assert_eq!(auth.refreshes(), 0);
    }

    #[tokio::test]
    async fn refreshes_once_and_again_when_due_with_the_rotated_refresh_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains("refresh_token=r1"))
            .respond_with(token("a1", 3600, "r2"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(body_string_contains("refresh_token=r2"))
            .respond_with(token("a2", 3600, ""))
            .expect(1)
            .mount(&server)
            .await;
        let auth = authenticator(oauth(None));
        let clock = ManualClock::new(t0());
        let client = client(&server);

        let first = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&first), "a1");
        clock.advance(Duration::from_secs(3539));
        let reused = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&reused), "a1");
        assert_eq!(auth.refreshes(), 1);

        clock.advance(Duration::from_secs(1));
        let due = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&due), "a2");
        assert_eq!(auth.refreshes(), 2);
    }

    /// Records what it is asked to store; fails while `fail` is set.
    #[derive(Default)]
    struct Recorder {
        saved: std::sync::Mutex<Vec<(String, String)>>,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl CredentialWriter for Recorder {
        async fn save_rotated(
            &self,
            r: &RotatedRefreshToken,
        ) -> Result<(), tributary_core::CredentialWriteError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(tributary_core::CredentialWriteError("disk full".into()));
            }
            assert_eq!((r.provider, r.client_id.as_str()), ("jive", "client"));
            self.saved.lock().unwrap().push((
                r.previous.expose().to_owned(),
                r.current.expose().to_owned(),
            ));
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_is_stored_before_use_and_a_failed_write_fails_the_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("refresh_token=r1"))
            .respond_with(token("a1", 3600, "r2"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(body_string_contains("refresh_token=r2"))
            .respond_with(token("a2", 3600, "r3"))
            .expect(1)
            .mount(&server)
            .await;
        let recorder = Arc::new(Recorder::default());
        recorder.fail.store(true, Ordering::SeqCst);
        let mut auth = authenticator(oauth(None));
        auth.set_writer(recorder.clone());
        let clock = ManualClock::new(t0());
        let client = client(&server);

        let e = auth.authorization(&client, &clock).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "jive: could not store the rotated refresh token: disk full; the next poll refreshes again"
        );
        assert!(matches!(
            ProviderError::from(e),
            ProviderError::Transient { .. }
        ));
        assert_eq!(recorder.saved.lock().unwrap().len(), 0);

        // The next request refreshes with the rotated token (kept in memory), and stores the
        // newer one in place of the token still stored.
        recorder.fail.store(false, Ordering::SeqCst);
        let got = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&got), "a2");
        assert_eq!(
            *recorder.saved.lock().unwrap(),
            vec![("r1".to_owned(), "r3".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_on_the_next_request() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(token("fresh", -1, "r1"))
            .expect(1)
            .mount(&server)
            .await;
        let auth = authenticator(oauth(Some("stale")));
        let clock = ManualClock::new(t0());
        let client = client(&server);

        let stale = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&stale), "stale");
        assert!(auth.refused(&stale).await);
        let fresh = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&fresh), "fresh");

        // A token without a lifetime is kept however long it lives, and a late refusal of the
        // old token does not throw the new one away.
        clock.advance(Duration::from_secs(86_400));
        assert!(auth.refused(&stale).await);
        let kept = auth.authorization(&client, &clock).await.unwrap();
        assert_eq!(bearer(&kept), "fresh");
        assert_eq!(auth.refreshes(), 1);
    }
}
