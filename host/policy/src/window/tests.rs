use super::*;

/// Monday 2026-11-23 at `hh:mm` UTC plus `days`.
fn at(days: i64, hh: i8, mm: i8) -> Timestamp {
    let date = jiff::civil::date(2026, 11, 23)
        .checked_add(days.days())
        .expect("date in range");
    date.at(hh, mm, 0, 0)
        .to_zoned(TimeZone::UTC)
        .expect("utc is unambiguous")
        .timestamp()
}

fn window(text: &str) -> Window {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn business_hours() {
    let w = window("mon-fri 09:00-17:00");
    assert!(w.contains(at(0, 9, 0)));
    assert!(w.contains(at(4, 16, 59)));
    assert!(!w.contains(at(0, 17, 0)));
    assert!(!w.contains(at(0, 8, 59)));
    assert!(!w.contains(at(5, 12, 0)), "saturday");
    assert_eq!(
        w.next_open(at(4, 18, 0)),
        Some(at(7, 9, 0)),
        "friday evening -> monday"
    );
    assert_eq!(w.next_open(at(0, 7, 0)), Some(at(0, 9, 0)));
    assert_eq!(w.next_open(at(0, 12, 0)), Some(at(0, 12, 0)), "open now");
}

#[test]
fn weekends_all_day() {
    let w = window("sat,sun 00:00-24:00");
    assert!(w.contains(at(5, 0, 0)));
    assert!(w.contains(at(6, 23, 59)));
    assert!(!w.contains(at(7, 0, 0)));
    assert_eq!(w.next_open(at(0, 0, 0)), Some(at(5, 0, 0)));
}

#[test]
fn overnight_belongs_to_its_start_day() {
    let every = window("* 22:00-06:00");
    assert!(every.contains(at(0, 23, 0)));
    assert!(every.contains(at(1, 5, 59)));
    assert!(!every.contains(at(1, 6, 0)));
    assert!(!every.contains(at(1, 21, 59)));
    assert_eq!(every.next_open(at(1, 12, 0)), Some(at(1, 22, 0)));

    let friday = window("fri 22:00-06:00");
    assert!(
        friday.contains(at(5, 5, 0)),
        "saturday morning ends friday's window"
    );
    assert!(
        !friday.contains(at(4, 5, 0)),
        "thursday is not in the window"
    );
    assert_eq!(friday.next_open(at(5, 7, 0)), Some(at(11, 22, 0)));
}

#[test]
fn several_rules_and_wrapping_day_ranges() {
    let w = window("mon-fri 09:00-12:00; mon-fri 13:00-17:00");
    assert!(w.contains(at(1, 11, 0)));
    assert!(!w.contains(at(1, 12, 30)));
    assert_eq!(w.next_open(at(1, 12, 30)), Some(at(1, 13, 0)));

    let w = window("fri-mon 10:00-11:00");
    let open: Vec<bool> = (0..7).map(|d| w.contains(at(d, 10, 30))).collect();
    assert_eq!(open, [true, false, false, false, true, true, true]);
    let w = window("Monday,WED-thu 10:00-11:00");
    let open: Vec<bool> = (0..7).map(|d| w.contains(at(d, 10, 30))).collect();
    assert_eq!(open, [true, false, true, true, false, false, false]);
}

#[test]
fn zones_shift_the_window() {
    // Berlin is UTC+1 in November and UTC+2 in July.
    let w = window("mon-fri 09:00-17:00 Europe/Berlin");
    assert!(w.contains(at(0, 8, 0)));
    assert!(!w.contains(at(0, 16, 0)));
    let july: Timestamp = "2026-07-06T07:30:00Z".parse().expect("valid timestamp");
    assert!(w.contains(july), "09:30 CEST");
    let w = window("* 09:00-10:00 +05:30");
    assert!(w.contains(at(0, 3, 30)));
    assert!(!w.contains(at(0, 4, 30)));
    assert_eq!(w.next_open(at(0, 5, 0)), Some(at(1, 3, 30)));
    let w = window("* 09:00-10:00 -0800");
    assert!(w.contains(at(0, 17, 0)));
}

#[test]
fn next_open_is_the_first_open_minute() {
    // Brute force over sixteen days of minutes, checked against a backward scan.
    for text in [
        "mon-fri 09:00-17:00",
        "fri 22:00-06:00; wed 00:00-00:30",
        "sat,sun 00:00-24:00",
        "* 23:59-00:01 +01:00",
        "tue 12:00-12:01 America/New_York",
    ] {
        let w = window(text);
        let minutes = 16 * 1440;
        let ts: Vec<Timestamp> = (0..minutes)
            .map(|m| at(0, 0, 0) + (m as i64).minutes())
            .collect();
        let mut next = vec![None; minutes + 1];
        for i in (0..minutes).rev() {
            next[i] = if w.contains(ts[i]) {
                Some(ts[i])
            } else {
                next[i + 1]
            };
        }
        for i in 0..7 * 1440 {
            assert_eq!(w.next_open(ts[i]), next[i], "{text} at {}", ts[i]);
        }
    }
}

#[test]
fn errors_name_the_bad_token() {
    let cases = [
        ("mon-fry 09:00-17:00", "\"fry\""),
        ("mon 9-17", "\"9-17\""),
        ("mon 09:00-09:00", "is empty"),
        ("mon 25:00-26:00", "\"25:00-26:00\""),
        ("mon 09:60-10:00", "\"09:60-10:00\""),
        ("mon 24:00-10:00", "24:00"),
        ("mon 09:00-17:00 Mars/Olympus", "\"Mars/Olympus\""),
        ("mon 09:00-17:00 +25:00", "\"+25:00\""),
        ("", "is empty"),
        ("mon-fri 09:00-17:00;", "is empty"),
        ("mon 09:00-17:00 UTC extra", "\"mon 09:00-17:00 UTC extra\""),
        ("09:00-17:00", "\"09:00-17:00\""),
    ];
    for (text, want) in cases {
        let err = Window::parse(text).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(err.contains(&format!("{text:?}")), "names the input: {err}");
    }
}

#[test]
fn deserializes_from_config_text() {
    #[derive(Deserialize)]
    struct Q {
        window: Window,
    }
    let q: Q = toml::from_str("window = \"sat,sun 00:00-24:00\"").expect("valid window");
    assert_eq!(q.window.as_str(), "sat,sun 00:00-24:00");
    let err = toml::from_str::<Q>("window = \"someday 10:00-11:00\"")
        .err()
        .expect("bad day");
    assert!(err.to_string().contains("someday"), "{err}");
}
