//! Kloudless-style accounts: every source is an account with a numeric id, as the Kloudless SDKs
//! expect, and `me` names the source of a source-scoped key.
//!
//! The number is derived from the source id (the first 53 bits of its SHA-256, never 0), not
//! stored: sources already stored get one without a migration, every node agrees on it, and it
//! never changes while the source id does not. 53 bits keep it exact in a JSON number read as a
//! double (JavaScript's safe integers); two sources of one tenant with the same number (about one
//! chance in 10^8 for a tenant with 10,000 sources) are refused rather than guessed between.

use super::{ApiError, Tenant};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use tributary_core::SourceId;
use tributary_store::EventStore;

/// The numeric id of the account a source is, in the Kloudless-compatible API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountId(u64);

impl AccountId {
    /// The largest id: 2^53 - 1.
    pub const MAX: u64 = (1 << 53) - 1;

    /// The account id of `source`.
    pub fn of(source: &SourceId) -> Self {
        let digest = Sha256::digest(source.as_str().as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self((u64::from_be_bytes(first) & Self::MAX).max(1))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The `{account}` of a request path: `me` or a numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountRef {
    Me,
    Id(AccountId),
}

impl AccountRef {
    pub(crate) fn parse(value: &str) -> Result<Self, ApiError> {
        if value == "me" {
            return Ok(AccountRef::Me);
        }
        match value.parse::<u64>() {
            Ok(n)
                if value.bytes().all(|b| b.is_ascii_digit())
                    && (1..=AccountId::MAX).contains(&n) =>
            {
                Ok(AccountRef::Id(AccountId(n)))
            }
            _ => Err(ApiError::invalid(format!(
                "invalid account {value:?}: expected a numeric account id (1 to {}) or `me`",
                AccountId::MAX
            ))),
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountRef::Me => f.write_str("me"),
            AccountRef::Id(id) => id.fmt(f),
        }
    }
}

/// The source behind `account`, if `tenant` may read it. Blocking: run it on the blocking pool.
pub(crate) fn resolve(
    store: &dyn EventStore,
    tenant: &Tenant,
    account: AccountRef,
) -> Result<(SourceId, AccountId), ApiError> {
    let not_found = || ApiError::AccountNotFound(account.to_string());
    match (account, tenant.source()) {
        (AccountRef::Me, None) => Err(ApiError::invalid(
            "account `me` needs a source-scoped API key (one configured with a `source`); this key \
             is tenant-wide: name the account by its numeric id",
        )),
        (AccountRef::Me, Some(source)) => readable(store, tenant, source)?
            .map(|id| (source.clone(), id))
            .ok_or_else(not_found),
        (AccountRef::Id(wanted), Some(source)) => {
            if AccountId::of(source) != wanted {
                return Err(not_found());
            }
            readable(store, tenant, source)?
                .map(|id| (source.clone(), id))
                .ok_or_else(not_found)
        }
        (AccountRef::Id(wanted), None) => {
            let mut found = store
                .sources()?
                .into_iter()
                .filter(|s| tenant.may_read(s) && AccountId::of(&s.id) == wanted)
                .map(|s| s.id);
            match (found.next(), found.next()) {
                (Some(source), None) => Ok((source, wanted)),
                (None, _) => Err(not_found()),
                (Some(a), Some(b)) => {
                    tracing::error!(account = %wanted, first = a.as_str(), second = b.as_str(),
                        "two sources of one tenant share an account id; rename one");
                    Err(ApiError::Internal)
                }
            }
        }
    }
}

/// The source's account id when it exists and `tenant` may read it.
fn readable(
    store: &dyn EventStore,
    tenant: &Tenant,
    source: &SourceId,
) -> Result<Option<AccountId>, ApiError> {
    Ok(store
        .source(source)?
        .filter(|record| tenant.may_read(record))
        .map(|record| AccountId::of(&record.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_stable_positive_and_json_safe() {
        let a = SourceId::new("egnyte-acme").unwrap();
        let b = SourceId::new("jive-community").unwrap();
        assert_eq!(AccountId::of(&a), AccountId::of(&a.clone()));
        assert_ne!(AccountId::of(&a), AccountId::of(&b));
        for s in [&a, &b] {
            let id = AccountId::of(s).get();
            assert!((1..=AccountId::MAX).contains(&id), "{id}");
        }
        // Pinned: ids are part of the public API and must never change.
        assert_eq!(AccountId::of(&a).get(), 3_683_662_759_948_583);
        assert_eq!(AccountId::of(&b).get(), 6_268_406_339_326_427);
    }

    #[test]
    fn account_refs_are_me_or_a_number() {
        assert_eq!(AccountRef::parse("me").unwrap(), AccountRef::Me);
        assert_eq!(
            AccountRef::parse("42").unwrap(),
            AccountRef::Id(AccountId(42))
        );
        for bad in ["", "0", "-1", "+1", "me2", "1.0", "9007199254740992", "ME"] {
            let e = AccountRef::parse(bad).unwrap_err();
            assert_eq!(e.code(), "invalid_parameter", "{bad:?}");
        }
    }
}
