//! Egnyte's limits are per access token (notes §8: 2 calls a second, 1,000 a day), so everything
//! that spends them is shared by all sources using one credential: the request rate limiter, the
//! daily quota Egnyte reports, and (for OAuth) the access token itself, so two sources never race
//! to refresh it.

use crate::config::Credentials;
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use tributary_provider_kit::ClientAuth;
use tributary_provider_kit::oauth::{AccessToken, RefreshGrant, TokenCache};

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

/// Everything one credential's sources share.
#[derive(Debug)]
pub struct CredentialState {
    fingerprint: CredentialFingerprint,
    limiter: DefaultDirectRateLimiter,
    quota: Mutex<QuotaReport>,
    /// The OAuth access token (kit's [`TokenCache`]: one refresh at a time, rotations stored).
    pub(crate) oauth: Option<TokenCache>,
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

    /// The shared state of `credentials`, made on first use; `base` is the Egnyte domain its
    /// token endpoint (`/puboauth/token`) is under, as the first source registered says.
    pub fn credential(&self, credentials: &Credentials, base: &str) -> Arc<CredentialState> {
        let fingerprint = CredentialFingerprint::of(credentials);
        let mut map = self.by_credential.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(fingerprint)
            .or_insert_with(|| {
                let oauth = match credentials {
                    Credentials::Bearer { .. } => None,
                    Credentials::Oauth {
                        client_id,
                        client_secret,
                        refresh_token,
                        access_token,
                        access_token_expires_at,
                    } => Some(TokenCache::new(
                        RefreshGrant {
                            provider: "egnyte",
                            token_url: format!("{base}/puboauth/token"),
                            client_id: client_id.clone(),
                            client_secret: client_secret.clone(),
                            client_auth: ClientAuth::Form,
                            // Egnyte's token endpoint throttles with 409 (notes §9).
                            throttle_statuses: vec![409],
                        },
                        refresh_token.clone(),
                        access_token.clone().map(|token| AccessToken {
                            token,
                            refresh_at: access_token_expires_at
                                .map(|at| at - chrono::Duration::seconds(60)),
                        }),
                    )),
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
    use crate::config::Secret;

    const BASE: &str = "https://acme.egnyte.com";

    #[test]
    fn one_limiter_per_credential() {
        let limiters = RateLimiters::default();
        let a = limiters.credential(&Credentials::bearer("token-a"), BASE);
        let a2 = limiters.credential(&Credentials::bearer("token-a"), BASE);
        let b = limiters.credential(&Credentials::bearer("token-b"), BASE);
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
        let s = limiters.credential(&Credentials::bearer("t"), BASE);
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
