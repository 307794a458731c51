//! Per-task budgets, resolved in one place. A queue's budgets (wall clock, fuel, memory,
//! retries, priority) belong to the operator: a message's `extra` may ask for less, and for more
//! only up to the queue's `message_ceiling`, which defaults to the queue's own value.
//!
//! At publish a value over the ceiling is refused ([`OverCeiling`]: 400 naming the field and
//! the ceiling). A message that reached the broker another way (a foreign producer writing
//! straight to Redis or RabbitMQ) is **capped** at the ceiling when it runs, with a warning: the
//! task still runs, under the operator's budget, rather than being lost to the dead-letter queue.

use std::time::Duration;

use wasmboost_policy::message::{Extra, MAX_PRIORITY};
use wasmboost_policy::retry::{DEFAULT_MAX_RETRIES, MAX_MAX_RETRIES};
use wasmboost_runtime::Limits;
use wasmboost_runtime::config::{DEFAULT_FUEL, DEFAULT_MEMORY_BYTES, DEFAULT_TIMEOUT};

use crate::config::error::ConfigError;
use crate::config::queue::QueueConfig;

const MIB: u64 = 1 << 20;

/// The most a message may ask for, per budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceiling {
    pub timeout: Duration,
    pub fuel: u64,
    pub memory_bytes: u64,
    pub max_retries: u32,
    pub priority: u8,
}

/// A queue's budgets: what a task gets when its message asks for nothing, and the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBudget {
    pub limits: Limits,
    pub max_retries: u32,
    pub ceiling: Ceiling,
}

/// What one task runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskBudget {
    pub limits: Limits,
    pub max_retries: u32,
}

/// A message asked for more than its queue allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field} = {value} is over this queue's ceiling of {ceiling}{unit} (a message may only lower \
     a queue's budget; the operator can raise `message_ceiling.{key}`)"
)]
pub struct OverCeiling {
    /// The message field, e.g. `extra.timeout_ms`.
    pub field: &'static str,
    pub value: u64,
    /// In the field's own unit.
    pub ceiling: u64,
    pub unit: &'static str,
    /// The `message_ceiling` key that raises it.
    pub key: &'static str,
}

impl QueueBudget {
    /// The budgets of a (merged) queue config, with the built-in defaults for what is unset.
    pub fn of(q: &QueueConfig) -> QueueBudget {
        let limits = Limits {
            fuel: q.fuel.unwrap_or(DEFAULT_FUEL),
            timeout: q.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
            memory_bytes: q.memory.map_or(DEFAULT_MEMORY_BYTES, |b| b.0),
        };
        let max_retries = q.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        let c = q.message_ceiling.unwrap_or_default();
        QueueBudget {
            limits,
            max_retries,
            ceiling: Ceiling {
                timeout: c.timeout.map_or(limits.timeout, |d| d.0),
                fuel: c.fuel.unwrap_or(limits.fuel),
                memory_bytes: c.memory.map_or(limits.memory_bytes, |b| b.0),
                max_retries: c.max_retries.unwrap_or(max_retries),
                priority: c.priority.unwrap_or(MAX_PRIORITY),
            },
        }
    }

    /// A ceiling may not sit below the queue's own value, nor above what the host allows.
    pub fn validate(&self, prefix: &str, max_memory: u64) -> Result<(), ConfigError> {
        let (l, c) = (&self.limits, &self.ceiling);
        let key = |k: &str| format!("{prefix}.message_ceiling.{k}");
        let below = |k: &str, own: String| {
            ConfigError::invalid(key(k), format!("must not be below the queue's {k} ({own})"))
        };
        // The queue's own value first: its ceiling defaults to it, and the error must name the
        // key the operator wrote.
        if self.max_retries > MAX_MAX_RETRIES {
            return Err(ConfigError::invalid(
                format!("{prefix}.max_retries"),
                format!("{} must be at most {MAX_MAX_RETRIES}", self.max_retries),
            ));
        }
        if l.memory_bytes > max_memory {
            return Err(ConfigError::invalid(
                format!("{prefix}.memory"),
                format!(
                    "{} must not exceed runtime.max_memory ({max_memory})",
                    l.memory_bytes
                ),
            ));
        }
        if c.timeout < l.timeout {
            return Err(below("timeout", format!("{:?}", l.timeout)));
        }
        if c.fuel < l.fuel {
            return Err(below("fuel", l.fuel.to_string()));
        }
        if c.memory_bytes < l.memory_bytes {
            return Err(below("memory", format!("{} bytes", l.memory_bytes)));
        }
        if c.memory_bytes > max_memory {
            return Err(ConfigError::invalid(
                key("memory"),
                format!(
                    "{} must not exceed runtime.max_memory ({max_memory})",
                    c.memory_bytes
                ),
            ));
        }
        if c.max_retries < self.max_retries {
            return Err(below("max_retries", self.max_retries.to_string()));
        }
        if c.max_retries > MAX_MAX_RETRIES {
            return Err(ConfigError::invalid(
                key("max_retries"),
                format!("{} must be at most {MAX_MAX_RETRIES}", c.max_retries),
            ));
        }
        if c.priority > MAX_PRIORITY {
            return Err(ConfigError::invalid(
                key("priority"),
                format!("{} must be at most {MAX_PRIORITY}", c.priority),
            ));
        }
        Ok(())
    }

    /// Publish: the task's budget, or the first field of `extra` (or the publish's `priority`)
    /// over the ceiling.
    pub fn check(&self, extra: &Extra, priority: Option<u8>) -> Result<TaskBudget, OverCeiling> {
        let (budget, over) = self.resolve(extra);
        if let Some(over) = over {
            return Err(over);
        }
        match priority.or(extra.priority) {
            Some(p) if p > self.ceiling.priority => Err(OverCeiling {
                field: "priority",
                value: u64::from(p),
                ceiling: u64::from(self.ceiling.priority),
                unit: "",
                key: "priority",
            }),
            _ => Ok(budget),
        }
    }

    /// Run: the task's budget with every asked value capped at the ceiling, and the first value
    /// that was over it (for a warning). Priority is not capped here: the broker has already
    /// ordered the message by it.
    pub fn capped(&self, extra: &Extra) -> (TaskBudget, Option<OverCeiling>) {
        self.resolve(extra)
    }

    fn resolve(&self, extra: &Extra) -> (TaskBudget, Option<OverCeiling>) {
        let (l, c) = (&self.limits, &self.ceiling);
        let mut over = None;
        let timeout = match extra.timeout {
            Some(asked) if asked > c.timeout => {
                over.get_or_insert(OverCeiling {
                    field: "extra.timeout_ms",
                    value: millis(asked),
                    ceiling: millis(c.timeout),
                    unit: " ms",
                    key: "timeout",
                });
                c.timeout
            }
            asked => asked.unwrap_or(l.timeout),
        };
        let fuel = pick(extra.fuel, l.fuel, c.fuel, &mut over, |value| OverCeiling {
            field: "extra.fuel",
            value,
            ceiling: c.fuel,
            unit: "",
            key: "fuel",
        });
        let asked_memory = extra.memory_mb.map(|mb| mb.saturating_mul(MIB));
        let memory_bytes = pick(
            asked_memory,
            l.memory_bytes,
            c.memory_bytes,
            &mut over,
            |_| OverCeiling {
                field: "extra.memory_mb",
                value: extra.memory_mb.unwrap_or(0),
                ceiling: c.memory_bytes / MIB,
                unit: " MiB",
                key: "memory",
            },
        );
        let max_retries = pick(
            extra.max_retries.map(u64::from),
            u64::from(self.max_retries),
            u64::from(c.max_retries),
            &mut over,
            |value| OverCeiling {
                field: "extra.max_retries",
                value,
                ceiling: u64::from(c.max_retries),
                unit: "",
                key: "max_retries",
            },
        );
        let budget = TaskBudget {
            limits: Limits {
                fuel,
                timeout,
                memory_bytes,
            },
            // At most `c.max_retries`, a u32.
            max_retries: u32::try_from(max_retries).unwrap_or(c.max_retries),
        };
        (budget, over)
    }
}

/// `asked` when given and within `ceiling`, the ceiling (noting the first excess in `over`)
/// when above it, else the queue's own `base`.
fn pick(
    asked: Option<u64>,
    base: u64,
    ceiling: u64,
    over: &mut Option<OverCeiling>,
    excess: impl FnOnce(u64) -> OverCeiling,
) -> u64 {
    match asked {
        None => base,
        Some(v) if v <= ceiling => v,
        Some(v) => {
            over.get_or_insert_with(|| excess(v));
            ceiling
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::HumanDuration;

    fn queue(toml: &str) -> QueueBudget {
        let q: QueueConfig = toml::from_str(toml).expect("valid queue config");
        QueueBudget::of(&q)
    }

    fn extra(json: &str) -> Extra {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).expect("json object");
        Extra::from_map(&map).expect("valid extra")
    }

    #[test]
    fn a_message_may_lower_every_budget() {
        let b = queue("timeout = \"10s\"\nfuel = 1000\nmemory = \"64MiB\"\nmax_retries = 5");
        let e = extra(r#"{"timeout_ms": 500, "fuel": 10, "memory_mb": 1, "max_retries": 0}"#);
        let t = b.check(&e, Some(3)).expect("lowering is allowed");
        assert_eq!(t.limits.timeout, Duration::from_millis(500));
        assert_eq!((t.limits.fuel, t.limits.memory_bytes), (10, MIB));
        assert_eq!(t.max_retries, 0);
        let none = b.check(&extra("{}"), None).expect("nothing asked");
        assert_eq!((none.limits, none.max_retries), (b.limits, 5));
    }

    #[test]
    fn each_field_over_the_ceiling_is_refused_naming_it_and_capped_at_run() {
        let b = queue("timeout = \"1s\"\nfuel = 1000\nmemory = \"2MiB\"\nmax_retries = 1");
        for (json, field, ceiling) in [
            (r#"{"timeout_ms": 1001}"#, "extra.timeout_ms", 1000),
            (r#"{"fuel": 1001}"#, "extra.fuel", 1000),
            (r#"{"memory_mb": 3}"#, "extra.memory_mb", 2),
            (r#"{"max_retries": 2}"#, "extra.max_retries", 1),
        ] {
            let e = extra(json);
            let err = b.check(&e, None).expect_err(json);
            assert_eq!((err.field, err.ceiling), (field, ceiling), "{json}");
            assert!(err.to_string().contains(field), "{err}");
            let (capped, over) = b.capped(&e);
            assert_eq!(over.map(|o| o.field), Some(field));
            assert!(capped.limits.timeout <= b.ceiling.timeout);
            assert!(capped.limits.fuel <= b.ceiling.fuel);
            assert!(capped.limits.memory_bytes <= b.ceiling.memory_bytes);
            assert!(capped.max_retries <= b.ceiling.max_retries);
        }
        let huge = extra(r#"{"timeout_ms": 18446744073709551615, "fuel": 18446744073709551615}"#);
        let (capped, _) = b.capped(&huge);
        assert_eq!(capped.limits.timeout, Duration::from_secs(1));
        assert_eq!(capped.limits.fuel, 1000);
    }

    #[test]
    fn an_explicit_ceiling_allows_more_and_priority_has_one_too() {
        let b = queue(
            "timeout = \"1s\"\n[message_ceiling]\ntimeout = \"1m\"\npriority = 4\nfuel = 20000000000",
        );
        assert_eq!(b.ceiling.timeout, HumanDuration(Duration::from_secs(60)).0);
        let t = b
            .check(&extra(r#"{"timeout_ms": 30000}"#), Some(4))
            .expect("within the ceiling");
        assert_eq!(t.limits.timeout, Duration::from_secs(30));
        let err = b.check(&extra("{}"), Some(5)).expect_err("priority 5 > 4");
        assert_eq!((err.field, err.ceiling), ("priority", 4));
        let err = b
            .check(&extra(r#"{"priority": 9}"#), None)
            .expect_err("extra.priority too");
        assert_eq!(err.value, 9);
    }

    #[test]
    fn a_ceiling_below_the_queue_or_above_the_host_is_a_config_error() {
        let low = queue("timeout = \"10s\"\n[message_ceiling]\ntimeout = \"1s\"");
        let err = low.validate("queues.q", 1 << 30).expect_err("below");
        assert!(
            err.to_string().contains("queues.q.message_ceiling.timeout"),
            "{err}"
        );
        let high = queue("[message_ceiling]\nmemory = \"1GiB\"");
        let err = high
            .validate("defaults", 256 << 20)
            .expect_err("over max_memory");
        assert!(
            err.to_string().contains("defaults.message_ceiling.memory"),
            "{err}"
        );
        queue("")
            .validate("defaults", 256 << 20)
            .expect("defaults are valid");
    }
}
