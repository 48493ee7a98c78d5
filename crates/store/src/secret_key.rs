//! The keys credentials are sealed under at rest: where they come from (base64 text, a key file,
//! a key file generated on first start) and the id a sealed value names its key by.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The length of a key, in bytes (XChaCha20-Poly1305 takes 256-bit keys).
pub const KEY_LEN: usize = 32;

/// The name of the key file generated in the data directory when no key is configured.
pub const DEFAULT_KEY_FILE: &str = "secret.key";

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("{origin}: not base64 ({reason}); expected the standard base64 of {KEY_LEN} bytes")]
    Encoding { origin: String, reason: String },
    #[error(
        "{origin}: the key is {found} bytes long; expected exactly {KEY_LEN} (the standard base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    Length { origin: String, found: usize },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no random bytes for a new key: {0}")]
    Random(String),
}

/// Which key sealed a value: the first 4 bytes of SHA-256 over the key, in hex. Tells nothing
/// useful of the key; lets a store say which key it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    pub(crate) fn parse(text: &str) -> Option<KeyId> {
        if text.len() != 8 {
            return None;
        }
        let mut out = [0u8; 4];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(KeyId(out))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A 256-bit key. `Debug` shows its id only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
    id: KeyId,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id)
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"tributary key id\0")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(&digest[..4]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// A new random key.
    pub fn generate() -> Result<Self, SecretKeyError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| SecretKeyError::Random(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A key given as the standard base64 of 32 bytes (surrounding whitespace ignored); `origin`
    /// names where it came from in errors (`TRIBUTARY_SECRET_KEY`, a file).
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, SecretKeyError> {
        let decoded = STANDARD
            .decode(text.trim())
            .map_err(|e| SecretKeyError::Encoding {
                origin: origin.to_owned(),
                reason: e.to_string(),
            })?;
        let bytes: [u8; KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| SecretKeyError::Length {
                    origin: origin.to_owned(),
                    found: decoded.len(),
                })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as a key file or `TRIBUTARY_SECRET_KEY` holds it.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Reads a key file (the base64 of the key, a newline allowed). A file others may read is
    /// used, with a warning.
    pub fn load(path: &Path) -> Result<Self, SecretKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    key_file = %path.display(),
                    mode = format!("{mode:o}"),
                    "the secret key file is readable by others than its owner; chmod 600 it"
                );
            }
        }
        Self::from_base64(&text, &format!("key file {}", path.display()))
    }

    /// Reads the key file at `path`, or creates it (mode 0600, never over an existing file) with
    /// a new random key. Says whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretKeyError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let key = Self::generate()?;
        let io = |source| SecretKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io)?;
        writeln!(file, "{}", key.to_base64()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok((key, true))
    }
}

/// The key values are sealed under, and the one they were sealed under before a rotation: a
/// value sealed under `previous` is read, and re-sealed under `current` when the store opens.
#[derive(Debug, Clone)]
pub struct SecretKeys {
    pub current: SecretKey,
    pub previous: Option<SecretKey>,
}

impl SecretKeys {
    pub fn new(current: SecretKey) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    pub fn with_previous(mut self, previous: Option<SecretKey>) -> Self {
        self.previous = previous.filter(|p| p.id != self.current.id);
        self
    }

    /// The key of `id`, if it is one of these.
    pub(crate) fn by_id(&self, id: KeyId) -> Option<&SecretKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
    }
}

/// The default key file of a data directory.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join(DEFAULT_KEY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_base64_of_exactly_32_bytes() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_base64(&format!(" {}\n", key.to_base64()), "test").unwrap();
        assert_eq!(again, key);
        assert_eq!(key.id().to_string().len(), 8);
        assert_eq!(KeyId::parse(&key.id().to_string()), Some(key.id()));
        let short = SecretKey::from_base64(&STANDARD.encode([7u8; 16]), "TRIBUTARY_SECRET_KEY")
            .unwrap_err();
        assert_eq!(
            short.to_string(),
            "TRIBUTARY_SECRET_KEY: the key is 16 bytes long; expected exactly 32 (the standard \
             base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`)"
        );
        let bad = SecretKey::from_base64("not base64!", "TRIBUTARY_SECRET_KEY").unwrap_err();
        assert!(
            bad.to_string()
                .starts_with("TRIBUTARY_SECRET_KEY: not base64 ("),
            "{bad}"
        );
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn creates_a_key_file_readable_by_its_owner_only_and_reads_it_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = default_key_file(dir.path());
        let (key, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again, key);
    }
}
