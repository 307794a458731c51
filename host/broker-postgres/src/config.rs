//! `[broker] type = "postgres"`: where the database is and how reconnects are paced. Strict:
//! unknown keys are errors.

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConnectError;

/// The server of a default local install, its default database.
pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
/// First pause before reconnecting after the server went away; doubles up to the max.
pub const DEFAULT_RECONNECT_MIN_MS: u64 = 100;
pub const DEFAULT_RECONNECT_MAX_MS: u64 = 5_000;
/// Longest an idle fetch sleeps between looks at its queue when no notification comes: a
/// safety net for a notification lost while the LISTEN connection was reconnecting. Delays and
/// lease ends are waited for exactly (the fetch asks when the next job becomes visible).
pub const DEFAULT_IDLE_RECHECK_MS: u64 = 2_000;
/// Connections each host keeps for statements (plus one per LISTEN channel): enough that the
/// lease renewals and settles of a few hundred tasks in flight do not queue on one socket.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// Longest one connect or statement may go unanswered before it fails as unavailable and its
/// connection is replaced (a server that vanished mid-request never answers).
pub const DEFAULT_OP_TIMEOUT_MS: u64 = 10_000;
/// Most connections a pool may ask for (the server's `max_connections` is shared by hosts).
pub const MAX_POOL_SIZE: usize = 64;

/// Settings of the PostgreSQL broker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection string: a `postgresql://user:password@host:port/db` URL or libpq
    /// `key=value` pairs. TLS is not used (`NoTls`): reach a remote server through a private
    /// network or a local TLS tunnel.
    #[serde(default = "default_url")]
    pub url: String,
    /// First pause before a reconnect, in ms.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest pause between reconnects, in ms.
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Longest an idle fetch waits between looks without a notification, in ms.
    #[serde(default = "default_idle_recheck")]
    pub idle_recheck_ms: u64,
    /// Connections for statements, used round-robin (each reconnects on its own).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Longest one connect or statement may go unanswered, in ms.
    #[serde(default = "default_op_timeout")]
    pub op_timeout_ms: u64,
    /// Keep results, pause flags, dedup marks, modules and counters in this Redis instead of
    /// the database. Unset: in the database (tables of schema version 2), shared by every host.
    #[serde(default)]
    pub state_redis_url: Option<String>,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}
fn default_reconnect_min() -> u64 {
    DEFAULT_RECONNECT_MIN_MS
}
fn default_reconnect_max() -> u64 {
    DEFAULT_RECONNECT_MAX_MS
}
fn default_idle_recheck() -> u64 {
    DEFAULT_IDLE_RECHECK_MS
}

fn default_pool_size() -> usize {
    DEFAULT_POOL_SIZE
}
fn default_op_timeout() -> u64 {
    DEFAULT_OP_TIMEOUT_MS
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig::with_url(DEFAULT_URL)
    }
}

impl PostgresConfig {
    /// The defaults, with the database at `url`.
    pub fn with_url(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            reconnect_min_ms: DEFAULT_RECONNECT_MIN_MS,
            reconnect_max_ms: DEFAULT_RECONNECT_MAX_MS,
            idle_recheck_ms: DEFAULT_IDLE_RECHECK_MS,
            pool_size: DEFAULT_POOL_SIZE,
            op_timeout_ms: DEFAULT_OP_TIMEOUT_MS,
            state_redis_url: None,
        }
    }

    pub(crate) fn reconnect(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.reconnect_min_ms),
            Duration::from_millis(self.reconnect_max_ms),
        )
    }

    pub(crate) fn idle_recheck(&self) -> Duration {
        Duration::from_millis(self.idle_recheck_ms)
    }

    pub(crate) fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.op_timeout_ms)
    }

    /// The parsed connection string.
    pub(crate) fn pg(&self) -> Result<tokio_postgres::Config, ConnectError> {
        // The value is not echoed: it may hold a password. The parser's message names the
        // offending part.
        tokio_postgres::Config::from_str(&self.url).map_err(|e| {
            ConnectError::Config(format!("url is not a postgres connection string: {e}"))
        })
    }

    /// Checked before connecting: every value names what is wrong with it.
    pub fn validate(&self) -> Result<(), ConnectError> {
        let bad = |what: String| Err(ConnectError::Config(what));
        self.pg()?;
        if self.reconnect_min_ms == 0 || self.reconnect_min_ms > self.reconnect_max_ms {
            return bad(format!(
                "reconnect_min_ms {} must be at least 1 and at most reconnect_max_ms {}",
                self.reconnect_min_ms, self.reconnect_max_ms
            ));
        }
        if self.idle_recheck_ms == 0 {
            return bad("idle_recheck_ms 0 must be at least 1".to_owned());
        }
        if self.pool_size == 0 || self.pool_size > MAX_POOL_SIZE {
            return bad(format!(
                "pool_size {} must be from 1 to {MAX_POOL_SIZE}",
                self.pool_size
            ));
        }
        if self.op_timeout_ms == 0 {
            return bad("op_timeout_ms 0 must be at least 1".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert!(PostgresConfig::default().validate().is_ok());
    }

    #[test]
    fn bad_url_and_backoff_are_named() {
        let mut c = PostgresConfig::with_url("postgresql://h:notaport/db");
        let e = c.validate().expect_err("bad port").to_string();
        assert!(e.contains("url"), "{e}");
        c = PostgresConfig {
            reconnect_min_ms: 10_000,
            ..PostgresConfig::default()
        };
        let e = c.validate().expect_err("min > max").to_string();
        assert!(e.contains("reconnect_min_ms 10000"), "{e}");
    }
}
