//! Kloudless-style accounts: every source is an account with a numeric id, as the Kloudless SDKs
//! expect, and `me` names the source of a source-scoped key.
//!
//! The number is derived from the source's incarnation through the store's secret
//! ([`EventStore::public_source_number`]: the first 53 bits, never 0), not stored: every node
//! agrees on it, it never changes while the source exists, a source deleted and created again
//! with the same id is a new account, and it tells nothing of other tenants. 53 bits keep it
//! exact in a JSON number read as a double (JavaScript's safe integers); two sources of one
//! tenant with the same number (about one chance in 10^8 for a tenant with 10,000 sources) are
//! refused rather than guessed between.

use super::{ApiError, Tenant};
use serde::Serialize;
use std::fmt;
use tributary_core::SourceId;
use tributary_store::{EventStore, SourceRecord};

/// The numeric id of the account a source is, in the Kloudless-compatible API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountId(u64);

impl AccountId {
    /// The largest id: 2^53 - 1.
    pub const MAX: u64 = (1 << 53) - 1;

    /// The account id of the source `record` describes.
    pub fn of(store: &dyn EventStore, record: &SourceRecord) -> Self {
        let n = store.public_source_number(&record.source_ref());
        Self((n & Self::MAX).max(1))
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
                "invalid account {}: expected a numeric account id (1 to {}) or `me`",
                super::request::quote(value),
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
        (AccountRef::Id(wanted), Some(source)) => readable(store, tenant, source)?
            .filter(|id| *id == wanted)
            .map(|id| (source.clone(), id))
            .ok_or_else(not_found),
        (AccountRef::Id(wanted), None) => {
            let mut found = store
                .sources_of(tenant.as_str())?
                .into_iter()
                .filter(|s| AccountId::of(store, s) == wanted)
                .map(|s| s.id);
            match (found.next(), found.next()) {
                (Some(source), None) => Ok((source, wanted)),
                (None, _) => Err(not_found()),
                (Some(a), Some(b)) => {
                    tracing::error!(account = %wanted, first = a.as_str(), second = b.as_str(),
                        "two sources of one tenant share an account id; recreate one");
                    Err(ApiError::Internal)
                }
            }
        }
    }
}

/// Checks that `source` is still the account `id` (its incarnation was not deleted, or deleted
/// and created again, since it was resolved): a read by source id that raced such a change is
/// answered as for an account that does not exist, never with another incarnation's events.
pub(crate) fn still_is(
    store: &dyn EventStore,
    tenant: &Tenant,
    source: &SourceId,
    id: AccountId,
) -> Result<(), ApiError> {
    match readable(store, tenant, source)? {
        Some(now) if now == id => Ok(()),
        _ => Err(ApiError::AccountNotFound(id.to_string())),
    }
}

/// The source's account id when the tenant has it.
fn readable(
    store: &dyn EventStore,
    tenant: &Tenant,
    source: &SourceId,
) -> Result<Option<AccountId>, ApiError> {
    Ok(store
        .source(tenant.as_str(), source)?
        .map(|record| AccountId::of(store, &record)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
