//! Query parameters of the routes and the duration syntax they share with the CLI.

use std::time::Duration;

use serde::Deserialize;

use crate::contract::PublishOptions;
use crate::error::ApiError;

/// Longest `wait` a request may ask for; longer waits are clamped (a client re-asks).
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// Parse `1.5`, `250ms`, `5s`, `2m` or `1h`. A bare number is seconds (funboost's `countdown`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 5s, 250ms, 2m, 1.5"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("duration {text:?} is out of range"))
}

/// `?countdown=&eta=&priority=&task_id=&wait=` of a publish.
#[derive(Debug, Default, Deserialize)]
pub struct PublishQuery {
    /// Delay before the task may run: seconds or `5s`/`250ms`/`2m`.
    pub countdown: Option<String>,
    /// Earliest run time, RFC 3339.
    pub eta: Option<String>,
    /// 0..=9, higher first.
    pub priority: Option<u8>,
    /// Use this task id instead of a fresh UUIDv7.
    pub task_id: Option<String>,
    /// Milliseconds to wait for the task to finish (RPC); absent = return at once.
    pub wait: Option<u64>,
}

impl PublishQuery {
    pub fn options(&self) -> Result<PublishOptions, ApiError> {
        let countdown = match &self.countdown {
            Some(text) => Some(parse_duration(text).map_err(ApiError::bad_request)?),
            None => None,
        };
        let eta = match &self.eta {
            Some(text) => Some(text.parse::<jiff::Timestamp>().map_err(|err| {
                ApiError::bad_request(format!("invalid eta {text:?}: {err} (use RFC 3339)"))
            })?),
            None => None,
        };
        if countdown.is_some() && eta.is_some() {
            return Err(ApiError::bad_request(
                "give either countdown or eta, not both",
            ));
        }
        if let Some(p) = self
            .priority
            .filter(|p| *p > wasmboost_broker::MAX_PRIORITY)
        {
            return Err(ApiError::bad_request(format!(
                "invalid priority {p}: use 0..={}",
                wasmboost_broker::MAX_PRIORITY
            )));
        }
        Ok(PublishOptions {
            countdown,
            eta,
            priority: self.priority,
            task_id: self.task_id.clone(),
        })
    }

    pub fn wait(&self) -> Option<Duration> {
        self.wait.map(|ms| Duration::from_millis(ms).min(MAX_WAIT))
    }
}

/// `?wait=ms` of a result fetch.
#[derive(Debug, Default, Deserialize)]
pub struct WaitQuery {
    pub wait: Option<u64>,
}

impl WaitQuery {
    pub fn wait(&self) -> Option<Duration> {
        self.wait.map(|ms| Duration::from_millis(ms).min(MAX_WAIT))
    }
}

/// `?limit=` of a dead-letter listing.
#[derive(Debug, Deserialize)]
pub struct LimitQuery {
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Body of a rollback: `{"version": N}`, or empty / `{}` for the previous version.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    pub version: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_name_the_input() {
        let err = parse_duration("5x").expect_err("unit x is unknown");
        assert!(err.contains("\"x\""), "{err}");
        let err = parse_duration("soon").expect_err("not a number");
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn countdown_and_eta_are_exclusive() {
        let query = PublishQuery {
            countdown: Some("5s".into()),
            eta: Some("2030-01-01T00:00:00Z".into()),
            ..PublishQuery::default()
        };
        let err = query.options().expect_err("countdown and eta together");
        assert_eq!(err.code, "bad_request");
        assert!(err.message.contains("countdown or eta"), "{}", err.message);
    }

    #[test]
    fn priority_above_nine_is_refused() {
        let query = PublishQuery {
            priority: Some(10),
            ..PublishQuery::default()
        };
        let err = query.options().expect_err("priority 10 is out of range");
        assert!(err.message.contains("10"), "{}", err.message);
    }
}
