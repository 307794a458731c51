//! The duration grammar: a bare number of seconds, or `<number><unit>` parts in descending order
//! (`d`, `h`, `m`, `s`, `ms`). See the [module docs](super).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::number::scaled;
use crate::error::PolicyError;

/// What every duration error shows.
pub const DURATION_FORMS: &str = "a bare number of seconds (30, 1.5) or number+unit parts from \
                                  largest to smallest with units d, h, m, s, ms (250ms, 30s, \
                                  5m, 1h30m, 7d)";

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Units from largest to smallest, in nanoseconds.
const UNITS: [(&str, u128); 5] = [
    ("d", 86_400 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("ms", 1_000_000),
];

/// Parse a duration. A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, PolicyError> {
    let bad = |why: &str| PolicyError::Duration {
        value: text.to_owned(),
        why: format!("{why}; use {DURATION_FORMS}"),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut nanos: u128 = 0;
    let mut rest = trimmed;
    // Index into UNITS of the smallest unit used so far: the next must be smaller.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = if unit.is_empty() {
            if rest.len() != trimmed.len() {
                return Err(bad("a number after the first part needs a unit"));
            }
            if !tail.trim().is_empty() {
                return Err(bad("expected a unit after each number"));
            }
            NANOS_PER_SEC
        } else {
            let Some(i) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(bad(&format!("unknown unit {unit:?}")));
            };
            if i < next_unit {
                return Err(bad("units must go from largest to smallest, each once"));
            }
            next_unit = i + 1;
            UNITS[i].1
        };
        let (value, _) = scaled(number, scale).ok_or_else(|| bad("expected a number"))?;
        nanos = nanos
            .checked_add(value)
            .ok_or_else(|| bad("it is too large"))?;
        rest = tail.trim_start();
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| bad("it is too large"))?;
    // The remainder of a division by 1e9 fits in u32.
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// The shortest text [`parse_duration`] reads back as exactly `d`: `"1h30m"`, `"250ms"`,
/// `"0s"`, or fractional seconds below a millisecond (`"0.0000015s"`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if !nanos.is_multiple_of(1_000_000) {
        let frac = format!("{:09}", d.subsec_nanos());
        return format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'));
    }
    if nanos == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    let mut rest = nanos;
    for (unit, size) in UNITS {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A duration in the config file: text in the grammar above, or a TOML number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        parse_duration(s).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_FORMS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                parse_duration(v).map(HumanDuration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(|v| HumanDuration(Duration::from_secs(v)))
                    .map_err(|_| E::custom(format!("invalid duration {v}: it is negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Duration::try_from_secs_f64(v)
                    .map(HumanDuration)
                    .map_err(|_| E::custom(format!("invalid duration {v}: use {DURATION_FORMS}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `#[serde(with = "wasmboost_policy::units::duration_text")]` for a plain `Duration` field:
/// the same grammar as [`HumanDuration`].
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{HumanDuration, format_duration};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(d).map(|h| h.0)
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(ok("150"), Duration::from_secs(150));
        assert_eq!(ok("1.5"), Duration::from_millis(1500));
        assert_eq!(ok(" 0 "), Duration::ZERO);
    }

    #[test]
    fn each_unit_and_combinations() {
        for (text, want) in [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("1d2h3m4s5ms", Duration::from_millis(93_784_005)),
            ("0.5s", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("0.0000015s", Duration::from_nanos(1500)),
        ] {
            assert_eq!(ok(text), want, "{text}");
        }
    }

    #[test]
    fn ambiguous_or_bad_text_is_an_error_showing_the_forms() {
        for text in [
            "",
            "5M",
            "5S",
            "1m30",
            "30 s",
            "1s1h",
            "1s1s",
            "5 parsecs",
            "-1",
            "+1s",
            "1e3",
            "1.2.3s",
            "s",
            "1sec",
            "1min",
            "99999999999999999999999d",
        ] {
            let err = parse_duration(text).expect_err(text).to_string();
            assert!(err.contains(&format!("{text:?}")), "{text}: {err}");
            assert!(err.contains("1h30m"), "{text}: shows the forms: {err}");
        }
    }

    #[test]
    fn format_is_shortest_and_exact() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(86_400), "1d"),
            (Duration::from_nanos(1500), "0.0000015s"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(ok(text), d);
        }
    }

    #[test]
    fn config_values_are_text_or_seconds() {
        #[derive(Deserialize)]
        struct T {
            a: HumanDuration,
            b: Option<HumanDuration>,
        }
        let t: T = toml::from_str("a = \"2m\"\nb = 1.5").expect("valid toml");
        assert_eq!(t.a.0, Duration::from_secs(120));
        assert_eq!(t.b.map(|d| d.0), Some(Duration::from_millis(1500)));
        let t: T = toml::from_str("a = 3").expect("valid toml");
        assert_eq!((t.a.0, t.b), (Duration::from_secs(3), None));
        let err = toml::from_str::<T>("a = \"3 weeks\"")
            .err()
            .expect("bad unit");
        assert!(err.to_string().contains("3 weeks"), "{err}");
    }

    /// Property: `parse(format(d)) == d` over a deterministic spread of values (every unit
    /// boundary and sub-millisecond fractions), and parsing never panics on odd text.
    #[test]
    fn parse_after_format_is_identity() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..20_000u64 {
            // xorshift: cheap, deterministic, covers the range without a test dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = match i % 4 {
                0 => x % 100,
                1 => x % 100_000,
                2 => x % 10_000_000_000,
                _ => x,
            };
            let nanos = match i % 3 {
                0 => 0,
                1 => u32::try_from((x >> 7) % 1000).unwrap_or(0) * 1_000_000,
                _ => u32::try_from((x >> 3) % 1_000_000_000).unwrap_or(0),
            };
            let d = Duration::new(secs, nanos);
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
            if nanos % 1_000_000 == 0 {
                assert!(!text.contains('.'), "{text}");
            }
        }
        for text in [
            "",
            ".",
            "..",
            "1..s",
            "ms",
            "1ms1",
            "\u{1F600}",
            "1\u{0}s",
            "9".repeat(40).as_str(),
        ] {
            let _ = parse_duration(text);
        }
    }
}
