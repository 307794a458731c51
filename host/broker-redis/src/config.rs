//! Configuration of the Redis broker and state store (`[broker] type = "redis"`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::topology::Topology;

/// Default server: a local Redis on its standard port.
pub const DEFAULT_URL: &str = "redis://127.0.0.1:6379";
/// Default key prefix: every key starts with `wasmboost:`.
pub const DEFAULT_PREFIX: &str = "wasmboost";
/// Default consumer group shared by every host serving a queue.
pub const DEFAULT_GROUP: &str = "wasmboost";
/// A waiting message at priority `p` competes as `p + 1` after this long (anti-starvation).
pub const DEFAULT_PRIORITY_AGING_MS: u64 = 5_000;
/// How often one host scans a queue for deliveries whose lease ended (dead hosts' work).
pub const DEFAULT_RECLAIM_INTERVAL_MS: u64 = 250;
/// A command that gets no answer in this long fails as `Unavailable`.
pub const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 10_000;
/// Connecting gives up after this long (and is retried with backoff by the next operation).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
/// Longest pause between reconnect attempts.
pub const DEFAULT_MAX_RECONNECT_DELAY_MS: u64 = 2_000;
/// Replicas that must have a publish before it is acknowledged: none (asynchronous replication).
pub const DEFAULT_WAIT_REPLICAS: u32 = 0;
/// How long a publish or a record write waits for `wait_replicas` replicas.
pub const DEFAULT_WAIT_TIMEOUT_MS: u64 = 1_000;

/// How to reach Redis and how to use it. Every host pointing at the same `url` and `prefix`
/// shares queues, modules, results, pause flags and rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Server URL: one server `redis://[user:password@]host:port[/db]`; a Redis Cluster
    /// `redis+cluster://[user:password@]host:port,host:port,...` (seed nodes); a master watched
    /// by Sentinel `redis+sentinel://[user:password@]host:port,host:port/<master>[/db]`
    /// (sentinels, then the master name). See `topology`.
    pub url: String,
    /// First segment of every key (`<prefix>:q:{<queue>}:stream`); lets hosts of separate
    /// deployments share one server. 1 to 64 of `A-Z a-z 0-9 _ - .` (no `:`).
    pub prefix: String,
    /// Consumer group name on every queue stream.
    pub group: String,
    /// This host's consumer name in the group; default: `<hostname>-<pid>-<random>`, unique per
    /// process so a restarted host never mistakes a dead process's deliveries for its own.
    pub consumer: Option<String>,
    /// Milliseconds after which a waiting message gains one priority level.
    pub priority_aging_ms: u64,
    /// Milliseconds between scans for expired leases; a dead host's work is redelivered within
    /// its lease plus this.
    pub reclaim_interval_ms: u64,
    /// Milliseconds to wait for any reply before treating the server as unavailable.
    pub response_timeout_ms: u64,
    /// Milliseconds to wait for a connection.
    pub connect_timeout_ms: u64,
    /// Longest pause between reconnect attempts, in milliseconds.
    pub max_reconnect_delay_ms: u64,
    /// Replicas that must hold a publish before it is acknowledged, and a task record before
    /// it counts as stored (`WAIT`, in the write's own round trip); a publish that fewer
    /// replicas confirm within `wait_timeout_ms` fails as unavailable (it may still run: the
    /// producer may publish it again), and so does a record write (the worker retries it and
    /// settles the delivery only once it is stored). 0: don't wait.
    pub wait_replicas: u32,
    /// Milliseconds a publish or a record write waits for `wait_replicas` replicas.
    pub wait_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: DEFAULT_URL.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            group: DEFAULT_GROUP.to_owned(),
            consumer: None,
            priority_aging_ms: DEFAULT_PRIORITY_AGING_MS,
            reclaim_interval_ms: DEFAULT_RECLAIM_INTERVAL_MS,
            response_timeout_ms: DEFAULT_RESPONSE_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            max_reconnect_delay_ms: DEFAULT_MAX_RECONNECT_DELAY_MS,
            wait_replicas: DEFAULT_WAIT_REPLICAS,
            wait_timeout_ms: DEFAULT_WAIT_TIMEOUT_MS,
        }
    }
}

impl RedisConfig {
    /// The defaults with another server URL.
    pub fn with_url(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            ..RedisConfig::default()
        }
    }

    /// Checks values that would make the broker misbehave, before connecting.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace());
        if self.url.is_empty() {
            return Err("redis url must not be empty".to_owned());
        }
        Topology::parse(&self.url)?;
        if !prefix_ok(&self.prefix) {
            return Err(format!(
                "redis prefix {:?} must be 1 to 64 of A-Z a-z 0-9 _ - . (one key segment: \
                 a ':' would let one deployment's ids reach another's keys)",
                self.prefix
            ));
        }
        if !name_ok(&self.group) {
            return Err(format!(
                "redis group {:?} must be non-empty, without spaces",
                self.group
            ));
        }
        if let Some(c) = self.consumer.as_deref().filter(|c| !name_ok(c)) {
            return Err(format!(
                "redis consumer {c:?} must be non-empty, without spaces"
            ));
        }
        for (name, v) in [
            ("priority_aging_ms", self.priority_aging_ms),
            ("reclaim_interval_ms", self.reclaim_interval_ms),
            ("response_timeout_ms", self.response_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("max_reconnect_delay_ms", self.max_reconnect_delay_ms),
            ("wait_timeout_ms", self.wait_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("redis {name} must be at least 1, got 0"));
            }
        }
        Ok(())
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The deployment `url` names (checked by `validate`).
    pub(crate) fn topology(&self) -> Result<Topology, String> {
        Topology::parse(&self.url)
    }
}

/// A prefix is one key segment: with a `:` in it, prefix `a:t` would own the keys that task ids
/// `t:...` of prefix `a` name. No glob characters either: the layout migration `SCAN`s for it.
fn prefix_ok(prefix: &str) -> bool {
    (1..=64).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(RedisConfig::default().validate(), Ok(()));
    }

    #[test]
    fn zero_and_blank_values_are_refused() {
        let zero = RedisConfig {
            reclaim_interval_ms: 0,
            ..RedisConfig::default()
        };
        assert!(
            zero.validate()
                .is_err_and(|e| e.contains("reclaim_interval_ms"))
        );
        let blank = RedisConfig {
            prefix: "a b".to_owned(),
            ..RedisConfig::default()
        };
        assert!(blank.validate().is_err_and(|e| e.contains("\"a b\"")));
        for bad in ["", "a:b", "a{b}", "a*", &"p".repeat(65)] {
            let config = RedisConfig {
                prefix: bad.to_owned(),
                ..RedisConfig::default()
            };
            let err = config.validate().expect_err(bad);
            assert!(
                err.starts_with(&format!("redis prefix {bad:?} must be")),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<RedisConfig, _> = serde_json::from_str(r#"{"url":"x","bogus":1}"#);
        let err = parsed.expect_err("an unknown key is refused").to_string();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        let parsed: RedisConfig = serde_json::from_str(r#"{"url":"redis://h:1"}"#)
            .expect("a config with only a url is valid");
        assert_eq!(parsed.prefix, DEFAULT_PREFIX);
    }
}
