//! `[broker] type = "nats"`: where the server is, the consumers' AckWait and how idle fetches
//! look again. Strict: unknown keys are errors.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConnectError;

/// A local `nats-server -js` on its default port.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// The consumers' `AckWait`: how long after a host died (stopped sending in-progress acks) its
/// messages are delivered again. A live host keeps each delivery's own lease itself.
pub const DEFAULT_ACK_WAIT_MS: u64 = 30_000;
/// Longest an idle fetch waits between looks at its queue when nothing wakes it: the bound on
/// noticing a message whose AckWait ended on the server (a dead host's) or a due delay another
/// host parked.
pub const DEFAULT_IDLE_RECHECK_MS: u64 = 500;
/// `Nats-Msg-Id` duplicate window of each queue's stream: a producer that retries a publish of
/// the same task id within it stores the message once.
pub const DEFAULT_DUPLICATE_WINDOW_MS: u64 = 120_000;
/// How long the key-value buckets keep a task record or a dedup mark at most, whatever its own
/// TTL (a TTL is enforced on read; this bounds the storage of expired entries).
pub const DEFAULT_STATE_MAX_AGE_S: u64 = 30 * 86_400;
/// Stream replicas (1 on a single server; 3 on a cluster).
pub const DEFAULT_REPLICAS: usize = 1;
/// Longest one JetStream read (a pull batch's next message) may go unanswered before it fails
/// as unavailable: a pull request to a consumer that vanished (a memory-storage server
/// restarted, a stream deleted) is never answered, and must not hang a fetch.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Settings of the NATS JetStream broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated: `nats://host:4222[,nats://other:4222]`.
    #[serde(default = "default_url")]
    pub url: String,
    /// The consumers' AckWait in ms (the lease bound of a host that died).
    #[serde(default = "default_ack_wait")]
    pub ack_wait_ms: u64,
    /// Longest an idle fetch waits between looks without a wake-up, in ms.
    #[serde(default = "default_idle_recheck")]
    pub idle_recheck_ms: u64,
    /// The streams' `Nats-Msg-Id` duplicate window, in ms.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_ms: u64,
    /// Longest the state buckets keep a record or dedup mark, in seconds.
    #[serde(default = "default_state_max_age")]
    pub state_max_age_s: u64,
    /// Replicas of every stream and bucket this broker creates.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}
fn default_ack_wait() -> u64 {
    DEFAULT_ACK_WAIT_MS
}
fn default_idle_recheck() -> u64 {
    DEFAULT_IDLE_RECHECK_MS
}
fn default_duplicate_window() -> u64 {
    DEFAULT_DUPLICATE_WINDOW_MS
}
fn default_state_max_age() -> u64 {
    DEFAULT_STATE_MAX_AGE_S
}
fn default_replicas() -> usize {
    DEFAULT_REPLICAS
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig::with_url(DEFAULT_URL)
    }
}

impl NatsConfig {
    /// The defaults, with the server at `url`.
    pub fn with_url(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            ack_wait_ms: DEFAULT_ACK_WAIT_MS,
            idle_recheck_ms: DEFAULT_IDLE_RECHECK_MS,
            duplicate_window_ms: DEFAULT_DUPLICATE_WINDOW_MS,
            state_max_age_s: DEFAULT_STATE_MAX_AGE_S,
            replicas: DEFAULT_REPLICAS,
        }
    }

    pub(crate) fn ack_wait(&self) -> Duration {
        Duration::from_millis(self.ack_wait_ms)
    }

    pub(crate) fn idle_recheck(&self) -> Duration {
        Duration::from_millis(self.idle_recheck_ms)
    }

    pub(crate) fn duplicate_window(&self) -> Duration {
        Duration::from_millis(self.duplicate_window_ms)
    }

    pub(crate) fn state_max_age(&self) -> Duration {
        Duration::from_secs(self.state_max_age_s)
    }

    /// Checked before connecting: every message names the bad value.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let bad = |what: String| Err(ConnectError::Config(what));
        for url in self.url.split(',') {
            let url = url.trim();
            if url.parse::<async_nats::ServerAddr>().is_err() {
                // Not echoed whole: it may hold a password.
                return bad("url is not a nats:// server address".to_owned());
            }
        }
        if self.ack_wait_ms < 1_000 {
            return bad(format!(
                "ack_wait_ms {} must be at least 1000 (hosts renew at a third of it)",
                self.ack_wait_ms
            ));
        }
        if self.idle_recheck_ms == 0 {
            return bad("idle_recheck_ms 0 must be at least 1".to_owned());
        }
        if self.duplicate_window_ms == 0 {
            return bad("duplicate_window_ms 0 must be at least 1".to_owned());
        }
        if self.state_max_age_s == 0 {
            return bad("state_max_age_s 0 must be at least 1".to_owned());
        }
        if !(1..=5).contains(&self.replicas) {
            return bad(format!("replicas {} must be 1 to 5", self.replicas));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(NatsConfig::default().validate().is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        let c = NatsConfig {
            ack_wait_ms: 10,
            ..NatsConfig::default()
        };
        let e = c.validate().expect_err("short ack wait").to_string();
        assert!(e.contains("ack_wait_ms 10"), "{e}");
        let c = NatsConfig {
            replicas: 9,
            ..NatsConfig::default()
        };
        let e = c.validate().expect_err("replicas").to_string();
        assert!(e.contains("replicas 9"), "{e}");
        let e = NatsConfig::with_url("nats://h:notaport")
            .validate()
            .expect_err("bad url")
            .to_string();
        assert!(e.contains("url"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<NatsConfig, _> = toml::from_str("urll = \"nats://x\"");
        assert!(r.is_err());
    }
}
