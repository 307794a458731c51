//! [`Cron`]: a cron expression with seconds, in a time zone, and its next fire time.
//!
//! Grammar: six fields `sec min hour day-of-month month day-of-week` (five fields mean
//! `sec = 0`). Each field is a comma list of `*`, `N`, `A-B`, each optionally `/STEP`; months
//! may be `jan`..`dec`, weekdays `sun`..`sat` (0 and 7 are Sunday). When both day fields are
//! restricted a day matches either (as in Vixie cron).
//!
//! Time zones and DST, decided here once: the expression is matched against the wall clock of
//! its zone. A wall-clock time that does not exist (the hour skipped when DST starts) fires once,
//! at the instant the clocks jump, so a daily 02:30 job still runs on that day. A wall-clock time
//! that happens twice (the hour repeated when DST ends) fires only at its first occurrence, so a
//! daily 01:30 job runs once. (A fixed rate through that hour is what `every` is for.)

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

use super::ScheduleError;

/// How far ahead a next fire time is searched (an expression like `0 0 0 31 2 *` never fires).
const SEARCH_DAYS: i32 = 366 * 5;

/// A parsed cron expression and its zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    seconds: Vec<i8>,
    minutes: Vec<i8>,
    hours: Vec<i8>,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
    zone: TimeZone,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parse `expr` in `zone` (already resolved; see `super::parse_zone`).
    pub fn parse(expr: &str, zone: TimeZone) -> Result<Cron, ScheduleError> {
        let bad = |why: String| ScheduleError::Cron {
            expr: expr.to_owned(),
            why,
        };
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            6 => fields,
            5 => std::iter::once("0").chain(fields).collect(),
            n => {
                return Err(bad(format!(
                    "has {n} fields, expected 6 (sec min hour dom mon dow) or 5"
                )));
            }
        };
        let seconds = field(fields[0], 0, 59, &[]).map_err(&bad)?;
        let minutes = field(fields[1], 0, 59, &[]).map_err(&bad)?;
        let hours = field(fields[2], 0, 23, &[]).map_err(&bad)?;
        let days = field(fields[3], 1, 31, &[]).map_err(&bad)?;
        let months = field(fields[4], 1, 12, &MONTHS).map_err(&bad)?;
        let mut weekdays = field(fields[5], 0, 7, &WEEKDAYS).map_err(&bad)?;
        if weekdays.contains(&7) {
            weekdays.push(0);
        }
        Ok(Cron {
            seconds,
            minutes,
            hours,
            days: days.iter().fold(0, |m, d| m | 1 << d),
            months: months.iter().fold(0, |m, d| m | 1 << d),
            weekdays: weekdays.iter().fold(0, |m, d| m | 1 << (d % 7)),
            days_restricted: fields[3] != "*",
            weekdays_restricted: fields[5] != "*",
            zone,
        })
    }

    /// The first fire time strictly after `after`, or `None` within the next five years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = self.zone.to_datetime(after);
        let mut date = start.date();
        for _ in 0..SEARCH_DAYS {
            if self.date_matches(date)
                && let Some(next) = self.first_on(date, after)
            {
                return Some(next);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn date_matches(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first fire time on `date` strictly after `after`. Wall-clock times map to instants
    /// in non-decreasing order (see the module docs), so the first one past `after` is the
    /// earliest.
    fn first_on(&self, date: Date, after: Timestamp) -> Option<Timestamp> {
        let floor = self.zone.to_datetime(after);
        let same_day = floor.date() == date;
        for &h in &self.hours {
            if same_day && h < floor.hour() {
                continue;
            }
            for &m in &self.minutes {
                if same_day && (h, m) < (floor.hour(), floor.minute()) {
                    continue;
                }
                for &s in &self.seconds {
                    let dt = DateTime::from_parts(date, Time::constant(h, m, s, 0));
                    let at = self.instant(dt)?;
                    if at > after {
                        return Some(at);
                    }
                }
            }
        }
        None
    }

    /// The instant of wall-clock `dt` under this module's DST rule.
    fn instant(&self, dt: DateTime) -> Option<Timestamp> {
        let ambiguous = self.zone.to_ambiguous_timestamp(dt);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            // In a gap: the transition that opened it (the first instant after the skipped
            // wall-clock hour).
            AmbiguousOffset::Gap { after, .. } => {
                let probe = after.to_timestamp(dt).ok()?;
                let jump = self.zone.following(probe).next()?.timestamp();
                // Guard against zone data without the transition: fall back to one hour on.
                Some(if jump > probe {
                    jump
                } else {
                    probe.checked_add(1.hour()).ok()?
                })
            }
        }
    }
}

/// The sorted values one field allows.
fn field(text: &str, min: i8, max: i8, names: &[&str]) -> Result<Vec<i8>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: i8 =
                    step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("step {step:?} in {item:?} is not a positive number")
                    })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            // `N/STEP` means from N to the end, stepping.
            (v, if item.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(format!("range {item:?} runs backwards"));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

fn value(text: &str, min: i8, max: i8, names: &[&str]) -> Result<i8, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        // Months are 1-based, weekdays 0-based: the first name is `min`.
        return Ok(min + i as i8);
    }
    text.parse::<i8>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("{text:?} is not a value from {min} to {max}"))
}
