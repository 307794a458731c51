//! Schedules with fixed times: cron fields, time zones across both DST transitions, `every`
//! alignment, misfire policies and tick ids.

use std::time::Duration;

use jiff::Timestamp;

use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a valid timestamp")
}

fn cron(expr: &str, zone: &str) -> Trigger {
    Trigger::Cron(Cron::parse(expr, parse_zone(zone).expect("zone")).expect("expression"))
}

fn next(trigger: &Trigger, after: &str) -> String {
    trigger
        .next_after(ts(after))
        .expect("a next tick")
        .to_string()
}

#[test]
fn cron_with_seconds_steps_and_lists() {
    let every_10s = cron("*/10 * * * * *", "UTC");
    assert_eq!(
        next(&every_10s, "2026-05-04T12:00:03Z"),
        "2026-05-04T12:00:10Z"
    );
    assert_eq!(
        next(&every_10s, "2026-05-04T12:00:50Z"),
        "2026-05-04T12:01:00Z"
    );
    let five_min = cron("0 */5 * * * *", "UTC");
    assert_eq!(
        next(&five_min, "2026-05-04T12:00:00Z"),
        "2026-05-04T12:05:00Z"
    );
    let five_fields = cron("15 9 * * mon-fri", "UTC");
    // 2026-05-09 is a Saturday: the next weekday is Monday the 11th.
    assert_eq!(
        next(&five_fields, "2026-05-08T10:00:00Z"),
        "2026-05-11T09:15:00Z"
    );
    let months = cron("0 0 0 1 jan,jul *", "UTC");
    assert_eq!(
        next(&months, "2026-02-01T00:00:00Z"),
        "2026-07-01T00:00:00Z"
    );
}

#[test]
fn day_of_month_or_day_of_week_when_both_are_restricted() {
    // The 13th or any Friday: 2026-01-01 is a Thursday, so Friday the 2nd comes first.
    let either = cron("0 0 0 13 * fri", "UTC");
    assert_eq!(
        next(&either, "2026-01-01T00:00:00Z"),
        "2026-01-02T00:00:00Z"
    );
    assert_eq!(
        next(&either, "2026-01-09T00:00:00Z"),
        "2026-01-13T00:00:00Z"
    );
    let sunday_as_7 = cron("0 0 0 * * 7", "UTC");
    assert_eq!(
        next(&sunday_as_7, "2026-01-01T00:00:00Z"),
        "2026-01-04T00:00:00Z"
    );
}

#[test]
fn a_time_zone_shifts_the_wall_clock() {
    let berlin_nine = cron("0 0 9 * * *", "Europe/Berlin");
    // Winter (CET, +01): 09:00 is 08:00Z; summer (CEST, +02): 07:00Z.
    assert_eq!(
        next(&berlin_nine, "2026-01-10T00:00:00Z"),
        "2026-01-10T08:00:00Z"
    );
    assert_eq!(
        next(&berlin_nine, "2026-07-10T00:00:00Z"),
        "2026-07-10T07:00:00Z"
    );
}

#[test]
fn a_time_skipped_by_dst_fires_once_at_the_jump() {
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z; 02:30 does not exist.
    let daily = cron("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(next(&daily, "2026-03-28T12:00:00Z"), "2026-03-29T01:00:00Z");
    assert_eq!(next(&daily, "2026-03-29T01:00:00Z"), "2026-03-30T00:30:00Z");
    // Every minute of the skipped hour collapses into one fire at the jump, then 03:00 CEST
    // is the same instant (not fired twice), then 03:01.
    let minutely = cron("0 * * * * *", "Europe/Berlin");
    assert_eq!(
        next(&minutely, "2026-03-29T00:59:30Z"),
        "2026-03-29T01:00:00Z"
    );
    assert_eq!(
        next(&minutely, "2026-03-29T01:00:00Z"),
        "2026-03-29T01:01:00Z"
    );
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let ny = cron("0 30 2 * * *", "America/New_York");
    assert_eq!(next(&ny, "2026-03-08T00:00:00Z"), "2026-03-08T07:00:00Z");
}

#[test]
fn a_time_repeated_by_dst_fires_only_at_its_first_occurrence() {
    // Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:30 happens at
    // 00:30Z (CEST) and again at 01:30Z (CET). Only the first fires.
    let daily = cron("0 30 2 * * *", "Europe/Berlin");
    assert_eq!(next(&daily, "2026-10-24T12:00:00Z"), "2026-10-25T00:30:00Z");
    assert_eq!(next(&daily, "2026-10-25T00:30:00Z"), "2026-10-26T01:30:00Z");
}

#[test]
fn every_is_aligned_to_the_epoch_so_all_hosts_agree() {
    let every = Trigger::every(Duration::from_secs(30)).expect("valid");
    assert_eq!(next(&every, "2026-05-04T12:00:10Z"), "2026-05-04T12:00:30Z");
    assert_eq!(next(&every, "2026-05-04T12:00:30Z"), "2026-05-04T12:01:00Z");
    assert_eq!(
        Trigger::every(Duration::from_millis(500)),
        Err(ScheduleError::Every(Duration::from_millis(500)))
    );
    let at = Trigger::At(ts("2027-01-01T09:00:00Z"));
    assert_eq!(next(&at, "2026-12-31T00:00:00Z"), "2027-01-01T09:00:00Z");
    assert_eq!(
        at.next_after(ts("2027-01-01T09:00:00Z")),
        None,
        "fires once"
    );
}

#[test]
fn misfire_policies_after_an_outage() {
    let every = Trigger::every(Duration::from_secs(1)).expect("valid");
    let last = ts("2026-05-04T12:00:00Z");
    let now = ts("2026-05-04T12:00:10Z");
    let grace = Duration::from_secs(2);
    let secs = |d: &Due| -> Vec<i64> {
        d.fire
            .iter()
            .map(|t| t.as_second() - last.as_second())
            .collect()
    };

    let skip = due(&every, last, now, Misfire::Skip, grace);
    assert_eq!(secs(&skip), [8, 9, 10], "only ticks within the grace");
    assert_eq!(skip.skipped, 7);
    assert_eq!(skip.last, Some(now));

    let once = due(&every, last, now, Misfire::Once, grace);
    assert_eq!(
        secs(&once),
        [7, 8, 9, 10],
        "the newest missed tick once, then the on-time ones"
    );
    assert_eq!(once.skipped, 6);

    let all = due(&every, last, now, Misfire::All, grace);
    assert_eq!(secs(&all), (1..=10).collect::<Vec<_>>());
    assert_eq!(all.skipped, 0);

    let nothing = due(&every, now, now, Misfire::All, grace);
    assert!(
        nothing.fire.is_empty() && nothing.last.is_none(),
        "no tick twice"
    );
}

#[test]
fn a_tick_has_one_task_id() {
    let tick = ts("2026-05-04T12:00:05Z");
    assert_eq!(tick_task_id("nightly", tick), "nightly@1777896005000");
    assert_eq!(tick_task_id("nightly", tick), tick_task_id("nightly", tick));
    assert_ne!(tick_task_id("nightly", tick), tick_task_id("hourly", tick));
    let longest = "n".repeat(MAX_SCHEDULE_NAME_LEN);
    assert!(crate::names::validate_task_id(&tick_task_id(&longest, tick)).is_ok());
}

#[test]
fn bad_input_is_refused_naming_it() {
    let utc = parse_zone("UTC").expect("utc");
    for (expr, says) in [
        ("61 * * * * *", "\"61\" is not a value from 0 to 59"),
        ("* * *", "has 3 fields"),
        ("*/0 * * * * *", "step \"0\""),
        ("0 0 0 * foo *", "\"foo\""),
        ("0 0 5-2 * * *", "runs backwards"),
    ] {
        let err = Cron::parse(expr, utc.clone()).expect_err(expr).to_string();
        assert!(err.contains(says), "{expr}: {err}");
    }
    let zone = parse_zone("Mars/Olympus").expect_err("no such zone");
    assert!(
        matches!(&zone, ScheduleError::Zone { zone, .. } if zone == "Mars/Olympus"),
        "{zone:?}"
    );
    assert!(validate_schedule_name("nightly-report").is_ok());
    for (name, why) in [
        ("has space", crate::names::QUEUE_NAME_RULE),
        (&"x".repeat(65), "longer than 64 bytes"),
    ] {
        let err = validate_schedule_name(name).expect_err(name);
        assert!(
            matches!(&err, ScheduleError::Name { name: n, .. } if n == name)
                && err.to_string().contains(why),
            "{name}: {err}"
        );
    }
}
