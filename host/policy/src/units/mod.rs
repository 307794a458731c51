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
