//! Access tokens, refresh tokens and authorization codes, and the grants of `/puboauth/token`.

use super::config::{ClientSpec, UserSpec};
use crate::oauth::{GrantError, required};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An authorization code lives this long.
const CODE_LIFETIME_SECS: i64 = 600;

/// How tokens issued by `/puboauth/token` behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum TokenMode {
    /// Egnyte's documented behaviour: tokens never expire, `expires_in: -1`, no refresh token.
    #[default]
    NonExpiring,
    /// Tokens expire after `lifetime_secs` and come with a `refresh_token`.
    Expiring { lifetime_secs: u64 },
}

/// Whom a token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token: String,
    pub user: i64,
    pub client_id: String,
}

#[derive(Debug, Clone)]
struct Token {
    user: i64,
    client_id: String,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Code {
    client_id: String,
    redirect_uri: String,
    user: i64,
    expires_at: DateTime<Utc>,
}

/// The form of `POST /puboauth/token`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<String>,
}

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// How Egnyte words a refused grant's `error_description`: the code, then what went wrong.
pub(crate) fn describe(e: GrantError) -> String {
    match e {
        GrantError::InvalidRequest(what) => format!("invalid_request: {what}"),
        GrantError::InvalidClient => "invalid_client: unknown client or wrong secret".to_owned(),
        GrantError::InvalidGrant(what) => format!("invalid_grant: {what}"),
        GrantError::UnsupportedGrantType => "unsupported_grant_type".to_owned(),
    }
}

#[derive(Debug)]
pub(crate) struct Auth {
    pub mode: TokenMode,
    /// Each refresh answers a new refresh token and voids the one it was given (RFC 6749 §6
    /// allows it; Egnyte documents no rotation, notes §9): for testing that a client keeps the
    /// newest one. Off by default.
    pub rotate_refresh: bool,
    users: Vec<UserSpec>,
    clients: Vec<ClientSpec>,
    tokens: HashMap<String, Token>,
    refresh: HashMap<String, (i64, String)>,
    codes: HashMap<String, Code>,
    rng: fastrand::Rng,
}

impl Auth {
    pub fn new(mode: TokenMode, users: Vec<UserSpec>, clients: Vec<ClientSpec>, seed: u64) -> Self {
        Self {
            mode,
            rotate_refresh: false,
            users,
            clients,
            tokens: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Adds a token acting as `user` through `client_id`, expiring at `expires_at` if given.
    pub fn add_token(
        &mut self,
        token: &str,
        user: i64,
        client_id: &str,
        expires_at: Option<DateTime<Utc>>,
    ) {
        self.tokens.insert(
            token.to_owned(),
            Token {
                user,
                client_id: client_id.to_owned(),
                expires_at,
            },
        );
    }

    /// Revokes an access or refresh token (a password change); returns whether it existed.
    pub fn revoke(&mut self, token: &str) -> bool {
        self.tokens.remove(token).is_some() | self.refresh.remove(token).is_some()
    }

    /// The caller behind `token`, if it exists and has not expired at `now`.
    pub fn caller(&self, token: &str, now: DateTime<Utc>) -> Option<Caller> {
        let t = self.tokens.get(token)?;
        if t.expires_at.is_some_and(|at| now >= at) {
            return None;
        }
        Some(Caller {
            token: token.to_owned(),
            user: t.user,
            client_id: t.client_id.clone(),
        })
    }

    /// Mints a single-use authorization code for `user` authorizing `client_id`.
    pub fn mint_code(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        user: i64,
        now: DateTime<Utc>,
    ) -> String {
        let code = self.random_string(20);
        let expires_at = now + Duration::seconds(CODE_LIFETIME_SECS);
        self.codes.insert(
            code.clone(),
            Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                user,
                expires_at,
            },
        );
        code
    }

    pub fn user_exists(&self, user: i64) -> bool {
        self.users.iter().any(|u| u.id == user)
    }

    pub fn client_exists(&self, client_id: &str) -> bool {
        self.clients.iter().any(|c| c.client_id == client_id)
    }

    /// Runs one grant of the token endpoint.
    pub fn grant(
        &mut self,
        req: &TokenRequest,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, GrantError> {
        let grant_type = required(&req.grant_type, "grant_type is missing")?;
        let client_id = required(&req.client_id, "client_id is missing")?;
        let client = self
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
            .ok_or(GrantError::InvalidClient)?;
        if req.client_secret.as_deref() != Some(client.client_secret.as_str()) {
            return Err(GrantError::InvalidClient);
        }
        let user = match grant_type {
            "password" => {
                let username = required(&req.username, "username is missing")?;
                let password = required(&req.password, "password is missing")?;
                let user = self
                    .users
                    .iter()
                    .find(|u| u.username == username && u.password == password);
                user.ok_or(GrantError::InvalidGrant("wrong username or password"))?
                    .id
            }
            "authorization_code" => {
                let code = required(&req.code, "code is missing")?;
                let redirect = required(&req.redirect_uri, "redirect_uri is missing")?;
                let found = self
                    .codes
                    .get(code)
                    .ok_or(GrantError::InvalidGrant("unknown or used code"))?;
                if found.client_id != client_id || found.redirect_uri != redirect {
                    return Err(GrantError::InvalidGrant(
                        "code was issued to another client or redirect_uri",
                    ));
                }
                if now >= found.expires_at {
                    self.codes.remove(code);
                    return Err(GrantError::InvalidGrant("code expired"));
                }
                let user = found.user;
                self.codes.remove(code);
                user
            }
            "refresh_token" => {
                let token = required(&req.refresh_token, "refresh_token is missing")?;
                let (user, owner) = self
                    .refresh
                    .get(token)
                    .ok_or(GrantError::InvalidGrant("unknown refresh token"))?;
                if owner != client_id {
                    return Err(GrantError::InvalidGrant(
                        "refresh token was issued to another client",
                    ));
                }
                let user = *user;
                if self.rotate_refresh {
                    self.refresh.remove(token);
                    return Ok(self.issue(user, client_id.to_owned(), None, now));
                }
                user
            }
            _ => return Err(GrantError::UnsupportedGrantType),
        };
        Ok(self.issue(user, client_id.to_owned(), req.refresh_token.clone(), now))
    }

    /// An implicit-flow token: never expires, whatever the mode.
    pub fn issue_implicit(&mut self, user: i64, client_id: &str) -> String {
        let token = self.random_string(24);
        self.tokens.insert(
            token.clone(),
            Token {
                user,
                client_id: client_id.to_owned(),
                expires_at: None,
            },
        );
        token
    }

    fn issue(
        &mut self,
        user: i64,
        client_id: String,
        refresh: Option<String>,
        now: DateTime<Utc>,
    ) -> TokenResponse {
        let access_token = self.random_string(24);
        match self.mode {
            TokenMode::NonExpiring => {
                self.tokens.insert(
                    access_token.clone(),
                    Token {
                        user,
                        client_id,
                        expires_at: None,
                    },
                );
                TokenResponse {
                    access_token,
                    token_type: "bearer".to_owned(),
                    expires_in: -1,
                    refresh_token: None,
                }
            }
            TokenMode::Expiring { lifetime_secs } => {
                let lifetime = i64::try_from(lifetime_secs).unwrap_or(i64::MAX / 1000);
                let expires_at = now.checked_add_signed(Duration::seconds(lifetime));
                self.tokens.insert(
                    access_token.clone(),
                    Token {
                        user,
                        client_id: client_id.clone(),
                        expires_at,
                    },
                );
                let refresh_token = refresh.unwrap_or_else(|| self.random_string(24));
                self.refresh
                    .insert(refresh_token.clone(), (user, client_id));
                TokenResponse {
                    access_token,
                    token_type: "bearer".to_owned(),
                    expires_in: lifetime,
                    refresh_token: Some(refresh_token),
                }
            }
        }
    }

    fn random_string(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        crate::random::string(&mut self.rng, ALPHABET, len)
    }
}
