//! The one grammar for durations and the one for sizes, used by the config file, every CLI
//! flag, HTTP query parameters and a message's `extra`. Pure: text in, value or error out.
//!
//! - Durations ([`parse_duration`]): a **bare number is seconds** (`30`, `1.5`); otherwise one or
//!   more `<number><unit>` parts in descending order, each unit at most once, units `d`, `h`,
//!   `m`, `s`, `ms` (`250ms`, `30s`, `1h30m`, `1h 30m`, `7d`, `0.5s`).
//! - Sizes ([`parse_size`]): a **bare number is bytes** (`1048576`); otherwise `<number><unit>`
//!   with binary units `KiB`, `MiB`, `GiB`, `TiB` or decimal `kB`/`KB`, `MB`, `GB`, `TB`, `B`.
//!
//! Anything else is an error that shows the accepted forms: units are case-sensitive (`5M` could
//! be minutes or MiB and is refused), a part without a unit after another part (`1m30`) is
//! refused, and so are signs, exponents and fractions of a byte. [`format_duration`] and
//! [`format_size`] write the shortest text that parses back to the same value.

mod duration;
mod number;
mod size;

pub use duration::{DURATION_FORMS, HumanDuration, duration_text, format_duration, parse_duration};
pub use size::{ByteSize, SIZE_FORMS, display_size, format_size, parse_size};

/// Property tests of both grammars: what `format_*` writes, `parse_*` reads back exactly, and
/// no text at all makes a parser panic.
#[cfg(test)]
mod properties {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{format_duration, format_size, parse_duration, parse_size};

    proptest! {
        #[test]
        fn a_formatted_duration_parses_back_exactly(
            secs in 0u64..1_000_000_000,
            nanos in 0u32..1_000_000_000,
        ) {
            let d = Duration::new(secs, nanos);
            let text = format_duration(d);
            prop_assert_eq!(parse_duration(&text).ok(), Some(d), "{}", text);
        }

        #[test]
        fn a_formatted_size_parses_back_exactly(n in any::<u64>()) {
            let text = format_size(n);
            prop_assert_eq!(parse_size(&text).ok(), Some(n), "{}", text);
        }

        #[test]
        fn any_text_is_parsed_or_refused_without_a_panic(text in any::<String>()) {
            let _ = parse_duration(&text);
            let _ = parse_size(&text);
        }
    }
}
