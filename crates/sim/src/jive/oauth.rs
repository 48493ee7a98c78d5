//! Authentication: Basic `user:password` and OAuth 2.0 bearer tokens, and `POST /oauth2/token`
//! (the `password`, `authorization_code` and `refresh_token` grants; notes §5).

use crate::oauth::{GrantError, required};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// How long an authorization code stays valid.
const CODE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);

/// The answer of a successful grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
}

/// The form `POST /oauth2/token` takes. Client credentials may also come in the form
/// (`client_id`, `client_secret`) when there is no `Authorization: Basic` header.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenRequest {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub code: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// How Jive words a refused grant's `error_description`.
pub(crate) fn describe(e: GrantError) -> String {
    match e {
        GrantError::InvalidRequest(what) | GrantError::InvalidGrant(what) => what.to_owned(),
        GrantError::InvalidClient => "Client authentication failed".to_owned(),
        GrantError::UnsupportedGrantType => {
            "Only password, authorization_code and refresh_token grants are supported".to_owned()
        }
    }
}

/// Why a resource call is not authenticated (all `401`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("Authentication is required: use Basic or Bearer credentials")]
    Missing,
    #[error("Invalid username or password")]
    BadPassword,
    #[error("Invalid access token")]
    UnknownToken,
    #[error("The access token has expired")]
    Expired,
}

/// Who is calling: the user, and the credential throttling counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub user: String,
    pub credential: String,
}

#[derive(Debug, Clone)]
struct Access {
    user: String,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub(crate) struct Auth {
    user: String,
    password: String,
    client_id: String,
    client_secret: String,
    pub lifetime: Duration,
    /// Each refresh answers a new refresh token and voids the one it was given. Jive documents
    /// long-lived refresh tokens (notes §5) and no rotation, but its token endpoint is RFC 6749's,
    /// whose §6 allows it: for testing that a client keeps the newest one. Off by default.
    pub rotate_refresh: bool,
    tokens: HashMap<String, Access>,
    /// Refresh token → user. They live ~10 years: here, forever.
    refresh: HashMap<String, String>,
    /// Code → (user, expiry). Single use.
    codes: HashMap<String, (String, DateTime<Utc>)>,
    rng: fastrand::Rng,
}

impl Auth {
    pub fn new(config: &super::JiveSimConfig, seed: u64) -> Self {
        Self {
            user: config.user.clone(),
            password: config.password.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            lifetime: config.token_lifetime,
            rotate_refresh: false,
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub fn is_user(&self, user: &str) -> bool {
        user == self.user
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(
        &self,
        header: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Caller, AuthError> {
        let (scheme, value) = header
            .and_then(|h| h.trim().split_once(' '))
            .ok_or(AuthError::Missing)?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let (user, password) = decode_basic(value).ok_or(AuthError::BadPassword)?;
            if user == self.user && password == self.password {
                return Ok(Caller {
                    credential: format!("basic:{user}"),
                    user,
                });
            }
            return Err(AuthError::BadPassword);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let access = self.tokens.get(value).ok_or(AuthError::UnknownToken)?;
            if access.expires_at.is_some_and(|e| now >= e) {
                return Err(AuthError::Expired);
            }
            return Ok(Caller {
                user: access.user.clone(),
                credential: format!("bearer:{value}"),
            });
        }
        Err(AuthError::Missing)
    }

    pub fn add_token(&mut self, token: &str, user: &str, expires_at: Option<DateTime<Utc>>) {
        self.tokens.insert(
            token.to_owned(),
            Access {
                user: user.to_owned(),
                expires_at,
            },
        );
    }

    pub fn mint_code(&mut self, user: &str, now: DateTime<Utc>) -> String {
        let code = self.random(20);
        self.codes
            .insert(code.clone(), (user.to_owned(), now + CODE_LIFETIME));
        code
    }

    /// Handles one token request; `basic` is the `Authorization` header, if any.
    pub fn grant(
        &mut self,
        basic: Option<&str>,
        req: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, GrantError> {
        let client = basic
            .and_then(|h| h.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, v)| decode_basic(v.trim()))
            .or_else(|| Some((req.client_id.clone()?, req.client_secret.clone()?)));
        match client {
            Some((id, secret)) if id == self.client_id && secret == self.client_secret => {}
            _ => return Err(GrantError::InvalidClient),
        }
        let user = match req.grant_type.as_deref() {
            Some("password") => {
                let (Some(user), Some(password)) = (&req.username, &req.password) else {
                    return Err(GrantError::InvalidRequest(
                        "username and password are required",
                    ));
                };
                if *user != self.user || *password != self.password {
                    return Err(GrantError::InvalidGrant("Bad credentials"));
                }
                user.clone()
            }
            Some("authorization_code") => {
                let code = required(&req.code, "code is required")?;
                match self.codes.remove(code) {
                    Some((user, expires)) if now < expires => user,
                    _ => return Err(GrantError::InvalidGrant("Bad authorization code")),
                }
            }
            Some("refresh_token") => {
                let token = required(&req.refresh_token, "refresh_token is required")?;
                let user = self
                    .refresh
                    .get(token)
                    .cloned()
                    .ok_or(GrantError::InvalidGrant("Bad refresh token"))?;
                let access = self.issue_access(&user, now);
                let refresh_token = if self.rotate_refresh {
                    self.refresh.remove(token);
                    let rotated = self.random(40);
                    self.refresh.insert(rotated.clone(), user);
                    rotated
                } else {
                    token.to_owned()
                };
                return Ok(TokenResponse {
                    access_token: access,
                    refresh_token,
                    token_type: "bearer".to_owned(),
                    expires_in: self.lifetime.as_secs(),
                });
            }
            Some(_) => return Err(GrantError::UnsupportedGrantType),
            None => return Err(GrantError::InvalidRequest("grant_type is required")),
        };
        let access_token = self.issue_access(&user, now);
        let refresh_token = self.random(40);
        self.refresh.insert(refresh_token.clone(), user);
        Ok(TokenResponse {
            access_token,
            refresh_token,
            token_type: "bearer".to_owned(),
            expires_in: self.lifetime.as_secs(),
        })
    }

    fn issue_access(&mut self, user: &str, now: DateTime<Utc>) -> String {
        let token = self.random(32);
        let expires_at = chrono::Duration::from_std(self.lifetime)
            .ok()
            .and_then(|l| now.checked_add_signed(l));
        self.add_token(&token, user, expires_at);
        token
    }

    fn random(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        crate::random::string(&mut self.rng, ALPHABET, len)
    }
}

/// `base64(user:password)` → the pair.
fn decode_basic(value: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(value).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
