//! Egnyte's limits are per access token (notes §8: 2 calls a second, 1,000 a day), so everything
//! that spends them is shared by all sources using one credential: the request rate limiter, the
//! daily quota Egnyte reports, and (for OAuth) the access token itself, so two sources never race
//! to refresh it.

use crate::config::{Credentials, Secret};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// Egnyte's default: 2 calls a second per token.
pub const DEFAULT_QUOTA: Quota = Quota::per_second(match NonZeroU32::new(2) {
    Some(n) => n,
    None => unreachable!(),
});

/// Which credential a limiter belongs to: a hash of the bearer token, or of the OAuth client id
/// and refresh token. Safe to log; the secret is never kept in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CredentialFingerprint(u64);

impl CredentialFingerprint {
    pub fn of(credentials: &Credentials) -> Self {
        let mut h = DefaultHasher::new();
        match credentials {
            Credentials::Bearer { token } => ("bearer", token.expose()).hash(&mut h),
            Credentials::Oauth {
                client_id,
                refresh_token,
                ..
            } => ("oauth", client_id, refresh_token.expose()).hash(&mut h),
        }
        Self(h.finish())
    }
}

impl fmt::Display for CredentialFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cred-{:016x}", self.0)
    }
}

/// The daily quota as Egnyte last reported it (`X-Accesstoken-Quota-Current` / `-Allotted`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaReport {
    pub used: Option<u64>,
    pub allotted: Option<u64>,
}

/// An OAuth access token and when to replace it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AccessToken {
    pub token: Secret,
    /// Refresh at or after this time; `None` for a token that does not expire.
    pub refresh_at: Option<DateTime<Utc>>,
}

/// The OAuth state of one credential, shared by its sources.
#[derive(Debug)]
pub(crate) struct OAuthState {
    pub access: Option<AccessToken>,
    /// The refresh token in use: Egnyte may hand out a new one with each refresh.
    pub refresh_token: Secret,
    /// The refresh token as last stored (what the stored credentials hold): differs from
    /// `refresh_token` only while storing a rotated one failed.
    pub stored_refresh_token: Secret,
}

/// Everything one credential's sources share.
#[derive(Debug)]
pub struct CredentialState {
    fingerprint: CredentialFingerprint,
    limiter: DefaultDirectRateLimiter,
    quota: Mutex<QuotaReport>,
    pub(crate) oauth: Option<tokio::sync::Mutex<OAuthState>>,
}

impl CredentialState {
    pub fn fingerprint(&self) -> CredentialFingerprint {
        self.fingerprint
    }

    /// The limiter every request with this credential waits on.
    pub fn limiter(&self) -> &DefaultDirectRateLimiter {
        &self.limiter
    }

    pub fn quota(&self) -> QuotaReport {
        *self.quota.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record_quota(&self, used: Option<u64>, allotted: Option<u64>) {
        if used.is_none() && allotted.is_none() {
            return;
        }
        let mut q = self.quota.lock().unwrap_or_else(|p| p.into_inner());
        q.used = used.or(q.used);
        q.allotted = allotted.or(q.allotted);
    }
}

/// One rate limiter (and quota and token) per credential, created once by the engine and given to
/// every Egnyte provider it builds.
///
/// The first source registered with a credential sets its OAuth starting point (`access_token`,
/// expiry); later sources with the same credential share it.
#[derive(Debug)]
pub struct RateLimiters {
    quota: Quota,
    by_credential: Mutex<HashMap<CredentialFingerprint, Arc<CredentialState>>>,
}

impl Default for RateLimiters {
    fn default() -> Self {
        Self::new(DEFAULT_QUOTA)
    }
}

impl RateLimiters {
    /// A registry whose limiters allow `quota` each (Egnyte's default: [`DEFAULT_QUOTA`]).
    pub fn new(quota: Quota) -> Self {
        Self {
            quota,
            by_credential: Mutex::new(HashMap::new()),
        }
    }

    /// The shared state of `credentials`, made on first use.
    pub fn credential(&self, credentials: &Credentials) -> Arc<CredentialState> {
        let fingerprint = CredentialFingerprint::of(credentials);
        let mut map = self.by_credential.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(fingerprint)
            .or_insert_with(|| {
                let oauth = match credentials {
                    Credentials::Bearer { .. } => None,
                    Credentials::Oauth {
                        refresh_token,
                        access_token,
                        access_token_expires_at,
                        ..
                    } => Some(tokio::sync::Mutex::new(OAuthState {
                        access: access_token.clone().map(|token| AccessToken {
                            token,
                            refresh_at: access_token_expires_at
                                .map(|at| at - chrono::Duration::seconds(60)),
                        }),
                        refresh_token: refresh_token.clone(),
                        stored_refresh_token: refresh_token.clone(),
                    })),
                };
                Arc::new(CredentialState {
                    fingerprint,
                    limiter: governor::RateLimiter::direct(self.quota),
                    quota: Mutex::new(QuotaReport::default()),
                    oauth,
                })
            })
            .clone()
    }

    /// How many credentials have a limiter.
    pub fn len(&self) -> usize {
        self.by_credential
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_limiter_per_credential() {
        let limiters = RateLimiters::default();
        let a = limiters.credential(&Credentials::bearer("token-a"));
        let a2 = limiters.credential(&Credentials::bearer("token-a"));
        let b = limiters.credential(&Credentials::bearer("token-b"));
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(limiters.len(), 2);
    }

    #[test]
    fn fingerprints_never_show_the_secret() {
        let c = Credentials::bearer("s3cret-token");
        let shown = CredentialFingerprint::of(&c).to_string();
        assert!(shown.starts_with("cred-") && shown.len() == 21, "{shown}");
        assert!(!shown.contains("s3cret"));
        let oauth = |refresh: &str| Credentials::Oauth {
            client_id: "cid".into(),
            client_secret: Secret::new("cs"),
            refresh_token: Secret::new(refresh),
            access_token: None,
            access_token_expires_at: None,
        };
        assert_eq!(
            CredentialFingerprint::of(&oauth("r1")),
            CredentialFingerprint::of(&oauth("r1"))
        );
        assert_ne!(
            CredentialFingerprint::of(&oauth("r1")),
            CredentialFingerprint::of(&oauth("r2"))
        );
    }

    #[test]
    fn keeps_the_last_reported_quota() {
        let limiters = RateLimiters::default();
        let s = limiters.credential(&Credentials::bearer("t"));
        s.record_quota(Some(12), Some(1000));
        s.record_quota(None, None);
        s.record_quota(Some(13), None);
        assert_eq!(
            s.quota(),
            QuotaReport {
                used: Some(13),
                allotted: Some(1000)
            }
        );
    }
}
