//! Allowed run windows, cron-like: outside its window a queue's messages wait.
//!
//! A window is one or more rules joined by `;`. A rule is `DAYS START-END [ZONE]`:
//! - `DAYS`: `*`, a day (`mon`, `tuesday`, ...), a range (`mon-fri`, wrapping: `fri-mon`), or a
//!   comma list of those (`sat,sun`, `mon,wed-fri`);
//! - `START-END`: `HH:MM-HH:MM`; `24:00` may end a range; a range whose end is before its start
//!   runs overnight and belongs to the day it starts on (`fri 22:00-06:00` ends Saturday 06:00);
//! - `ZONE` (optional, default UTC): `UTC`, a fixed offset (`+02:00`, `-0530`, `+9`) or an IANA
//!   name (`Europe/Berlin`, daylight saving time included).
//!
//! Examples: `"mon-fri 09:00-17:00"`, `"sat,sun 00:00-24:00"`, `"* 22:00-06:00 Europe/Paris"`,
//! `"mon-fri 09:00-12:00; mon-fri 13:00-17:00"`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Weekday};
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::PolicyError;

const DAY_SECS: u32 = 86_400;
const DAY_NAMES: [[&str; 2]; 7] = [
    ["mon", "monday"],
    ["tue", "tuesday"],
    ["wed", "wednesday"],
    ["thu", "thursday"],
    ["fri", "friday"],
    ["sat", "saturday"],
    ["sun", "sunday"],
];

/// A parsed run window. Parse with `str::parse` or deserialize from its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    text: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    /// Indexed by days from Monday.
    days: [bool; 7],
    /// Seconds after local midnight, `start != end`, both `<= 86 400`.
    start: u32,
    end: u32,
    zone: TimeZone,
}

impl Window {
    /// Parse a window; the error names the token that is wrong.
    pub fn parse(text: &str) -> Result<Window, PolicyError> {
        let rules = text
            .split(';')
            .map(|rule| parse_rule(text, rule))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Window {
            text: text.to_owned(),
            rules,
        })
    }

    /// Whether tasks may start at `ts`.
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.rules.iter().any(|rule| rule.contains(ts))
    }

    /// `ts` itself if the window is open then, else the next instant it opens. `None` only if it
    /// never opens within the next eight days, which a parsed window cannot do.
    pub fn next_open(&self, ts: Timestamp) -> Option<Timestamp> {
        if self.contains(ts) {
            return Some(ts);
        }
        self.rules
            .iter()
            .filter_map(|rule| rule.next_start(ts))
            .min()
    }

    /// The text this window was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Rule {
    fn contains(&self, ts: Timestamp) -> bool {
        let local = ts.to_zoned(self.zone.clone());
        let day = day_index(local.weekday());
        let secs = u32::from(local.hour().unsigned_abs()) * 3600
            + u32::from(local.minute().unsigned_abs()) * 60
            + u32::from(local.second().unsigned_abs());
        if self.start < self.end {
            self.days[day] && (self.start..self.end).contains(&secs)
        } else {
            (self.days[day] && secs >= self.start) || (self.days[(day + 6) % 7] && secs < self.end)
        }
    }

    /// The first local start of this rule strictly after `ts`.
    fn next_start(&self, ts: Timestamp) -> Option<Timestamp> {
        let today = ts.to_zoned(self.zone.clone()).date();
        (0..=8)
            .filter_map(|offset: i64| today.checked_add(offset.days()).ok())
            .filter(|date| self.days[day_index(date.weekday())])
            .filter_map(|date| self.start_on(date))
            .find(|start| *start > ts)
    }

    fn start_on(&self, date: Date) -> Option<Timestamp> {
        let (h, m) = (self.start / 3600, self.start % 3600 / 60);
        let local = date.at(i8::try_from(h).ok()?, i8::try_from(m).ok()?, 0, 0);
        // A start that falls in a daylight-saving gap resolves to the instant after the gap.
        Some(local.to_zoned(self.zone.clone()).ok()?.timestamp())
    }
}

fn day_index(day: Weekday) -> usize {
    usize::from(day.to_monday_zero_offset().unsigned_abs())
}

fn parse_rule(input: &str, rule: &str) -> Result<Rule, PolicyError> {
    let bad = |token: &str, why: &str| PolicyError::Window {
        input: input.to_owned(),
        token: token.to_owned(),
        why: why.to_owned(),
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let (days, times, zone) = match parts.as_slice() {
        [days, times] => (*days, *times, None),
        [days, times, zone] => (*days, *times, Some(*zone)),
        [] => return Err(bad(rule, "is empty: expected `DAYS HH:MM-HH:MM [ZONE]`")),
        _ => return Err(bad(rule.trim(), "is not `DAYS HH:MM-HH:MM [ZONE]`")),
    };
    let (start, end) = parse_times(times).map_err(|why| bad(times, why))?;
    Ok(Rule {
        days: parse_days(days).map_err(|(token, why)| bad(&token, why))?,
        start,
        end,
        zone: zone.map_or(Ok(TimeZone::UTC), |z| {
            parse_zone(z).map_err(|why| bad(z, why))
        })?,
    })
}

fn parse_days(text: &str) -> Result<[bool; 7], (String, &'static str)> {
    let mut days = [false; 7];
    if text == "*" {
        return Ok([true; 7]);
    }
    for item in text.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (day_number(a)?, day_number(b)?),
            None => (day_number(item)?, day_number(item)?),
        };
        let span = (last + 7 - first) % 7;
        for offset in 0..=span {
            days[(first + offset) % 7] = true;
        }
    }
    Ok(days)
}

fn day_number(name: &str) -> Result<usize, (String, &'static str)> {
    let lower = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|names| names.contains(&lower.as_str()))
        .ok_or_else(|| {
            (
                name.to_owned(),
                "is not a day: use mon..sun, a range or `*`",
            )
        })
}

fn parse_times(text: &str) -> Result<(u32, u32), &'static str> {
    let (start, end) = text
        .split_once('-')
        .ok_or("is not a time range: expected HH:MM-HH:MM")?;
    let (start, end) = (parse_clock(start)?, parse_clock(end)?);
    if start == DAY_SECS {
        return Err("starts at 24:00: use 00:00");
    }
    if start == end {
        return Err("is empty: start and end are the same (use 00:00-24:00 for all day)");
    }
    Ok((start, end))
}

fn parse_clock(text: &str) -> Result<u32, &'static str> {
    const WHY: &str = "has a time that is not HH:MM between 00:00 and 24:00";
    let (h, m) = text.split_once(':').ok_or(WHY)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(WHY);
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| WHY)?, m.parse().map_err(|_| WHY)?);
    let secs = h * 3600 + m * 60;
    if m >= 60 || secs > DAY_SECS {
        return Err(WHY);
    }
    Ok(secs)
}

pub(crate) fn parse_zone(text: &str) -> Result<TimeZone, &'static str> {
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(TimeZone::UTC);
    }
    let signed = match text.as_bytes().first() {
        Some(b'+') => Some(1),
        Some(b'-') => Some(-1),
        _ => None,
    };
    if let Some(sign) = signed {
        return parse_offset(sign, &text[1..]).ok_or("is not an offset like +02:00 or -0530");
    }
    TimeZone::get(text).map_err(|_| "is not a known time zone (UTC, +HH:MM or an IANA name)")
}

fn parse_offset(sign: i32, rest: &str) -> Option<TimeZone> {
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.as_str(), "0")
    } else {
        digits.split_at(digits.len() - 2)
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 18 || m >= 60 {
        return None;
    }
    let offset = Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()?;
    Some(TimeZone::fixed(offset))
}

impl FromStr for Window {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Window, PolicyError> {
        Window::parse(text)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Window, D::Error> {
        let text = String::deserialize(deserializer)?;
        Window::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
