//! What to do with a failed attempt: retry after a backoff, dead-letter, or give up (ack).
//!
//! Attempts are 1-based and owned by the host. `max_retries = 3` allows four attempts. A failure
//! kind in `retry_on`, or a guest's own `retry(...)`, is retried while attempts remain; after the
//! last one the message is dead-lettered with a reason naming the attempt count and last error.
//! A failure the queue does not retry (by default a guest `fail`) is acked: the task is recorded
//! as failed and does not loop. A guest's `dead-letter(...)` goes to the dead-letter queue at once.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PolicyError;

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default delay before the first retry; doubled for each further one.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Default cap on the backoff delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Default jitter: up to 20 % is taken off each backoff delay, at random.
pub const DEFAULT_JITTER: f64 = 0.2;
/// Failure kinds retried by default: a task stopped by its budgets may succeed next time.
pub const DEFAULT_RETRY_ON: [FailureKind; 2] = [FailureKind::Timeout, FailureKind::OutOfFuel];
/// Default bound on requeues (hand-backs when a shutdown's grace ran out, which do not count as
/// attempts), so a message cannot loop forever. Ten shutdowns in the middle of one task is
/// already a host in trouble; the eleventh hand-back counts as an attempt.
pub const DEFAULT_MAX_REQUEUES: u32 = 10;
/// Highest `max_retries` accepted.
pub const MAX_MAX_RETRIES: u32 = 1000;

/// Why an attempt did not succeed. Trap kinds use the runtime's `TrapKind::name()` spelling, so
/// `trap.name().parse::<FailureKind>()` maps one to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// The wall-clock budget ran out.
    Timeout,
    /// The fuel budget ran out.
    OutOfFuel,
    /// A memory grow beyond the budget failed.
    MemoryLimit,
    /// The guest exhausted its stack.
    StackOverflow,
    /// The guest panicked.
    Panic,
    /// Any other trap.
    Trap,
    /// The guest returned `fail(...)`.
    Fail,
    /// The guest returned `retry(...)`: always retried while attempts remain.
    Retry,
    /// The guest returned `dead-letter(...)`: dead-lettered at once.
    DeadLetter,
}

impl FailureKind {
    /// Every kind, for listings and tests.
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Timeout,
        FailureKind::OutOfFuel,
        FailureKind::MemoryLimit,
        FailureKind::StackOverflow,
        FailureKind::Panic,
        FailureKind::Trap,
        FailureKind::Fail,
        FailureKind::Retry,
        FailureKind::DeadLetter,
    ];

    /// The stable kebab-case name used in config (`retry_on`), logs and reasons.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfFuel => "out-of-fuel",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::StackOverflow => "stack-overflow",
            FailureKind::Panic => "panic",
            FailureKind::Trap => "trap",
            FailureKind::Fail => "fail",
            FailureKind::Retry => "retry",
            FailureKind::DeadLetter => "dead-letter",
        }
    }

    /// Whether `retry_on` may name this kind (the guest's own `retry` and `dead-letter` requests
    /// are not configurable).
    pub fn is_configurable(self) -> bool {
        !matches!(self, FailureKind::Retry | FailureKind::DeadLetter)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FailureKind {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<FailureKind, PolicyError> {
        FailureKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| PolicyError::FailureKind(s.to_owned()))
    }
}

impl Serialize for FailureKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<FailureKind, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// How a failed delivery is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Give up without dead-lettering: the task is recorded as failed.
    Ack,
    /// Deliver again after `after`, as attempt + 1.
    Retry { after: Duration },
    /// Move to the dead-letter queue.
    DeadLetter { reason: String },
}

/// A queue's retry policy, as written in `wasmboost.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// Delay before the first retry; retry `n` waits `backoff_base * 2^(n-1)`, capped.
    #[serde(with = "crate::units::duration_text")]
    pub backoff_base: Duration,
    /// Cap on the backoff delay.
    #[serde(with = "crate::units::duration_text")]
    pub backoff_max: Duration,
    /// Fraction (0..=1) of each backoff delay that may be taken off at random, so retries of
    /// many tasks that failed together do not arrive together.
    pub jitter: f64,
    /// Failure kinds that are retried: any of `timeout`, `out-of-fuel`, `memory-limit`,
    /// `stack-overflow`, `panic`, `trap`, `fail`. A guest's `retry(...)` is always retried.
    pub retry_on: BTreeSet<FailureKind>,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            jitter: DEFAULT_JITTER,
            retry_on: DEFAULT_RETRY_ON.into_iter().collect(),
        }
    }
}

impl RetryPolicy {
    /// Check ranges; errors name the field and value.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |field, value: String, why: &str| PolicyError::Retry {
            field,
            value,
            why: why.to_owned(),
        };
        if self.max_retries > MAX_MAX_RETRIES {
            let why = format!("at most {MAX_MAX_RETRIES}");
            return Err(bad("max_retries", self.max_retries.to_string(), &why));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            let why = "a fraction between 0 and 1";
            return Err(bad("jitter", self.jitter.to_string(), why));
        }
        if self.backoff_max < self.backoff_base {
            let value = crate::units::format_duration(self.backoff_max);
            return Err(bad("backoff_max", value, "must not be below backoff_base"));
        }
        if let Some(kind) = self.retry_on.iter().find(|k| !k.is_configurable()) {
            let why = "not configurable: a guest's retry is always retried, dead-letter never";
            return Err(bad("retry_on", kind.to_string(), why));
        }
        Ok(())
    }

    /// Decide what follows failed attempt number `attempt` (1-based). `guest_delay` is the delay
    /// a guest's `retry(...)` asked for (it replaces the backoff); `jitter_sample` is a uniform
    /// random number in `0..1`, injected so the decision is a pure function.
    ///
    /// The dead-letter reason names the attempt count and the failure kind; use
    /// [`RetryPolicy::decide_with_error`] to include the error text as well.
    pub fn decide(
        &self,
        failure: FailureKind,
        attempt: u32,
        guest_delay: Option<Duration>,
        jitter_sample: f64,
    ) -> Decision {
        self.decide_with_error(failure, attempt, guest_delay, jitter_sample, "")
    }

    /// [`RetryPolicy::decide`], with the last error's text in the dead-letter reason.
    pub fn decide_with_error(
        &self,
        failure: FailureKind,
        attempt: u32,
        guest_delay: Option<Duration>,
        jitter_sample: f64,
        last_error: &str,
    ) -> Decision {
        let error = if last_error.is_empty() {
            failure.to_string()
        } else {
            format!("{failure}: {last_error}")
        };
        if failure == FailureKind::DeadLetter {
            return Decision::DeadLetter {
                reason: format!("the task asked to dead-letter on attempt {attempt}: {error}"),
            };
        }
        let retryable = failure == FailureKind::Retry || self.retry_on.contains(&failure);
        if !retryable {
            return Decision::Ack;
        }
        if attempt > self.max_retries {
            let reason = format!(
                "gave up after {attempt} attempt{} (max_retries {}); last error: {error}",
                if attempt == 1 { "" } else { "s" },
                self.max_retries
            );
            return Decision::DeadLetter { reason };
        }
        let after = guest_delay.unwrap_or_else(|| self.backoff(attempt, jitter_sample));
        Decision::Retry { after }
    }

    /// The delay after failed attempt `attempt`: `base * 2^(attempt-1)`, capped at
    /// `backoff_max`, minus up to `jitter` of it (by `jitter_sample` in `0..1`).
    pub fn backoff(&self, attempt: u32, jitter_sample: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let full = u32::try_from(factor)
            .ok()
            .and_then(|f| self.backoff_base.checked_mul(f))
            .map_or(self.backoff_max, |d| d.min(self.backoff_max));
        let cut = self.jitter.clamp(0.0, 1.0) * jitter_sample.clamp(0.0, 1.0);
        full.mul_f64(1.0 - cut)
    }
}

/// Whether a message that was already requeued `requeues` times may be requeued again.
pub fn requeue_allowed(requeues: u32, max_requeues: u32) -> bool {
    requeues < max_requeues
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn default_retries_timeouts_and_fuel_but_not_fail() {
        let p = no_jitter();
        let retry = |kind| p.decide(kind, 1, None, 0.5);
        let first = Decision::Retry {
            after: Duration::from_secs(1),
        };
        assert_eq!(retry(FailureKind::Timeout), first);
        assert_eq!(retry(FailureKind::OutOfFuel), first);
        assert_eq!(retry(FailureKind::Retry), first);
        for kind in [
            FailureKind::Fail,
            FailureKind::Panic,
            FailureKind::Trap,
            FailureKind::MemoryLimit,
            FailureKind::StackOverflow,
        ] {
            assert_eq!(retry(kind), Decision::Ack, "{kind}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 20,
            backoff_max: Duration::from_secs(10),
            ..no_jitter()
        };
        let delays: Vec<u64> = (1..=6)
            .map(
                |attempt| match p.decide(FailureKind::Timeout, attempt, None, 0.0) {
                    Decision::Retry { after } => after.as_secs(),
                    other => panic!("attempt {attempt}: {other:?}"),
                },
            )
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(p.backoff(u32::MAX, 0.0), Duration::from_secs(10));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(3, 0.0), Duration::from_secs(4));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(3));
        assert!(p.backoff(3, 0.999_999) > Duration::from_secs(2));
        assert_eq!(
            p.backoff(3, 7.0),
            Duration::from_secs(2),
            "sample is clamped"
        );
    }

    #[test]
    fn guest_delay_overrides_backoff() {
        let p = RetryPolicy::default();
        let d = p.decide(
            FailureKind::Retry,
            2,
            Some(Duration::from_millis(1234)),
            0.9,
        );
        assert_eq!(
            d,
            Decision::Retry {
                after: Duration::from_millis(1234)
            }
        );
    }

    #[test]
    fn last_attempt_dead_letters_with_count_and_error() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        assert!(matches!(
            p.decide(FailureKind::Timeout, 2, None, 0.0),
            Decision::Retry { .. }
        ));
        let d = p.decide_with_error(FailureKind::Timeout, 3, None, 0.0, "deadline of 5s passed");
        let Decision::DeadLetter { reason } = d else {
            panic!("expected dead-letter, got {d:?}");
        };
        assert!(reason.contains("3 attempts"), "{reason}");
        assert!(reason.contains("max_retries 2"), "{reason}");
        assert!(
            reason.contains("timeout: deadline of 5s passed"),
            "{reason}"
        );
    }

    #[test]
    fn zero_retries_dead_letters_the_first_retryable_failure() {
        let p = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        let d = p.decide(FailureKind::Retry, 1, Some(Duration::from_secs(1)), 0.0);
        assert!(matches!(d, Decision::DeadLetter { reason } if reason.contains("1 attempt ")));
    }

    #[test]
    fn guest_dead_letter_goes_at_once() {
        let p = RetryPolicy::default();
        let d = p.decide_with_error(FailureKind::DeadLetter, 1, None, 0.0, "bad input");
        assert!(matches!(d, Decision::DeadLetter { reason } if reason.contains("bad input")));
    }

    #[test]
    fn retry_on_is_configurable_from_toml() {
        let p: RetryPolicy =
            toml::from_str("retry_on = [\"fail\", \"panic\"]\nbackoff_base = \"100ms\"")
                .expect("valid policy");
        p.validate().expect("valid policy");
        assert!(matches!(
            p.decide(FailureKind::Fail, 1, None, 0.0),
            Decision::Retry { .. }
        ));
        assert_eq!(p.decide(FailureKind::Timeout, 1, None, 0.0), Decision::Ack);
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
    }

    #[test]
    fn config_errors_name_the_value() {
        let err = toml::from_str::<RetryPolicy>("retry_on = [\"oom\"]").expect_err("unknown kind");
        assert!(err.to_string().contains("\"oom\""), "{err}");
        let err = toml::from_str::<RetryPolicy>("retries = 3").expect_err("unknown key");
        assert!(err.to_string().contains("retries"), "{err}");
        let p: RetryPolicy = toml::from_str("retry_on = [\"retry\"]").expect("parses");
        let err = p.validate().expect_err("not configurable").to_string();
        assert!(err.contains("retry_on = retry"), "{err}");
        let p = RetryPolicy {
            jitter: 1.5,
            ..RetryPolicy::default()
        };
        assert!(
            p.validate()
                .expect_err("jitter")
                .to_string()
                .contains("jitter = 1.5")
        );
    }

    #[test]
    fn failure_kinds_round_trip_their_names() {
        for kind in FailureKind::ALL {
            assert_eq!(kind.name().parse::<FailureKind>(), Ok(kind));
        }
    }

    #[test]
    fn requeues_are_bounded() {
        assert!(requeue_allowed(0, 3));
        assert!(requeue_allowed(2, 3));
        assert!(!requeue_allowed(3, 3));
        assert!(!requeue_allowed(0, 0));
    }
}
