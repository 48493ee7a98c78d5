//! [`CredentialWriter`]: how a provider hands the engine credentials an upstream replaced (a
//! rotated OAuth refresh token), to be stored durably before the provider uses them.

use crate::Secret;

/// An OAuth refresh token the upstream replaced in a refresh answer. RFC 6749 §6: "The
/// authorization server MAY issue a new refresh token, in which case the client MUST discard the
/// old refresh token and replace it with the new refresh token. The authorization server MAY
/// revoke the old refresh token after issuing a new refresh token to the client." Once that
/// happened, the stored token is void: only the new one keeps the source running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedRefreshToken {
    /// The provider's name (`egnyte`, `jive`): the credentials of its sources are meant.
    pub provider: &'static str,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The refresh token as stored until now (what the credentials to update hold).
    pub previous: Secret,
    /// The refresh token to store in its place.
    pub current: Secret,
}

/// Why a rotated token could not be stored. The provider then fails the poll (a source error)
/// rather than run on a token a restart would lose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not store the rotated refresh token: {0}")]
pub struct CredentialWriteError(pub String);

/// Where a provider writes credentials the upstream replaced. [`save_rotated`] returns once the
/// change is durable (flushed to disk); a provider uses the new token only after it returned
/// `Ok`.
///
/// [`save_rotated`]: CredentialWriter::save_rotated
#[async_trait::async_trait]
pub trait CredentialWriter: Send + Sync {
    async fn save_rotated(&self, rotated: &RotatedRefreshToken)
    -> Result<(), CredentialWriteError>;
}

/// Keeps nothing: for a provider built without a store (tests, tools). A rotated token then
/// lives in memory only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCredentialWriter;

#[async_trait::async_trait]
impl CredentialWriter for NoCredentialWriter {
    async fn save_rotated(&self, _: &RotatedRefreshToken) -> Result<(), CredentialWriteError> {
        Ok(())
    }
}
