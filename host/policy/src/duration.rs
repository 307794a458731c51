//! Human-friendly durations for config files: `"250ms"`, `"30s"`, `"5m"`, `"1h30m"`, `"7d"`, or a
//! bare number of seconds (`30`, `0.5`). Used with `#[serde(with = "wasmboost_policy::duration")]`
//! (and [`option`] for `Option<Duration>`), so every duration key in `wasmboost.toml` reads the same.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

use crate::error::PolicyError;

/// Parse `"1h30m"`, `"250ms"`, `"0.5s"`, `"7d"` or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, PolicyError> {
    let bad = |why: &str| PolicyError::Duration {
        value: text.to_owned(),
        why: why.to_owned(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(secs) = trimmed.parse::<f64>() {
        return from_secs(secs).ok_or_else(|| bad("seconds must be finite and not negative"));
    }
    let mut total = 0.0_f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let value: f64 = number
            .parse()
            .map_err(|_| bad("expected a number before each unit"))?;
        total += value * unit_seconds(unit).ok_or_else(|| bad("units are ms, s, m, h, d"))?;
        rest = tail.trim_start();
    }
    from_secs(total).ok_or_else(|| bad("it is too large"))
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    })
}

fn from_secs(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// The shortest exact text for `d` in the same syntax (`"1500ms"`, `"30s"`, `"5m"`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}s", d.as_secs_f64())
    } else if ms.is_multiple_of(86_400_000) && ms > 0 {
        format!("{}d", ms / 86_400_000)
    } else if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Text(String),
    Seconds(f64),
}

impl Raw {
    fn into_duration<E: serde::de::Error>(self) -> Result<Duration, E> {
        match self {
            Raw::Text(text) => parse(&text).map_err(E::custom),
            Raw::Seconds(secs) => from_secs(secs).ok_or_else(|| {
                E::custom(format!(
                    "invalid duration {secs}: seconds must be finite and not negative"
                ))
            }),
        }
    }
}

/// `#[serde(with = "wasmboost_policy::duration")]` for `Duration` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    Raw::deserialize(deserializer)?.into_duration()
}

/// Writes the [`format`] text, which [`deserialize`] reads back.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

/// `#[serde(default, with = "wasmboost_policy::duration::option")]` for `Option<Duration>`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Raw, format};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<Raw>::deserialize(deserializer)?
            .map(Raw::into_duration)
            .transpose()
    }

    pub fn serialize<S: Serializer>(
        d: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => serializer.serialize_str(&format(*d)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("1h30m", Duration::from_secs(5400)),
            ("1h 30m", Duration::from_secs(5400)),
            ("7d", Duration::from_secs(7 * 86_400)),
            ("0.5s", Duration::from_millis(500)),
            ("2", Duration::from_secs(2)),
            ("0.25", Duration::from_millis(250)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).expect(text), want, "{text}");
        }
    }

    #[test]
    fn rejects_bad_text_naming_it() {
        for text in ["", "5 parsecs", "s", "-1", "1x", "1.2.3s"] {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(30),
            Duration::from_secs(300),
            Duration::from_secs(7200),
            Duration::from_secs(7 * 86_400),
            Duration::from_micros(1500),
        ] {
            assert_eq!(parse(&format(d)).expect("formatted text parses"), d);
        }
    }

    #[test]
    fn serde_accepts_text_and_numbers() {
        #[derive(Deserialize)]
        struct T {
            #[serde(with = "super")]
            a: Duration,
            #[serde(default, with = "super::option")]
            b: Option<Duration>,
        }
        let t: T = toml::from_str("a = \"2m\"\nb = 1.5").expect("valid toml");
        assert_eq!(t.a, Duration::from_secs(120));
        assert_eq!(t.b, Some(Duration::from_millis(1500)));
        let t: T = toml::from_str("a = 3").expect("valid toml");
        assert_eq!((t.a, t.b), (Duration::from_secs(3), None));
        let err = toml::from_str::<T>("a = \"3 weeks\"")
            .err()
            .expect("bad unit");
        assert!(err.to_string().contains("3 weeks"), "{err}");
    }
}
