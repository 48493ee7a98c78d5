//! An OAuth 2.0 access token kept fresh with the refresh-token grant (RFC 6749 §6), through a
//! provider's [`Exchange`] (so through the address guard and the poll's budget).
//!
//! Rules ([`TokenCache`]):
//! - A token with a lifetime (`expires_in > 0`) is refreshed `min(60 s, lifetime / 2)` before it
//!   ends ([`refresh_at`]); a token without one (`expires_in` `-1`, `0` or absent) is used until
//!   the upstream answers `401`, after which ([`TokenCache::refused`]) the next request
//!   refreshes.
//! - One refresh at a time: callers wait on one async mutex, and who comes second finds the new
//!   token. Sources that share a credential share one cache (Egnyte), so they never race.
//! - A refresh answer may carry a new refresh token (§6: the client must then discard the old
//!   one, which the server may revoke). It is handed to the [`CredentialWriter`] and the access
//!   token of that answer is used only once it is stored: a failed write fails the request (the
//!   poll), and the next one refreshes again with the new token (kept in memory), so it is never
//!   lost silently.
//!
//! Why not the `oauth2` crate: see the commit that added this module. In short, it costs a
//! second set of RustCrypto crates (sha2 0.10, rand 0.8) or a second reqwest, and its token
//! answer refuses what these upstreams send (`expires_in: -1`, `text/plain`), while the failure
//! path loses the headers a `Retry-After` is in.

use crate::factory::ClientAuth;
use crate::failure::Failure;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use tributary_core::{Clock, CredentialWriteError, CredentialWriter, RotatedRefreshToken, Secret};
use tributary_http::{Exchange, ExchangeError, Reply, excerpt};

/// Where and as whom the refresh-token grant is made.
#[derive(Debug, Clone)]
pub struct RefreshGrant {
    /// The provider's name, for [`RotatedRefreshToken::provider`] and messages (`jive`).
    pub provider: &'static str,
    /// The token endpoint (`https://acme.jive.example/oauth2/token`).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    /// Statuses the token endpoint throttles with besides `429` (Egnyte: `409`).
    pub throttle_statuses: Vec<u16>,
}

impl RefreshGrant {
    /// `POST /path` of the token URL, as messages name it.
    fn endpoint(&self) -> String {
        let path = reqwest::Url::parse(&self.token_url)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| excerpt(self.token_url.as_bytes()));
        format!("POST {path}")
    }
}

/// An access token and when to replace it (`None`: when it is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: Secret,
    pub refresh_at: Option<DateTime<Utc>>,
}

/// The token a request is to carry, and whether getting it took a refresh (for a source's
/// count of refreshes: one cache may serve several sources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    pub token: Secret,
    pub refreshed: bool,
}

/// Why no access token could be had. [`RefreshError::failure`] says how the scheduler reacts.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{endpoint}: {source}")]
    Exchange {
        endpoint: String,
        source: ExchangeError,
    },
    #[error(
        "{endpoint}: answered {status}, a redirect; redirects are not followed (check the token URL)"
    )]
    Redirect { endpoint: String, status: u16 },
    /// The grant was refused (`invalid_grant`, `invalid_client`, …): an operator must act.
    #[error("{endpoint}: credentials refused ({status}): {message}")]
    Refused {
        endpoint: String,
        status: u16,
        /// The RFC 6749 `error` code, when the body has one.
        code: Option<String>,
        message: String,
    },
    #[error("{endpoint}: the token endpoint throttled the refresh ({status}){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    Throttled {
        endpoint: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{endpoint}: server error {status}: {message}")]
    Server {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: unexpected answer: {detail}")]
    Malformed { endpoint: String, detail: String },
    /// The upstream rotated the refresh token and it could not be stored.
    #[error("{provider}: {source}; the next poll refreshes again")]
    CredentialWrite {
        provider: &'static str,
        source: CredentialWriteError,
    },
}

impl RefreshError {
    pub fn failure(&self) -> Failure {
        match self {
            RefreshError::Exchange { source, .. } => Failure::from(source),
            RefreshError::Redirect { .. } => Failure::Fatal,
            RefreshError::Refused { .. } => Failure::Auth,
            RefreshError::Throttled { retry_after, .. } => Failure::Throttled {
                retry_after: *retry_after,
            },
            RefreshError::Server { .. }
            | RefreshError::Malformed { .. }
            | RefreshError::CredentialWrite { .. } => Failure::Transient,
        }
    }
}

impl From<RefreshError> for tributary_core::ProviderError {
    fn from(e: RefreshError) -> Self {
        e.failure().into_error(e.to_string())
    }
}

impl From<&ExchangeError> for Failure {
    /// A forbidden address will not pass by retrying; everything else may.
    fn from(e: &ExchangeError) -> Self {
        match e {
            ExchangeError::NotAllowed(_) => Failure::Fatal,
            ExchangeError::Timeout { .. }
            | ExchangeError::PollBound(_)
            | ExchangeError::Request { .. }
            | ExchangeError::TooLarge(_) => Failure::Transient,
        }
    }
}

#[derive(Debug)]
struct State {
    access: Option<AccessToken>,
    /// The refresh token in use.
    refresh_token: Secret,
    /// The refresh token as last stored: differs from `refresh_token` only while storing a
    /// rotated one failed.
    stored_refresh_token: Secret,
}

/// One credential's access token, refreshed when due (see the module doc).
#[derive(Debug)]
pub struct TokenCache {
    grant: RefreshGrant,
    state: tokio::sync::Mutex<State>,
}

impl TokenCache {
    /// A cache starting from the stored `refresh_token` and, when one is known, an access token.
    pub fn new(grant: RefreshGrant, refresh_token: Secret, access: Option<AccessToken>) -> Self {
        Self {
            grant,
            state: tokio::sync::Mutex::new(State {
                access,
                refresh_token: refresh_token.clone(),
                stored_refresh_token: refresh_token,
            }),
        }
    }

    pub fn grant(&self) -> &RefreshGrant {
        &self.grant
    }

    /// The token for the next request, refreshed first when it is due (or was refused). A
    /// rotated refresh token goes to `writer` before the new access token is returned.
    pub async fn access_token(
        &self,
        exchange: &Exchange,
        writer: &dyn CredentialWriter,
        clock: &dyn Clock,
    ) -> Result<Fresh, RefreshError> {
        let mut state = self.state.lock().await;
        let now = clock.now();
        if let Some(access) = &state.access
            && access.refresh_at.is_none_or(|at| now < at)
        {
            return Ok(Fresh {
                token: access.token.clone(),
                refreshed: false,
            });
        }
        let answer = self.refresh(exchange, &state.refresh_token, now).await?;
        if let Some(rotated) = answer
            .refresh_token
            .filter(|r| !r.is_empty() && r != state.stored_refresh_token.expose())
        {
            let rotation = RotatedRefreshToken {
                provider: self.grant.provider,
                client_id: self.grant.client_id.clone(),
                previous: state.stored_refresh_token.clone(),
                current: Secret::new(rotated),
            };
            // The old token may be void already: the new one is kept for the next try, and no
            // access token from this answer is used before the new refresh token is stored.
            state.refresh_token = rotation.current.clone();
            state.access = None;
            if let Err(source) = writer.save_rotated(&rotation).await {
                tracing::error!(
                    provider = self.grant.provider,
                    error = %source,
                    "the upstream rotated the refresh token and storing it failed; the poll fails and the next one tries again"
                );
                return Err(RefreshError::CredentialWrite {
                    provider: self.grant.provider,
                    source,
                });
            }
            state.stored_refresh_token = rotation.current;
        }
        let token = Secret::new(answer.access_token);
        state.access = Some(AccessToken {
            token: token.clone(),
            refresh_at: refresh_at(now, answer.expires_in),
        });
        tracing::info!(
            provider = self.grant.provider,
            expires_in = ?answer.expires_in,
            "refreshed the access token"
        );
        Ok(Fresh {
            token,
            refreshed: true,
        })
    }

    /// Forgets `refused` (answered `401`), so the next [`access_token`](Self::access_token)
    /// refreshes. A late refusal of a token already replaced leaves the new one alone.
    pub async fn refused(&self, refused: &Secret) {
        let mut state = self.state.lock().await;
        if state.access.as_ref().is_some_and(|a| &a.token == refused) {
            state.access = None;
        }
    }

    /// `POST token_url` with `grant_type=refresh_token`, and its answer read.
    async fn refresh(
        &self,
        exchange: &Exchange,
        refresh_token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<TokenAnswer, RefreshError> {
        let grant = &self.grant;
        let endpoint = grant.endpoint();
        let req = token_request(
            exchange.client(),
            &grant.token_url,
            grant.client_auth,
            (&grant.client_id, grant.client_secret.expose()),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        );
        let reply = exchange
            .send(req)
            .await
            .map_err(|source| RefreshError::Exchange {
                endpoint: endpoint.clone(),
                source,
            })?;
        if reply.status.is_success() {
            return TokenAnswer::parse(&reply.body)
                .map_err(|detail| RefreshError::Malformed { endpoint, detail });
        }
        Err(refusal(grant, endpoint, &reply, now))
    }
}

/// What a failed refresh answer means.
fn refusal(
    grant: &RefreshGrant,
    endpoint: String,
    reply: &Reply,
    now: DateTime<Utc>,
) -> RefreshError {
    let status = reply.status.as_u16();
    let (message, code) = oauth_error(&reply.body);
    if grant.throttle_statuses.contains(&status) {
        return RefreshError::Throttled {
            endpoint,
            status,
            retry_after: tributary_http::retry_after_header(&reply.headers, now),
        };
    }
    match (status, crate::failure::classify(reply, now)) {
        (300..=399, _) => RefreshError::Redirect { endpoint, status },
        (_, Failure::Throttled { retry_after }) => RefreshError::Throttled {
            endpoint,
            status,
            retry_after,
        },
        (_, Failure::Transient) => RefreshError::Server {
            endpoint,
            status,
            message,
        },
        // Any other refusal of the grant (RFC 6749 §5.2 answers 400 or 401) needs an operator.
        (_, Failure::Auth | Failure::Fatal) => RefreshError::Refused {
            endpoint,
            status,
            code,
            message,
        },
    }
}

/// An RFC 6749 §5.2 error body as `code: description` (and the code), else the body's excerpt.
pub fn oauth_error(body: &[u8]) -> (String, Option<String>) {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(|c| excerpt(c.as_bytes()));
    let Some(code) = code else {
        return (excerpt(body), None);
    };
    let description = parsed
        .as_ref()
        .and_then(|v| v.get("error_description"))
        .and_then(Value::as_str)
        .map(|d| excerpt(d.as_bytes()));
    let message = match description {
        Some(d) => format!("{code}: {d}"),
        None => code.clone(),
    };
    (message, Some(code))
}

/// When a token obtained at `now` that lives `expires_in` seconds is due for a refresh:
/// `min(60 s, lifetime / 2)` before it ends, or never (until refused) without a lifetime.
pub fn refresh_at(now: DateTime<Utc>, expires_in: Option<i64>) -> Option<DateTime<Utc>> {
    expires_in.filter(|s| *s > 0).map(|lifetime| {
        let margin = (lifetime / 2).min(60);
        now + TimeDelta::seconds(lifetime - margin)
    })
}

/// A token request (RFC 6749 §4.1.3 for a code, §6 for a refresh): `form` posted to
/// `token_url`, the client `(id, secret)` authenticated as `client_auth` (§2.3.1). The refresh
/// here and the server's code exchange both build theirs with it.
pub fn token_request(
    client: &reqwest::Client,
    token_url: &str,
    client_auth: ClientAuth,
    (client_id, client_secret): (&str, &str),
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let request = client.post(token_url);
    match client_auth {
        ClientAuth::Basic => request
            .basic_auth(client_id, Some(client_secret))
            .form(form),
        ClientAuth::Form => {
            let mut form = form.to_vec();
            form.push(("client_id", client_id));
            form.push(("client_secret", client_secret));
            request.form(&form)
        }
    }
}

/// The token endpoint's answer (RFC 6749 §5.1), read whatever its `Content-Type` (Egnyte
/// sometimes says `text/plain`); `expires_in` may be a number, a text or `-1`.
#[derive(Debug)]
pub struct TokenAnswer {
    pub access_token: String,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
}

impl TokenAnswer {
    /// The answer in `body`, or why it is not usable.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            access_token: Option<Value>,
            expires_in: Option<Value>,
            refresh_token: Option<Value>,
        }
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| format!("{e}; body: {}", excerpt(body)))?;
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let access_token = text(raw.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "the token answer has no access_token".to_owned())?;
        let expires_in = match raw.expires_in {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Ok(Self {
            access_token,
            expires_in,
            refresh_token: text(raw.refresh_token),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tributary_core::{ManualClock, NoCredentialWriter, ProviderError};
    use tributary_http::{AddressPolicy, Outbound, PollBudget, PollLimits};
    use wiremock::matchers::{body_string, body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_714_554_902_511).unwrap()
    }

    fn exchange(clock: Arc<ManualClock>) -> Exchange {
        let limits = PollLimits {
            max_requests: 100,
            max_time: Duration::from_secs(3_600 * 24 * 365),
        };
        Exchange::new(
            Outbound::new(AddressPolicy::loopback()).unwrap(),
            Duration::from_secs(5),
            64 * 1024,
            PollBudget::new(limits, clock),
        )
    }

    fn grant(server: &MockServer, client_auth: ClientAuth) -> RefreshGrant {
        RefreshGrant {
            provider: "jive",
            token_url: format!("{}/oauth2/token", server.uri()),
            client_id: "client".into(),
            client_secret: Secret::new("shh"),
            client_auth,
            throttle_statuses: vec![409],
        }
    }

    fn cache(server: &MockServer, access: Option<&str>) -> TokenCache {
        TokenCache::new(
            grant(server, ClientAuth::Basic),
            Secret::new("r1"),
            access.map(|t| AccessToken {
                token: Secret::new(t),
                refresh_at: None,
            }),
        )
    }

    fn token(access: &str, expires_in: Value, refresh: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access, "expires_in": expires_in,
            "refresh_token": refresh, "token_type": "bearer",
        }))
    }

    struct Setup {
        server: MockServer,
        clock: Arc<ManualClock>,
        exchange: Exchange,
    }

    async fn setup() -> Setup {
        let server = MockServer::start().await;
        let clock = Arc::new(ManualClock::new(t0()));
        let exchange = exchange(clock.clone());
        Setup {
            server,
            clock,
            exchange,
        }
    }

    impl Setup {
        async fn get(&self, cache: &TokenCache) -> Result<Fresh, RefreshError> {
            cache
                .access_token(&self.exchange, &NoCredentialWriter, self.clock.as_ref())
                .await
        }
    }

    #[test]
    fn refreshes_a_minute_before_a_long_lived_token_ends_and_short_ones_half_way() {
        assert_eq!(
            refresh_at(t0(), Some(3600)),
            Some(t0() + TimeDelta::seconds(3540))
        );
        assert_eq!(
            refresh_at(t0(), Some(60)),
            Some(t0() + TimeDelta::seconds(30))
        );
        assert_eq!(
            refresh_at(t0(), Some(1)),
            Some(t0() + TimeDelta::seconds(1))
        );
        for none in [None, Some(0), Some(-1)] {
            assert_eq!(refresh_at(t0(), none), None, "{none:?}");
        }
    }

    #[test]
    fn token_answers_are_read_leniently() {
        let t = TokenAnswer::parse(br#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
        assert_eq!((t.access_token.as_str(), t.expires_in), ("a", Some(3600)));
        let t = TokenAnswer::parse(br#"{"access_token":"a","expires_in":-1,"refresh_token":null}"#)
            .unwrap();
        assert_eq!((t.expires_in, t.refresh_token), (Some(-1), None));
        assert_eq!(
            TokenAnswer::parse(br#"{"token_type":"bearer"}"#).unwrap_err(),
            "the token answer has no access_token"
        );
    }

    #[test]
    fn oauth_errors_give_code_and_description() {
        assert_eq!(
            oauth_error(br#"{"error":"invalid_grant","error_description":"Bad refresh token"}"#),
            (
                "invalid_grant: Bad refresh token".to_owned(),
                Some("invalid_grant".to_owned())
            )
        );
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client"}"#).0,
            "invalid_client"
        );
        assert_eq!(
            oauth_error(b" <h1>Bad</h1>\n"),
            ("<h1>Bad</h1>".to_owned(), None)
        );
    }

    #[tokio::test]
    async fn basic_client_auth_sends_the_client_in_the_header() {
        let s = setup().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(header("authorization", "Basic Y2xpZW50OnNoaA=="))
            .and(body_string("grant_type=refresh_token&refresh_token=r1"))
            .respond_with(token("a1", 3600.into(), ""))
            .expect(1)
            .mount(&s.server)
            .await;
        let got = s.get(&cache(&s.server, None)).await.unwrap();
        assert_eq!((got.token.expose(), got.refreshed), ("a1", true));
    }

    #[tokio::test]
    async fn form_client_auth_sends_the_client_in_the_form() {
        let s = setup().await;
        Mock::given(method("POST"))
            .and(body_string(
                "grant_type=refresh_token&refresh_token=r1&client_id=client&client_secret=shh",
            ))
            .respond_with(token("a1", Value::from(-1), ""))
            .expect(1)
            .mount(&s.server)
            .await;
        let cache = TokenCache::new(grant(&s.server, ClientAuth::Form), Secret::new("r1"), None);
        let got = s.get(&cache).await.unwrap();
        assert_eq!(got.token.expose(), "a1");
        let request = &s.server.received_requests().await.unwrap()[0];
        assert!(!request.headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn refreshes_once_and_again_when_due_with_the_rotated_refresh_token() {
        let s = setup().await;
        Mock::given(body_string_contains("refresh_token=r1"))
            .respond_with(token("a1", 3600.into(), "r2"))
            .expect(1)
            .mount(&s.server)
            .await;
        Mock::given(body_string_contains("refresh_token=r2"))
            .respond_with(token("a2", 3600.into(), ""))
            .expect(1)
            .mount(&s.server)
            .await;
        let cache = cache(&s.server, None);
        assert_eq!(s.get(&cache).await.unwrap().token.expose(), "a1");
        s.clock.advance(Duration::from_secs(3539));
        let reused = s.get(&cache).await.unwrap();
        assert_eq!((reused.token.expose(), reused.refreshed), ("a1", false));
        s.clock.advance(Duration::from_secs(1));
        let due = s.get(&cache).await.unwrap();
        assert_eq!((due.token.expose(), due.refreshed), ("a2", true));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let s = setup().await;
        Mock::given(method("POST"))
            .respond_with(token("a1", 3600.into(), "r1").set_delay(Duration::from_millis(50)))
            .expect(1)
            .mount(&s.server)
            .await;
        let cache = cache(&s.server, None);
        let (a, b, c) = tokio::join!(s.get(&cache), s.get(&cache), s.get(&cache));
        let fresh = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert!(fresh.iter().all(|f| f.token.expose() == "a1"));
        assert_eq!(fresh.iter().filter(|f| f.refreshed).count(), 1);
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_and_a_late_refusal_keeps_the_new_one() {
        let s = setup().await;
        Mock::given(method("POST"))
            .respond_with(token("fresh", Value::from(-1), "r1"))
            .expect(1)
            .mount(&s.server)
            .await;
        let cache = cache(&s.server, Some("stale"));
        let stale = s.get(&cache).await.unwrap();
        assert_eq!((stale.token.expose(), stale.refreshed), ("stale", false));
        cache.refused(&stale.token).await;
        assert_eq!(s.get(&cache).await.unwrap().token.expose(), "fresh");
        s.clock.advance(Duration::from_secs(86_400));
        cache.refused(&stale.token).await;
        let kept = s.get(&cache).await.unwrap();
        assert_eq!((kept.token.expose(), kept.refreshed), ("fresh", false));
    }

    /// Records what it is asked to store; fails while `fail` is set.
    #[derive(Default)]
    struct Recorder {
        saved: std::sync::Mutex<Vec<(String, String)>>,
        fail: AtomicBool,
    }

    #[async_trait::async_trait]
    impl CredentialWriter for Recorder {
        async fn save_rotated(&self, r: &RotatedRefreshToken) -> Result<(), CredentialWriteError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(CredentialWriteError("disk full".into()));
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
        let s = setup().await;
        Mock::given(body_string_contains("refresh_token=r1"))
            .respond_with(token("a1", 3600.into(), "r2"))
            .expect(1)
            .mount(&s.server)
            .await;
        Mock::given(body_string_contains("refresh_token=r2"))
            .respond_with(token("a2", 3600.into(), "r3"))
            .expect(1)
            .mount(&s.server)
            .await;
        let recorder = Recorder::default();
        recorder.fail.store(true, Ordering::SeqCst);
        let cache = cache(&s.server, None);
        let e = cache
            .access_token(&s.exchange, &recorder, s.clock.as_ref())
            .await
            .unwrap_err();
        assert_eq!(
            ProviderError::from(e),
            ProviderError::Transient {
                message: "jive: could not store the rotated refresh token: disk full; the next poll refreshes again".into()
            }
        );
        assert!(recorder.saved.lock().unwrap().is_empty());

        recorder.fail.store(false, Ordering::SeqCst);
        let got = cache
            .access_token(&s.exchange, &recorder, s.clock.as_ref())
            .await
            .unwrap();
        assert_eq!(got.token.expose(), "a2");
        assert_eq!(
            *recorder.saved.lock().unwrap(),
            vec![("r1".to_owned(), "r3".to_owned())]
        );
    }

    async fn failed_refresh(answer: ResponseTemplate) -> ProviderError {
        let s = setup().await;
        Mock::given(method("POST"))
            .respond_with(answer)
            .mount(&s.server)
            .await;
        s.get(&cache(&s.server, None)).await.unwrap_err().into()
    }

    #[tokio::test]
    async fn refresh_failures_are_classified_with_excerpts() {
        assert_eq!(
            failed_refresh(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_grant", "error_description": "Bad refresh token"
            })))
            .await,
            ProviderError::Auth {
                message: "POST /oauth2/token: credentials refused (400): invalid_grant: Bad refresh token".into()
            }
        );
        assert_eq!(
            failed_refresh(ResponseTemplate::new(401).set_body_string("no")).await,
            ProviderError::Auth {
                message: "POST /oauth2/token: credentials refused (401): no".into()
            }
        );
        assert_eq!(
            failed_refresh(ResponseTemplate::new(429).insert_header("retry-after", "30")).await,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
                message: "POST /oauth2/token: the token endpoint throttled the refresh (429), retry after 30s".into()
            }
        );
        assert_eq!(
            failed_refresh(ResponseTemplate::new(409)).await,
            ProviderError::RateLimited {
                retry_after: None,
                message: "POST /oauth2/token: the token endpoint throttled the refresh (409)"
                    .into()
            }
        );
        let long = "x".repeat(500);
        assert_eq!(
            failed_refresh(ResponseTemplate::new(502).set_body_string(long)).await,
            ProviderError::Transient {
                message: format!("POST /oauth2/token: server error 502: {}…", "x".repeat(100))
            }
        );
        assert!(matches!(
            failed_refresh(ResponseTemplate::new(200).set_body_string("{")).await,
            ProviderError::Transient { message } if message.starts_with("POST /oauth2/token: unexpected answer: EOF")
        ));
        assert!(matches!(
            failed_refresh(ResponseTemplate::new(302)).await,
            ProviderError::Fatal { .. }
        ));
    }

    #[tokio::test]
    async fn a_refresh_that_times_out_is_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(token("a", 3600.into(), "").set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let clock = Arc::new(ManualClock::new(t0()));
        let exchange = Exchange::new(
            Outbound::new(AddressPolicy::loopback()).unwrap(),
            Duration::from_millis(50),
            1024,
            PollBudget::new(
                PollLimits {
                    max_requests: 10,
                    max_time: Duration::from_secs(60),
                },
                clock.clone(),
            ),
        );
        let e = cache(&server, None)
            .access_token(&exchange, &NoCredentialWriter, clock.as_ref())
            .await
            .unwrap_err();
        assert_eq!(
            ProviderError::from(e),
            ProviderError::Transient {
                message: "POST /oauth2/token: no answer within 50ms".into()
            }
        );
    }
}
