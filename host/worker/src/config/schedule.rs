//! `[[schedules]]`: periodic messages declared in the config. Each entry names a queue, a
//! payload and exactly one of `cron` (with an optional `tz`), `every` or `at`; `misfire` and
//! `grace` say what happens to ticks no host could fire in time.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmboost_policy::schedule::{
    Cron, Misfire, Trigger, parse_at, parse_zone, validate_schedule_name,
};
use wasmboost_policy::units::HumanDuration;

use super::error::ConfigError;

/// A tick fired at most this late still counts as on time (default for `grace`).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// One `[[schedules]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique name: the queue-name rule, at most 64 bytes. A tick's task id is `<name>@<ms>`.
    pub name: String,
    /// The queue each tick publishes to (declared or deployed by the time it fires).
    pub queue: String,
    /// The message of every tick: a table whose keys are the task's arguments. Default `{}`.
    #[serde(default)]
    pub payload: Option<serde_json::Map<String, serde_json::Value>>,
    /// Cron with seconds: `sec min hour day-of-month month day-of-week`, e.g. `"0 */5 * * * *"`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Time zone of `cron`: `UTC` (default), `+02:00` or an IANA name like `Europe/Berlin`.
    #[serde(default)]
    pub tz: Option<String>,
    /// Fixed interval, e.g. `"30s"`; ticks fall on multiples of it since the Unix epoch.
    #[serde(default)]
    pub every: Option<HumanDuration>,
    /// One shot, RFC 3339, e.g. `"2027-01-01T09:00:00Z"`.
    #[serde(default)]
    pub at: Option<String>,
    /// Ticks older than `grace` when a host could fire them: `skip` (default), `once` (the
    /// newest of them, once) or `all`.
    #[serde(default)]
    pub misfire: Misfire,
    /// How late a tick may fire and still count as on time (default `"10s"`).
    #[serde(default)]
    pub grace: Option<HumanDuration>,
}

/// A checked schedule, ready to fire.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub queue: String,
    /// The JSON body of every tick's message.
    pub payload: Vec<u8>,
    pub trigger: Trigger,
    /// The trigger as written (`cron "…" tz …`, `every 30s`, `at …`), for listings.
    pub spec: String,
    pub misfire: Misfire,
    pub grace: Duration,
}

impl ScheduleConfig {
    /// Check the entry and build its trigger; errors name `schedules.<name>.<key>`.
    pub fn resolve(&self) -> Result<Schedule, ConfigError> {
        let key = |k: &str| format!("schedules.{}.{k}", self.name);
        validate_schedule_name(&self.name)
            .map_err(|e| ConfigError::invalid("schedules.name", e.to_string()))?;
        wasmboost_policy::validate_queue_name(&self.queue)
            .map_err(|e| ConfigError::invalid(key("queue"), e.to_string()))?;
        if self.tz.is_some() && self.cron.is_none() {
            return Err(ConfigError::invalid(key("tz"), "applies only to `cron`"));
        }
        let (trigger, spec) = match (&self.cron, self.every, &self.at) {
            (Some(expr), None, None) => {
                let tz = self.tz.as_deref().unwrap_or("UTC");
                let zone =
                    parse_zone(tz).map_err(|e| ConfigError::invalid(key("tz"), e.to_string()))?;
                let cron = Cron::parse(expr, zone)
                    .map_err(|e| ConfigError::invalid(key("cron"), e.to_string()))?;
                (Trigger::Cron(cron), format!("cron {expr:?} {tz}"))
            }
            (None, Some(every), None) => {
                let trigger = Trigger::every(every.0)
                    .map_err(|e| ConfigError::invalid(key("every"), e.to_string()))?;
                (trigger, format!("every {every}"))
            }
            (None, None, Some(at)) => {
                let trigger =
                    parse_at(at).map_err(|e| ConfigError::invalid(key("at"), e.to_string()))?;
                (trigger, format!("at {at}"))
            }
            _ => {
                return Err(ConfigError::invalid(
                    key("cron"),
                    "give exactly one of `cron`, `every` or `at`",
                ));
            }
        };
        let payload = serde_json::Value::Object(self.payload.clone().unwrap_or_default());
        Ok(Schedule {
            name: self.name.clone(),
            queue: self.queue.clone(),
            payload: payload.to_string().into_bytes(),
            trigger,
            spec,
            misfire: self.misfire,
            grace: self.grace.map_or(DEFAULT_GRACE, |g| g.0),
        })
    }
}

/// Resolve every entry; names must be unique.
pub fn resolve_all(entries: &[ScheduleConfig]) -> Result<Vec<Schedule>, ConfigError> {
    let mut out: Vec<Schedule> = Vec::with_capacity(entries.len());
    for entry in entries {
        let resolved = entry.resolve()?;
        if out.iter().any(|s| s.name == resolved.name) {
            return Err(ConfigError::invalid(
                "schedules.name",
                format!("{:?} is declared twice", resolved.name),
            ));
        }
        out.push(resolved);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn schedules_parse_and_bad_ones_name_their_key() {
        let good = Config::parse(
            "[[schedules]]\nname = \"tick\"\nqueue = \"echo\"\nevery = \"1s\"\npayload = { n = 1 }\n\
             [[schedules]]\nname = \"berlin\"\nqueue = \"echo\"\ncron = \"0 30 2 * * *\"\n\
             tz = \"Europe/Berlin\"\nmisfire = \"once\"\ngrace = \"1m\"\n",
        )
        .expect("valid");
        let all = resolve_all(&good.schedules).expect("resolves");
        assert_eq!(all[0].payload, br#"{"n":1}"#);
        assert_eq!(all[1].misfire, Misfire::Once);
        assert_eq!(all[1].grace, Duration::from_secs(60));
        for (toml, says) in [
            ("name = \"x\"\nqueue = \"q\"\n", "exactly one of"),
            (
                "name = \"x\"\nqueue = \"q\"\nevery = \"1s\"\nat = \"2027-01-01T00:00:00Z\"\n",
                "exactly one of",
            ),
            (
                "name = \"x\"\nqueue = \"q\"\nevery = \"1s\"\ntz = \"UTC\"\n",
                "schedules.x.tz",
            ),
            (
                "name = \"x\"\nqueue = \"q\"\ncron = \"99 * * * * *\"\n",
                "schedules.x.cron",
            ),
            (
                "name = \"x y\"\nqueue = \"q\"\nevery = \"1s\"\n",
                "schedules.name",
            ),
            (
                "name = \"x\"\nqueue = \"q\"\nat = \"tomorrow\"\n",
                "RFC 3339",
            ),
        ] {
            // `Config::parse` validates: a bad schedule is refused with the file.
            let err = Config::parse(&format!("[[schedules]]\n{toml}"))
                .expect_err(toml)
                .to_string();
            assert!(err.contains(says), "{toml}: {err}");
        }
        let twice = Config::parse(
            "[[schedules]]\nname = \"a\"\nqueue = \"q\"\nevery = \"1s\"\n\
             [[schedules]]\nname = \"a\"\nqueue = \"q\"\nevery = \"2s\"\n",
        );
        let err = twice.expect_err("a name twice").to_string();
        assert!(err.contains("declared twice"), "{err}");
    }
}
