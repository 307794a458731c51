//! Human units in the config file: durations (`"30s"`, `"1h30m"`, `"250ms"`, `"7d"`) and byte
//! sizes (`"64MiB"`, `"1MB"`, `1048576`). Parsed strictly: a bad value is an error naming it.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as a string of `<number><unit>` parts (`ms`, `s`, `m`, `h`, `d`), e.g.
/// `"1h30m"`, or as a bare number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

/// A byte size written as `"<number><unit>"` (`B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`) or as
/// a bare number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

/// Parse `"1h30m"`, `"250ms"`, `"2.5s"`, `"7d"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_len = rest[num_len..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - num_len);
        let (num, unit) = (&rest[..num_len], rest[num_len..num_len + unit_len].trim());
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. \"30s\", \"1h30m\""))?;
        let scale = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m, h, d)"
                ));
            }
        };
        total += value * scale;
        rest = rest[num_len + unit_len..].trim_start();
    }
    Duration::try_from_secs_f64(total)
        .map_err(|_| format!("invalid duration {text:?}: out of range"))
}

/// Format a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Parse `"64MiB"`, `"1MB"`, `"512"`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    let value: f64 = num.parse().map_err(|_| {
        format!("invalid size {text:?}: expected e.g. \"64MiB\" or a number of bytes")
    })?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    let bytes = value * scale;
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("invalid size {text:?}: out of range"));
    }
    // In range (checked above), so the cast does not saturate.
    Ok(bytes.round() as u64)
}

/// Format a byte size in the largest binary unit that divides it.
pub fn format_bytes(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
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
                f.write_str("a duration such as \"30s\", \"1h30m\" or a number of seconds")
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
                    .map_err(|_| E::custom(format!("invalid duration {v}: must not be negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Duration::try_from_secs_f64(v)
                    .map(HumanDuration)
                    .map_err(|_| {
                        E::custom(format!(
                            "invalid duration {v}: must be a non-negative number of seconds"
                        ))
                    })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_bytes(self.0))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_bytes(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_round_trip() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert!(
            parse_duration("5 parsecs")
                .expect_err("unknown unit")
                .contains("parsecs")
        );
        assert!(parse_duration("").is_err());
        for d in ["30s", "7d", "250ms", "90m"] {
            assert_eq!(format_duration(parse_duration(d).expect("valid")), d);
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1MB"), Ok(1_000_000));
        assert_eq!(parse_bytes("512"), Ok(512));
        assert!(
            parse_bytes("3 furlongs")
                .expect_err("unknown unit")
                .contains("furlongs")
        );
        assert_eq!(format_bytes(64 << 20), "64MiB");
    }
}
