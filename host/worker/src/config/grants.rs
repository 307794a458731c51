//! `[queues.<name>.grants]`: what a queue's tasks may reach beyond computing (contract
//! `wasmboost:task@0.2.0`). Nothing is granted by default, grants belong to one queue (they are
//! not inherited from `[defaults]`), and every entry is validated before the host starts:
//! allow-list entries by the runtime's own grammar, names by one rule, secrets read once.
//!
//! ```toml
//! [queues.crawl.grants]
//! http = ["https://example.org", "http://127.0.0.1:8080"]
//! http_max_requests = 20
//! dirs = [{ host = "/srv/pages", guest = "/pages", mode = "ro" }]
//! kv = true
//! publish_to = ["crawl", "index"]
//! config = { USER_AGENT = "wasmboost-crawler" }
//! secrets = { API_KEY = { env = "CRAWL_API_KEY" } }
//! ```

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmboost_runtime::egress::rule::HttpRule;
use wasmboost_runtime::grants::{
    DEFAULT_HTTP_MAX_REQUESTS, DEFAULT_HTTP_MAX_RESPONSE_BYTES, DEFAULT_HTTP_TIMEOUT,
    DEFAULT_KV_MAX_KEYS, DEFAULT_KV_MAX_VALUE_BYTES, DEFAULT_KV_QUOTA_BYTES, DEFAULT_PUBLISH_MAX,
};
use wasmboost_runtime::{DirGrant, Grants, HttpGrant, KvGrant, Secret};

use super::error::ConfigError;
use crate::units::{ByteSize, HumanDuration};

/// Longest config or secret name.
const MAX_NAME_LEN: usize = 64;
/// Largest secret file read (a key or token, not a document).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The `grants` table of one queue. Every field may be left out: it then grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    /// Outbound HTTP allow-list: `scheme://host[:port][/path-prefix]`, `*.name` for
    /// subdomains. Loopback, private, link-local and metadata addresses are reachable only
    /// when an entry names that literal address.
    pub http: Vec<String>,
    /// Requests one task may send (default 20).
    pub http_max_requests: Option<u32>,
    /// Response body bytes one task may read over all its requests (default `"10MiB"`).
    pub http_max_response_bytes: Option<ByteSize>,
    /// Longest one request may take (default `"10s"`; never past the task's `timeout`).
    pub http_timeout: Option<HumanDuration>,
    /// Preopened directories.
    pub dirs: Vec<DirConfig>,
    /// A key-value namespace for the queue in the host's state store.
    pub kv: bool,
    /// Bytes the namespace may hold, keys and values (default `"1MiB"`).
    pub kv_quota: Option<ByteSize>,
    /// Keys the namespace may hold (default 10000).
    pub kv_max_keys: Option<u64>,
    /// Bytes one value may have (default `"64KiB"`).
    pub kv_max_value_bytes: Option<ByteSize>,
    /// Queues a task may publish follow-up messages to.
    pub publish_to: Vec<String>,
    /// Follow-up publishes one task may make (default 100).
    pub publish_max: Option<u32>,
    /// Named configuration values (`config.get(name)`).
    pub config: BTreeMap<String, String>,
    /// Named secrets (`config.secret(name)`), each from an environment variable or a file.
    /// Their values are never logged, recorded or shown.
    pub secrets: BTreeMap<String, SecretSource>,
}

/// One preopened directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirConfig {
    /// The directory on the host (absolute).
    pub host: PathBuf,
    /// Where the task sees it, an absolute guest path such as `/pages`.
    pub guest: String,
    /// `ro` (default) or `rw`.
    #[serde(default)]
    pub mode: DirMode,
}

/// Access to a preopened directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirMode {
    /// Read only.
    #[default]
    #[serde(rename = "ro")]
    ReadOnly,
    /// Read and write.
    #[serde(rename = "rw")]
    ReadWrite,
}

/// Where a secret's value comes from: exactly one of `env` and `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// An environment variable of the host process.
    pub env: Option<String>,
    /// A file (its content, without a trailing newline).
    pub file: Option<PathBuf>,
}

impl GrantsConfig {
    /// Checks every entry and builds the runtime's [`Grants`], reading each secret. `prefix`
    /// is the table (`queues.<name>.grants`) for errors, which name keys, never values.
    pub fn resolve(&self, prefix: &str) -> Result<Grants, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let http = self.http_grant(&key)?;
        let dirs = self
            .dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| dir.resolve(&key(&format!("dirs[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        check_distinct_guests(&dirs, &key("dirs"))?;
        for queue in &self.publish_to {
            wasmboost_broker::validate_queue_name(queue)
                .map_err(|e| ConfigError::invalid(key("publish_to"), e.to_string()))?;
        }
        for name in self.config.keys() {
            check_name(name, &key("config"))?;
        }
        let mut secrets = BTreeMap::new();
        for (name, source) in &self.secrets {
            let at = key(&format!("secrets.{name}"));
            check_name(name, &key("secrets"))?;
            secrets.insert(name.clone(), source.read(&at)?);
        }
        Ok(Grants {
            http,
            dirs,
            kv: self.kv_grant(&key)?,
            publish_to: self.publish_to.clone(),
            publish_max: self.publish_max.unwrap_or(DEFAULT_PUBLISH_MAX),
            config: self.config.clone(),
            secrets,
        })
    }

    fn kv_grant(&self, key: &dyn Fn(&str) -> String) -> Result<Option<KvGrant>, ConfigError> {
        let limits = [
            self.kv_quota.map(|b| b.0),
            self.kv_max_keys,
            self.kv_max_value_bytes.map(|b| b.0),
        ];
        if !self.kv {
            if limits.iter().any(Option::is_some) {
                return Err(ConfigError::invalid(
                    key("kv"),
                    "kv_* limits are set but kv is not granted",
                ));
            }
            return Ok(None);
        }
        let grant = KvGrant {
            max_keys: self.kv_max_keys.unwrap_or(DEFAULT_KV_MAX_KEYS),
            max_value_bytes: self
                .kv_max_value_bytes
                .map_or(DEFAULT_KV_MAX_VALUE_BYTES, |b| b.0),
            max_total_bytes: self.kv_quota.map_or(DEFAULT_KV_QUOTA_BYTES, |b| b.0),
        };
        if limits.contains(&Some(0)) {
            return Err(ConfigError::invalid(
                key("kv_quota"),
                "kv_quota, kv_max_keys and kv_max_value_bytes must be positive",
            ));
        }
        Ok(Some(grant))
    }

    fn http_grant(&self, key: &dyn Fn(&str) -> String) -> Result<Option<HttpGrant>, ConfigError> {
        if self.http.is_empty() {
            let set = self.http_max_requests.is_some()
                || self.http_max_response_bytes.is_some()
                || self.http_timeout.is_some();
            if set {
                return Err(ConfigError::invalid(
                    key("http"),
                    "http_* limits are set but no http destination is granted",
                ));
            }
            return Ok(None);
        }
        let allow = self
            .http
            .iter()
            .map(|entry| HttpRule::parse(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::invalid(key("http"), e.to_string()))?;
        let grant = HttpGrant {
            allow,
            max_requests: self.http_max_requests.unwrap_or(DEFAULT_HTTP_MAX_REQUESTS),
            max_response_bytes: self
                .http_max_response_bytes
                .map_or(DEFAULT_HTTP_MAX_RESPONSE_BYTES, |b| b.0),
            timeout: self.http_timeout.map_or(DEFAULT_HTTP_TIMEOUT, |d| d.0),
        };
        if grant.max_requests == 0 || grant.max_response_bytes == 0 || grant.timeout.is_zero() {
            return Err(ConfigError::invalid(
                key("http_max_requests"),
                "http_max_requests, http_max_response_bytes and http_timeout must be positive",
            ));
        }
        Ok(Some(grant))
    }
}

impl DirConfig {
    fn resolve(&self, key: &str) -> Result<DirGrant, ConfigError> {
        if !self.host.is_absolute() || !self.host.is_dir() {
            return Err(ConfigError::invalid(
                format!("{key}.host"),
                format!(
                    "{} must be an existing directory, given as an absolute path",
                    self.host.display()
                ),
            ));
        }
        let guest = Path::new(&self.guest);
        let plain = guest.is_absolute()
            && guest
                .components()
                .skip(1)
                .all(|c| matches!(c, Component::Normal(_)))
            && guest.components().count() > 1;
        if !plain {
            return Err(ConfigError::invalid(
                format!("{key}.guest"),
                format!(
                    "{:?} must be an absolute path below / without . or ..",
                    self.guest
                ),
            ));
        }
        Ok(DirGrant {
            host: self.host.clone(),
            guest: self.guest.clone(),
            writable: self.mode == DirMode::ReadWrite,
        })
    }
}

fn check_distinct_guests(dirs: &[DirGrant], key: &str) -> Result<(), ConfigError> {
    for (i, dir) in dirs.iter().enumerate() {
        if dirs[..i].iter().any(|d| d.guest == dir.guest) {
            return Err(ConfigError::invalid(
                key,
                format!("guest path {:?} is preopened twice", dir.guest),
            ));
        }
    }
    Ok(())
}

impl SecretSource {
    /// The secret's value. Errors name the source (variable or file), never a value.
    fn read(&self, key: &str) -> Result<Secret, ConfigError> {
        let value = match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var).map_err(|_| {
                ConfigError::invalid(
                    key,
                    format!("environment variable {var} is not set (or not UTF-8)"),
                )
            })?,
            (None, Some(path)) => read_secret_file(path, key)?,
            _ => {
                return Err(ConfigError::invalid(
                    key,
                    "give exactly one of env and file",
                ));
            }
        };
        Ok(Secret::new(value))
    }
}

fn read_secret_file(path: &Path, key: &str) -> Result<String, ConfigError> {
    let fail =
        |why: String| ConfigError::invalid(key, format!("secret file {}: {why}", path.display()));
    let size = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size > MAX_SECRET_FILE_BYTES {
        return Err(fail(format!(
            "{size} bytes is over {MAX_SECRET_FILE_BYTES}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// Config and secret names: `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`] bytes.
fn check_name(name: &str, key: &str) -> Result<(), ConfigError> {
    let mut bytes = name.bytes();
    let ok = name.len() <= MAX_NAME_LEN
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!(
                "{name:?} must be letters, digits and _ (not starting with a digit), at most {MAX_NAME_LEN}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GrantsConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = parse("htp = [\"https://example.org\"]").expect_err("strict");
        assert!(err.contains("htp"), "{err}");
        let err = parse("dirs = [{ host = \"/tmp\", guest = \"/t\", mode = \"rwx\" }]")
            .expect_err("mode");
        assert!(err.contains("rwx"), "{err}");
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let grants = GrantsConfig::default().resolve("q").expect("valid");
        assert!(grants.is_empty(), "{grants:?}");
    }

    #[test]
    fn bad_entries_name_their_key() {
        let cases = [
            ("http = [\"ftp://x.org\"]", "q.http"),
            ("http_max_requests = 3", "q.http"),
            (
                "dirs = [{ host = \"relative\", guest = \"/x\" }]",
                "q.dirs[0].host",
            ),
            (
                "dirs = [{ host = \"/tmp\", guest = \"/x/../y\" }]",
                "q.dirs[0].guest",
            ),
            (
                "dirs = [{ host = \"/tmp\", guest = \"/\" }]",
                "q.dirs[0].guest",
            ),
            ("publish_to = [\"a b\"]", "q.publish_to"),
            ("kv_quota = \"1KiB\"", "q.kv"),
            ("kv = true\nkv_max_keys = 0", "q.kv_quota"),
            ("config = { \"1X\" = \"v\" }", "q.config"),
            ("secrets = { K = {} }", "q.secrets.K"),
            (
                "secrets = { K = { env = \"WASMBOOST_TEST_UNSET_VAR\" } }",
                "q.secrets.K",
            ),
        ];
        for (text, key) in cases {
            let config = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let err = config.resolve("q").expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn secrets_are_read_and_never_shown_in_errors_or_debug() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        std::fs::write(&path, "s3cr3t-value\n").expect("write");
        let text = format!(
            "secrets = {{ KEY = {{ file = {:?} }} }}",
            path.display().to_string()
        );
        let grants = parse(&text).expect("parses").resolve("q").expect("valid");
        assert_eq!(
            grants.secrets.get("KEY").map(Secret::expose),
            Some("s3cr3t-value")
        );
        assert!(!format!("{grants:?}").contains("s3cr3t"));
    }

    #[test]
    fn the_example_config_block_parses_and_shows_the_defaults() {
        let text = include_str!("../../../../deploy/wasmboost.example.toml");
        let block: String = text
            .lines()
            .skip_while(|l| !l.starts_with("# [queues.crawl.grants]"))
            .skip(1)
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = parse(&block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(config.http_max_requests, Some(DEFAULT_HTTP_MAX_REQUESTS));
        assert_eq!(
            config.http_max_response_bytes.map(|b| b.0),
            Some(DEFAULT_HTTP_MAX_RESPONSE_BYTES)
        );
        assert_eq!(config.http_timeout.map(|d| d.0), Some(DEFAULT_HTTP_TIMEOUT));
        assert_eq!(config.kv_quota.map(|b| b.0), Some(DEFAULT_KV_QUOTA_BYTES));
        assert_eq!(config.kv_max_keys, Some(DEFAULT_KV_MAX_KEYS));
        assert_eq!(
            config.kv_max_value_bytes.map(|b| b.0),
            Some(DEFAULT_KV_MAX_VALUE_BYTES)
        );
        assert_eq!(config.publish_max, Some(DEFAULT_PUBLISH_MAX));
        assert_eq!(
            config.secrets["API_KEY"].env.as_deref(),
            Some("CRAWL_API_KEY")
        );
    }

    #[test]
    fn the_documented_example_resolves() {
        let text = r#"
            http = ["https://example.org", "http://127.0.0.1:8080"]
            http_max_requests = 20
            dirs = [{ host = "/tmp", guest = "/pages", mode = "ro" }]
            kv = true
            publish_to = ["crawl", "index"]
            config = { USER_AGENT = "wasmboost-crawler" }
        "#;
        let grants = parse(text).expect("parses").resolve("q").expect("valid");
        let http = grants.http.expect("http granted");
        assert_eq!((http.allow.len(), http.max_requests), (2, 20));
        assert_eq!(grants.kv, Some(KvGrant::default()));
        assert!(!grants.dirs[0].writable);
    }
}
