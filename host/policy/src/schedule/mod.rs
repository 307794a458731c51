//! Periodic schedules, as pure logic: when a schedule fires, which ticks are due after a pause
//! or an outage (the misfire policy), and the task id of each tick. No clock of its own: every
//! function takes `now`, so DST and catch-up are tested with fixed times.
//!
//! - [`cron`]: [`Cron`], cron with seconds in a time zone (DST rules in its docs).
//! - [`Trigger`]: `cron`, `every` (aligned to the Unix epoch, so every host computes the same
//!   ticks) or one-shot `at`.
//! - [`due`]: the ticks to fire now under a [`Misfire`] policy and a grace period.
//! - [`tick_task_id`]: one task id per (schedule, tick), so a tick fired twice (two hosts during
//!   a leader hand-over) is one task.
//!
//! Why our own cron on `jiff` rather than the `cron` or `croner` crates with `chrono-tz`: `jiff`
//! is already here (queue windows) with its bundled tz database, and its ambiguous-time API makes
//! the DST rule explicit (`cron::first_on` / `instant`) instead of inheriting whatever a crate's
//! iterator does in a skipped or repeated hour (the `cron` crate's `Schedule::after` is
//! generic over chrono zones and has had DST skip/double bugs); a second date-time stack and a
//! second tz database would cost build time in every tree.

pub mod cron;

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use cron::Cron;

/// Longest schedule name: a tick's task id (`<name>@<ms>`) stays within the task-id rule.
pub const MAX_SCHEDULE_NAME_LEN: usize = 64;
/// Most ticks one catch-up fires under `misfire = "all"` (the rest are skipped, and counted).
pub const MAX_CATCH_UP: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("cron expression {expr:?} {why}")]
    Cron { expr: String, why: String },
    #[error("time zone {zone:?} {why}")]
    Zone { zone: String, why: &'static str },
    #[error("schedule name {name:?}: {why}")]
    Name { name: String, why: &'static str },
    #[error("`every` must be at least 1 s, not {0:?}")]
    Every(Duration),
    #[error("`at` {0:?} is not an RFC 3339 time like 2027-01-01T09:00:00Z")]
    At(String),
}

/// What to do with ticks that passed while no host could fire them (beyond `grace`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Misfire {
    /// Drop them; fire only ticks within `grace` of their time.
    #[default]
    Skip,
    /// Fire the latest missed tick once, however many were missed.
    Once,
    /// Fire every missed tick (up to [`MAX_CATCH_UP`]).
    All,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Cron(Cron),
    /// Every period, on multiples of it since the Unix epoch.
    Every(Duration),
    /// Once.
    At(Timestamp),
}

impl Trigger {
    /// `every`, checked: at least one second.
    pub fn every(period: Duration) -> Result<Trigger, ScheduleError> {
        if period < Duration::from_secs(1) {
            return Err(ScheduleError::Every(period));
        }
        Ok(Trigger::Every(period))
    }

    /// The first tick strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Trigger::Cron(cron) => cron.next_after(after),
            Trigger::Every(period) => {
                let p = i128::try_from(period.as_nanos()).ok()?;
                let t = after.as_nanosecond();
                let next = (t.div_euclid(p) + 1) * p;
                Timestamp::from_nanosecond(next).ok()
            }
            Trigger::At(at) => (*at > after).then_some(*at),
        }
    }
}

/// The ticks to fire at `now`, given the last tick already handled (fired or skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Ticks to fire, oldest first.
    pub fire: Vec<Timestamp>,
    /// Ticks passed over under the misfire policy.
    pub skipped: u64,
    /// The newest tick handled: the caller stores it as the new `last`.
    pub last: Option<Timestamp>,
}

/// Which ticks in `(last, now]` to fire. A tick at most `grace` old is on time and always
/// fires; older ones follow `misfire`.
pub fn due(
    trigger: &Trigger,
    last: Timestamp,
    now: Timestamp,
    misfire: Misfire,
    grace: Duration,
) -> Due {
    let mut on_time = Vec::new();
    let mut late = Vec::new();
    let mut handled = None;
    let mut cursor = last;
    let mut overflow = 0u64;
    let grace = jiff::SignedDuration::try_from(grace).unwrap_or(jiff::SignedDuration::MAX);
    while let Some(tick) = trigger.next_after(cursor).filter(|t| *t <= now) {
        handled = Some(tick);
        cursor = tick;
        if now.duration_since(tick) <= grace {
            on_time.push(tick);
        } else if late.len() < MAX_CATCH_UP {
            late.push(tick);
        } else {
            // Keep walking to find the newest tick, but remember only the first ones.
            overflow += 1;
        }
    }
    let mut fire = Vec::new();
    let late_count = late.len() as u64 + overflow;
    let skipped = match misfire {
        Misfire::Skip => late_count,
        Misfire::Once => {
            fire.extend(late.last().copied());
            late_count.saturating_sub(1)
        }
        Misfire::All => {
            fire.append(&mut late);
            overflow
        }
    };
    fire.append(&mut on_time);
    Due {
        fire,
        skipped,
        last: handled,
    }
}

/// Milliseconds since the Unix epoch as a timestamp (saturating at jiff's range).
pub fn timestamp_ms(ms: u64) -> Timestamp {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::MAX)
}

/// A timestamp as milliseconds since the Unix epoch (0 before it).
pub fn to_ms(ts: Timestamp) -> u64 {
    u64::try_from(ts.as_millisecond()).unwrap_or(0)
}

/// A one-shot time in RFC 3339 (`2027-01-01T09:00:00Z`, `2027-01-01T10:00:00+01:00`).
pub fn parse_at(text: &str) -> Result<Trigger, ScheduleError> {
    text.parse::<Timestamp>()
        .map(Trigger::At)
        .map_err(|_| ScheduleError::At(text.to_owned()))
}

/// The task id of `schedule`'s tick at `tick`: the same on every host, so the tick is one task
/// however often it is fired.
pub fn tick_task_id(schedule: &str, tick: Timestamp) -> String {
    format!("{schedule}@{}", tick.as_millisecond())
}

/// A schedule name: the queue-name rule, at most [`MAX_SCHEDULE_NAME_LEN`] bytes.
pub fn validate_schedule_name(name: &str) -> Result<(), ScheduleError> {
    let bad = |why| ScheduleError::Name {
        name: name.chars().take(80).collect(),
        why,
    };
    if name.len() > MAX_SCHEDULE_NAME_LEN {
        return Err(bad("it is longer than 64 bytes"));
    }
    crate::names::validate_queue_name(name).map_err(|_| bad(crate::names::QUEUE_NAME_RULE))
}

/// A time zone by name: `UTC`, an offset like `+02:00`, or an IANA name (the same grammar as
/// queue windows).
pub fn parse_zone(text: &str) -> Result<TimeZone, ScheduleError> {
    crate::window::parse_zone(text).map_err(|why| ScheduleError::Zone {
        zone: text.to_owned(),
        why,
    })
}

#[cfg(test)]
mod tests;
