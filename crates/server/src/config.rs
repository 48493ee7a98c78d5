//! `tributary serve`'s configuration: the commented defaults embedded in the binary
//! (`config/config.default.toml`), then the user's file, then `TRIBUTARY_*` environment
//! variables, then validation with messages that name the field.

use crate::api::{AdminKeyEntry, KeyEntry};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The defaults, with a comment on every key.
pub const DEFAULT_TOML: &str = include_str!("../config/config.default.toml");

/// Everything `serve` runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub engine: EngineSection,
    pub egnyte: EgnyteSection,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    /// Keys that create, list and delete tenants' keys (`/v1/keys`) and read nothing else.
    #[serde(default)]
    pub admin_keys: Vec<AdminKeyEntry>,
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub max_concurrent_polls: usize,
    pub merge_max_delay_ms: u64,
    pub merge_interval_ms: u64,
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgnyteSection {
    pub calls_per_second: u32,
}

/// One configured source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    pub id: String,
    pub tenant: String,
    pub provider: String,
    #[serde(default = "empty_table")]
    pub config: serde_json::Value,
    #[serde(default)]
    pub credentials: serde_json::Value,
    #[serde(default)]
    pub paused: bool,
}

fn empty_table() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A configuration that cannot run, said before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Read(String),
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    #[error("configuration: {field} {message}")]
    Invalid { field: String, message: String },
}

impl ServerConfig {
    /// Defaults, then `file` (when given), then the environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, Env::prefixed("TRIBUTARY_"))
    }

    fn load_with(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Missing(file.to_owned()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // TRIBUTARY_LOG and TRIBUTARY_LOG_FORMAT belong to the binary, not to this file.
        let env = env
            .split("__")
            .filter(|key| !matches!(key.as_str(), "log" | "log_format"));
        let config: ServerConfig = figment
            .merge(env)
            .extract()
            .map_err(|e| ConfigError::Read(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The checks serde cannot make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| {
            Err(ConfigError::Invalid {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        let e = &self.engine;
        if e.max_concurrent_polls == 0 {
            return invalid("engine.max_concurrent_polls", "must be at least 1");
        }
        if e.merge_interval_ms == 0 {
            return invalid("engine.merge_interval_ms", "must be greater than 0");
        }
        if self.egnyte.calls_per_second == 0 {
            return invalid("egnyte.calls_per_second", "must be at least 1");
        }
        self.api_keys()?;
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let field = format!("sources[{i}]");
            if let Err(e) = tributary_core::SourceId::new(s.id.clone()) {
                return invalid(&format!("{field}.id"), &e.to_string());
            }
            if !seen.insert(s.id.as_str()) {
                return invalid(
                    &format!("{field}.id"),
                    &format!("{:?} is configured twice", s.id),
                );
            }
            if s.tenant.is_empty() {
                return invalid(&format!("{field}.tenant"), "must not be empty");
            }
            if !s.config.is_object() {
                return invalid(&format!("{field}.config"), "must be a table");
            }
        }
        for (i, k) in self.keys.iter().enumerate() {
            if let Some(source) = &k.source
                && let Some(s) = self.sources.iter().find(|s| &s.id == source)
                && s.tenant != k.tenant
            {
                return invalid(
                    &format!("keys[{i}].source"),
                    &format!(
                        "{source:?} belongs to tenant {:?}, not {:?}",
                        s.tenant, k.tenant
                    ),
                );
            }
        }
        Ok(())
    }

    /// The configured tenant and admin keys, checked: each entry gives exactly one of `key` and
    /// `key_sha256`, no key is given twice, and no admin key is also a tenant's key.
    pub fn api_keys(&self) -> Result<crate::api::ApiKeys, ConfigError> {
        let invalid = |field: &str| {
            let field = field.to_owned();
            move |e: crate::api::KeyConfigError| ConfigError::Invalid {
                field,
                message: e.to_string(),
            }
        };
        crate::api::ApiKeys::new(self.keys.clone())
            .map_err(invalid("keys"))?
            .with_admins(self.admin_keys.clone())
            .map_err(invalid("admin_keys"))
    }

    pub fn engine_config(&self) -> crate::engine::EngineConfig {
        crate::engine::EngineConfig {
            max_concurrent_polls: self.engine.max_concurrent_polls,
            merge_max_delay: Duration::from_millis(self.engine.merge_max_delay_ms),
            merge_interval: Duration::from_millis(self.engine.merge_interval_ms),
            shutdown_grace: Some(Duration::from_millis(self.engine.shutdown_grace_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("tributary.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn no_env() -> Env {
        Env::prefixed("TRIBUTARY_TEST_NOTHING_")
    }

    #[test]
    fn the_defaults_alone_are_valid() {
        let c = ServerConfig::load_with(None, no_env()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.engine.merge_max_delay_ms, 60_000);
        assert!(c.sources.is_empty());
    }

    #[test]
    fn a_file_overrides_the_defaults_and_describes_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            r#"
listen = "127.0.0.1:0"
[engine]
merge_max_delay_ms = 5000
[[keys]]
tenant = "acme"
key = "k1"
[[sources]]
id = "jive-acme"
tenant = "acme"
provider = "jive"
[sources.config]
base_url = "http://127.0.0.1:9"
[sources.credentials]
kind = "basic"
username = "u"
password = "p"
"#,
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(c.engine.merge_max_delay_ms, 5_000);
        assert_eq!(c.engine.merge_interval_ms, 500, "untouched defaults stay");
        assert_eq!(c.sources[0].credentials["username"], "u");
    }

    #[test]
    fn admin_keys_are_read_and_told_apart_from_tenant_keys() {
        let dir = tempfile::tempdir().unwrap();
        let hash = crate::api::key_sha256_hex("root");
        let path = write(
            &dir,
            &format!(
                "[[keys]]\ntenant = \"acme\"\nkey = \"k1\"\n\
                 [[admin_keys]]\nkey_sha256 = \"{hash}\"\n[[admin_keys]]\nkey = \"root-2\"\n"
            ),
        );
        let c = ServerConfig::load_with(Some(&path), no_env()).unwrap();
        assert_eq!(
            c.admin_keys,
            [AdminKeyEntry::hashed(hash), AdminKeyEntry::new("root-2")]
        );
        let keys = c.api_keys().unwrap();
        assert!(keys.tenant("root").is_none(), "an admin key has no tenant");
        assert_eq!(keys.tenant("k1").unwrap().as_str(), "acme");
        assert!(
            ServerConfig::load_with(None, no_env())
                .unwrap()
                .admin_keys
                .is_empty(),
            "no admin key by default"
        );
    }

    #[test]
    fn admin_key_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, says) in [
            (
                "[[admin_keys]]\ntenant = \"t\"\nkey = \"k\"",
                "unknown field: found `tenant`",
            ),
            (
                "[[admin_keys]]\nkey = \"k\"\nkey_sha256 = \"00\"",
                "admin_keys admin key entry 0: give exactly one of `key` and `key_sha256`",
            ),
            (
                "[[admin_keys]]\n",
                "admin_keys admin key entry 0: give exactly one of `key` and `key_sha256`",
            ),
            (
                "[[admin_keys]]\nkey = \"\"",
                "admin_keys admin key entry 0: the key must not be empty",
            ),
            (
                "[[admin_keys]]\nkey_sha256 = \"xyz\"",
                "admin_keys admin key entry 0: `key_sha256` must be 64 hexadecimal characters",
            ),
            (
                "[[admin_keys]]\nkey = \"k\"\n[[admin_keys]]\nkey = \"k\"",
                "admin_keys admin key entry 1 repeats the key of admin key entry 0",
            ),
            (
                "[[keys]]\ntenant = \"t\"\nkey = \"k\"\n[[admin_keys]]\nkey = \"k\"",
                "admin_keys admin key entry 0 is also a key of tenant \"t\"",
            ),
        ] {
            let path = write(&dir, text);
            let e = ServerConfig::load_with(Some(&path), no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text:?}: {e:?} should say {says:?}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (text, says) in [
            ("lisen = \"x\"", "unknown field: found `lisen`"),
            (
                "[engine]\nmax_concurrent_polls = 0",
                "engine.max_concurrent_polls must be at least 1",
            ),
            ("listen = \"nowhere\"", "invalid socket address"),
            (
                "[[sources]]\nid = \"a b\"\ntenant = \"t\"\nprovider = \"jive\"",
                "sources[0].id",
            ),
            (
                "[[keys]]\ntenant = \"t\"\nkey = \"k\"\n[[keys]]\ntenant = \"u\"\nkey = \"k\"",
                "keys",
            ),
        ] {
            let path = write(&dir, text);
            let e = ServerConfig::load_with(Some(&path), no_env())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{text:?}: {e:?} should say {says:?}");
        }
        let e = ServerConfig::load_with(Some(Path::new("/nonexistent/t.toml")), no_env())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "configuration file /nonexistent/t.toml does not exist");
    }
}
