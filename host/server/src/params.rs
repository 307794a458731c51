//! Query parameters of the routes. Durations use the one grammar of `wasmboost_policy::units`
//! (a bare number is seconds), the same as the CLI flags and the config file.

use std::time::Duration;

use serde::Deserialize;

use wasmboost_worker::units::parse_duration;

use crate::contract::PublishOptions;
use crate::error::ApiError;

/// Longest `wait` a request may ask for; longer waits are clamped (a client re-asks).
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// `?countdown=&eta=&priority=&task_id=&wait=` of a publish. Strict: a misspelled parameter
/// (`?task_ids=`) is a 400 naming it, not an option silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    /// Delay before the task may run: a bare number of seconds, or `250ms`, `5s`, `2m`, `1h30m`.
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
            Some(text) => Some(
                parse_duration(text)
                    .map_err(|e| ApiError::bad_request(format!("countdown: {e}")))?,
            ),
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
            .filter(|p| *p > wasmboost_policy::message::MAX_PRIORITY)
        {
            return Err(ApiError::bad_request(format!(
                "invalid priority {p}: use 0..={}",
                wasmboost_policy::message::MAX_PRIORITY
            )));
        }
        Ok(PublishOptions {
            countdown,
            eta,
            priority: self.priority,
            task_id: self.task_id.clone(),
            reply: self.wait.is_some(),
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
    fn an_unknown_parameter_is_refused_naming_it() {
        let uri: axum::http::Uri = "/v1/queues/q/messages?countdown=5&task_ids=x"
            .parse()
            .expect("a uri");
        let err = axum::extract::Query::<PublishQuery>::try_from_uri(&uri)
            .expect_err("task_ids is no parameter");
        assert!(err.body_text().contains("task_ids"), "{}", err.body_text());
    }

    #[test]
    fn countdown_uses_the_shared_grammar() {
        let options = |countdown: &str| {
            PublishQuery {
                countdown: Some(countdown.into()),
                ..PublishQuery::default()
            }
            .options()
        };
        let five = options("5").expect("bare seconds").countdown;
        assert_eq!(five, Some(Duration::from_secs(5)));
        let mixed = options("1h30m").expect("compound").countdown;
        assert_eq!(mixed, Some(Duration::from_secs(5400)));
        let err = options("5M").expect_err("ambiguous unit");
        assert!(err.to_string().contains("countdown"), "{err}");
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
