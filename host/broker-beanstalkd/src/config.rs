//! `[broker] type = "beanstalkd"`: where the server is, how tubes are named, how jobs are put
//! and how reconnects are paced. Strict: unknown keys are errors.

use std::time::Duration;

use serde::Deserialize;

use crate::error::ConnectError;

/// The server of a default install (`beanstalkd -l 127.0.0.1`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:11300";
/// Tube of queue `q`: `wasmboost.q`.
pub const DEFAULT_TUBE_PREFIX: &str = "wasmboost.";
/// Time-to-run of the jobs this broker puts: how long a host that hung (connection open, nothing
/// touching) keeps its jobs before beanstalkd hands them out again. A host that dies closes its
/// connections and beanstalkd puts its jobs back at once; a live host touches its jobs at half
/// their TTR for as long as their leases run, so this does not bound a task's run time.
pub const DEFAULT_TTR_SECS: u32 = 30;
/// First pause before reconnecting after the server went away; doubles up to the max.
pub const DEFAULT_RECONNECT_MIN_MS: u64 = 100;
pub const DEFAULT_RECONNECT_MAX_MS: u64 = 5_000;
/// Longest tube name beanstalkd accepts.
pub const MAX_TUBE_NAME: usize = 200;

/// Settings of the beanstalkd broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeanstalkConfig {
    /// `host:port` of beanstalkd (a `beanstalk://` prefix is accepted).
    #[serde(default = "default_addr", alias = "url")]
    pub addr: String,
    /// Prepended to a queue name to make its tube name.
    #[serde(default = "default_tube_prefix")]
    pub tube_prefix: String,
    /// Time-to-run, in whole seconds, of the jobs this broker puts: how long a hung host keeps
    /// them (see `DEFAULT_TTR_SECS`). Foreign producers choose their own.
    #[serde(default = "default_ttr")]
    pub ttr_secs: u32,
    /// First pause before a reconnect, in ms.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest pause between reconnects, in ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Keep results, pause flags, dedup marks, modules and counters in this Redis, shared by
    /// every host (beanstalkd holds only jobs). Unset: in this host's embedded store.
    #[serde(default)]
    pub state_redis_url: Option<String>,
}

fn default_addr() -> String {
    DEFAULT_ADDR.to_owned()
}
fn default_tube_prefix() -> String {
    DEFAULT_TUBE_PREFIX.to_owned()
}
fn default_ttr() -> u32 {
    DEFAULT_TTR_SECS
}
fn default_reconnect_min() -> u64 {
    DEFAULT_RECONNECT_MIN_MS
}
fn default_reconnect_max() -> u64 {
    DEFAULT_RECONNECT_MAX_MS
}

impl Default for BeanstalkConfig {
    fn default() -> Self {
        BeanstalkConfig::with_addr(DEFAULT_ADDR)
    }
}

impl BeanstalkConfig {
    /// The defaults, with the server at `addr`.
    pub fn with_addr(addr: impl Into<String>) -> Self {
        BeanstalkConfig {
            addr: addr.into(),
            tube_prefix: default_tube_prefix(),
            ttr_secs: DEFAULT_TTR_SECS,
            reconnect_min_ms: DEFAULT_RECONNECT_MIN_MS,
            reconnect_max_ms: DEFAULT_RECONNECT_MAX_MS,
            state_redis_url: None,
        }
    }

    /// `addr` without a `beanstalk://` scheme.
    pub fn host_port(&self) -> &str {
        self.addr
            .strip_prefix("beanstalk://")
            .unwrap_or(&self.addr)
            .trim_end_matches('/')
    }

    pub(crate) fn reconnect(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.reconnect_min_ms),
            Duration::from_millis(self.reconnect_max_ms),
        )
    }

    /// Checked before connecting: every value names what is wrong with it.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let bad = |what: String| Err(ConnectError::Config(what));
        let hp = self.host_port();
        if hp
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return bad(format!("addr {:?} is not host:port", self.addr));
        }
        let prefix_ok = self
            .tube_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+/;.$_()".contains(&b))
            && !self.tube_prefix.starts_with('-')
            && self.tube_prefix.len() + 128 + crate::tube::DEAD_SUFFIX.len() <= MAX_TUBE_NAME;
        if !prefix_ok {
            return bad(format!(
                "tube_prefix {:?}: use at most {} of letters, digits and -+/;.$_(), not starting \
                 with '-'",
                self.tube_prefix,
                MAX_TUBE_NAME - 128 - crate::tube::DEAD_SUFFIX.len()
            ));
        }
        if self.ttr_secs == 0 {
            return bad("ttr_secs 0: beanstalkd's smallest time-to-run is 1".to_owned());
        }
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return bad(format!(
                "reconnect_min_ms {} must be at least 1 and at most reconnect_max_ms {}",
                self.reconnect_min_ms, self.reconnect_max_ms
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<BeanstalkConfig, serde_json::Error> {
        // The host parses TOML; the same serde attributes govern JSON.
        serde_json::from_str(toml_text)
    }

    #[test]
    fn defaults_and_unknown_keys() {
        let c = parse("{}").expect("all keys have defaults");
        assert_eq!(c, BeanstalkConfig::default());
        assert!(c.validate().is_ok());
        let err = parse(r#"{"adress":"h:1"}"#).expect_err("a misspelt key is refused");
        assert!(err.to_string().contains("adress"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = [
            BeanstalkConfig::with_addr("nohost"),
            BeanstalkConfig {
                tube_prefix: "sp ace".into(),
                ..Default::default()
            },
            BeanstalkConfig {
                ttr_secs: 0,
                ..Default::default()
            },
            BeanstalkConfig {
                reconnect_min_ms: 10_000,
                ..Default::default()
            },
        ];
        for c in bad {
            let err = c.validate().expect_err("invalid");
            let text = err.to_string();
            assert!(
                ["nohost", "sp ace", "ttr_secs 0", "10000"]
                    .iter()
                    .any(|v| text.contains(v)),
                "{text}"
            );
        }
        let c = BeanstalkConfig::with_addr("beanstalk://10.0.0.1:11300/");
        assert_eq!(c.host_port(), "10.0.0.1:11300");
    }
}
