//! The size grammar: a bare number of bytes, or `<number><unit>` with binary (`KiB`, `MiB`,
//! `GiB`, `TiB`) or decimal (`kB`/`KB`, `MB`, `GB`, `TB`, `B`) units. See the
//! [module docs](super).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::number::scaled;
use crate::error::PolicyError;

/// What every size error shows.
pub const SIZE_FORMS: &str = "a bare number of bytes (1048576) or a number with a unit: KiB, \
                              MiB, GiB, TiB (binary) or B, kB, MB, GB, TB (decimal), e.g. \
                              64MiB, 1.5GiB, 10MB";

const KIB: u128 = 1 << 10;
const UNITS: [(&str, u128); 10] = [
    ("B", 1),
    ("KiB", KIB),
    ("MiB", KIB.pow(2)),
    ("GiB", KIB.pow(3)),
    ("TiB", KIB.pow(4)),
    ("kB", 1_000),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
];

/// Parse a size. A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, PolicyError> {
    let bad = |why: &str| PolicyError::Size {
        value: text.to_owned(),
        why: format!("{why}; use {SIZE_FORMS}"),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| bad(&format!("unknown unit {unit:?}")))?
    };
    let (bytes, dropped) = scaled(number, scale).ok_or_else(|| bad("expected a number"))?;
    if dropped {
        return Err(bad("it is not a whole number of bytes"));
    }
    u64::try_from(bytes).map_err(|_| bad("it is too large"))
}

/// The shortest text [`parse_size`] reads back as exactly `n`: the largest binary unit that
/// divides it (`"64MiB"`), else bytes (`"1000000"`).
pub fn format_size(n: u64) -> String {
    for (unit, size) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

/// A size for people to read, rounded to one decimal: `"512 B"`, `"1.5 KiB"`, `"3.2 GiB"`
/// (tables and summaries; use [`format_size`] where the text must parse back exactly).
pub fn display_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scale = 1u64;
    while unit + 1 < UNITS.len() && n / scale >= 1024 {
        scale <<= 10;
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    // Tenths, rounded half up, in integers (no float rounding surprises).
    let tenths = (u128::from(n) * 10 + u128::from(scale) / 2) / u128::from(scale);
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// A size in the config file: text in the grammar above, or a TOML integer of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl std::str::FromStr for ByteSize {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        parse_size(s).map(ByteSize)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(self.0))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_FORMS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: it is negative")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_bytes_and_units_scale() {
        for (text, want) in [
            ("512", 512),
            ("64MiB", 64 << 20),
            ("1.5KiB", 1536),
            ("2GiB", 2 << 30),
            ("1TiB", 1 << 40),
            ("10B", 10),
            ("1kB", 1000),
            ("1KB", 1000),
            ("1MB", 1_000_000),
            ("3GB", 3_000_000_000),
            ("2TB", 2_000_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn ambiguous_or_bad_sizes_are_errors_showing_the_forms() {
        for text in [
            "",
            "64M",
            "64m",
            "1k",
            "1mb",
            "1Mb",
            "64 MiB",
            "0.5B",
            "1.1KiB0",
            "-1",
            "1e6",
            "3 furlongs",
            "99999999999TiB",
        ] {
            let err = parse_size(text).expect_err(text).to_string();
            assert!(err.contains(&format!("{text:?}")), "{text}: {err}");
            assert!(err.contains("64MiB"), "{text}: shows the forms: {err}");
        }
    }

    #[test]
    fn formats_exactly_and_for_people() {
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1_000_000), "1000000");
        assert_eq!(format_size(0), "0");
        assert_eq!(display_size(512), "512 B");
        assert_eq!(display_size(1536), "1.5 KiB");
        assert_eq!(display_size(64 << 20), "64.0 MiB");
    }

    /// Property: `parse(format(n)) == n` over a deterministic spread of values (multiples of
    /// every unit, odd numbers, the extremes).
    #[test]
    fn parse_after_format_is_identity() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = match i % 4 {
                0 => x,
                1 => (x % 1_000_000) << (10 * (i % 5)),
                2 => x % 4096,
                _ => x.saturating_mul(1 << 20) >> (i % 40),
            };
            assert_eq!(parse_size(&format_size(n)), Ok(n), "{n}");
        }
        for n in [0, 1, u64::MAX, 1 << 63, (1 << 40) - 1] {
            assert_eq!(parse_size(&format_size(n)), Ok(n), "{n}");
        }
        for text in [
            "",
            ".",
            "1..KiB",
            "KiB",
            "\u{1F600}",
            "9".repeat(40).as_str(),
        ] {
            let _ = parse_size(text);
        }
    }
}
