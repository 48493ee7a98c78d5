//! `[secrets]` and `TRIBUTARY_SECRET_KEY{,_PREVIOUS}`: which keys the store seals credentials
//! under (see `tributary_store::SecretKeys`).
//!
//! The current key: `TRIBUTARY_SECRET_KEY` (the standard base64 of 32 bytes), else the file
//! `[secrets] key_file`, else `secret.key` in the data directory, generated (0600) on first start
//! with a warning to back it up. The previous key, read only to re-seal what it sealed:
//! `TRIBUTARY_SECRET_KEY_PREVIOUS`, else `[secrets] previous_key_file`. A variable wins over
//! the file, as variables win over the configuration everywhere else.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use tributary_store::{SecretKey, SecretKeyError, SecretKeys};

/// The variable holding the current key.
pub const KEY_VARIABLE: &str = "TRIBUTARY_SECRET_KEY";
/// The variable holding the previous key.
pub const PREVIOUS_KEY_VARIABLE: &str = "TRIBUTARY_SECRET_KEY_PREVIOUS";

/// `[secrets]`: key files (each the base64 of a 32-byte key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    pub key_file: Option<PathBuf>,
    pub previous_key_file: Option<PathBuf>,
}

/// Where the current key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Variable,
    File(PathBuf),
    /// The data directory's key file, and whether this start generated it.
    Generated {
        path: PathBuf,
        created: bool,
    },
}

impl SecretsSection {
    /// The keys, read from `env` (a variable's value by name) and the files; the data
    /// directory's key file is created when nothing names a key.
    pub fn keys(
        &self,
        data_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(SecretKeys, KeyOrigin), SecretKeyError> {
        let (current, origin) = match (env(KEY_VARIABLE), &self.key_file) {
            (Some(text), _) => (
                SecretKey::from_base64(&text, KEY_VARIABLE)?,
                KeyOrigin::Variable,
            ),
            (None, Some(path)) => (SecretKey::load(path)?, KeyOrigin::File(path.clone())),
            (None, None) => {
                std::fs::create_dir_all(data_dir).map_err(|source| SecretKeyError::Io {
                    path: data_dir.display().to_string(),
                    source,
                })?;
                let path = tributary_store::default_key_file(data_dir);
                let (key, created) = SecretKey::load_or_create(&path)?;
                (key, KeyOrigin::Generated { path, created })
            }
        };
        let previous = match (env(PREVIOUS_KEY_VARIABLE), &self.previous_key_file) {
            (Some(text), _) => Some(SecretKey::from_base64(&text, PREVIOUS_KEY_VARIABLE)?),
            (None, Some(path)) => Some(SecretKey::load(path)?),
            (None, None) => None,
        };
        Ok((SecretKeys::new(current).with_previous(previous), origin))
    }
}

/// Logs where the key came from: a warning when this start generated it.
pub fn log_origin(keys: &SecretKeys, origin: &KeyOrigin) {
    let key_id = keys.current.id();
    match origin {
        KeyOrigin::Variable => {
            tracing::info!(%key_id, "credentials at rest are sealed under the key in {KEY_VARIABLE}");
        }
        KeyOrigin::File(path) => {
            tracing::info!(%key_id, key_file = %path.display(), "credentials at rest are sealed under the key file");
        }
        KeyOrigin::Generated {
            path,
            created: true,
        } => tracing::warn!(
            %key_id,
            key_file = %path.display(),
            "generated a secret key for credentials at rest (no {KEY_VARIABLE}, no [secrets] key_file): back it up and keep it apart from backups of the data; without it the stored credentials cannot be read"
        ),
        KeyOrigin::Generated {
            path,
            created: false,
        } => {
            tracing::info!(%key_id, key_file = %path.display(), "credentials at rest are sealed under the data directory's key file");
        }
    }
    if let Some(previous) = &keys.previous {
        tracing::info!(previous_key_id = %previous.id(), "a previous key is set: what it sealed is re-sealed under the current key");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn generates_a_key_file_in_the_data_dir_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (keys, origin) = SecretsSection::default().keys(&data, &no_env).unwrap();
        let path = data.join("secret.key");
        assert_eq!(
            origin,
            KeyOrigin::Generated {
                path: path.clone(),
                created: true
            }
        );
        let (again, origin) = SecretsSection::default().keys(&data, &no_env).unwrap();
        assert_eq!(
            origin,
            KeyOrigin::Generated {
                path,
                created: false
            }
        );
        assert_eq!(again.current, keys.current);
        assert!(again.previous.is_none());
    }

    #[test]
    fn a_variable_wins_over_the_file_and_a_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (file_key, var_key, old) = (
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
            SecretKey::generate().unwrap(),
        );
        let file = dir.path().join("k");
        std::fs::write(&file, file_key.to_base64()).unwrap();
        let section = SecretsSection {
            key_file: Some(file.clone()),
            previous_key_file: None,
        };
        let (keys, origin) = section.keys(dir.path(), &no_env).unwrap();
        assert_eq!(
            (keys.current, origin),
            (file_key.clone(), KeyOrigin::File(file))
        );
        let env = |name: &str| match name {
            KEY_VARIABLE => Some(var_key.to_base64()),
            PREVIOUS_KEY_VARIABLE => Some(old.to_base64()),
            _ => None,
        };
        let (keys, origin) = section.keys(dir.path(), &env).unwrap();
        assert_eq!(origin, KeyOrigin::Variable);
        assert_eq!(keys.current, var_key);
        assert_eq!(keys.previous, Some(old));
        let short = |name: &str| (name == KEY_VARIABLE).then(|| "c2hvcnQ=".to_owned());
        let e = section.keys(dir.path(), &short).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("TRIBUTARY_SECRET_KEY: the key is 5 bytes long; expected exactly 32"),
            "{e}"
        );
        assert!(
            !dir.path().join("secret.key").exists(),
            "no key generated beside a given one"
        );
    }
}
