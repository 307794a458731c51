//! A strict reading of a W3C `traceparent` value (Trace Context, section 3.2). The standard
//! propagator of `opentelemetry_sdk` is lenient: it checks no lengths (`00-4bf9-00f0-01` names
//! a trace), takes a `+` sign as a hex digit and trims any Unicode whitespace, newlines
//! included. A producer's bad value must start a new trace, not continue a made-up one, so the
//! value is read here and the propagator is used only to write ours out.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// `version "-" trace-id "-" parent-id "-" trace-flags`: 2 + 1 + 32 + 1 + 16 + 1 + 2.
const LEN: usize = 55;

/// The longest value read at all. The recommendation leaves a future version's tail open;
/// nothing a producer needs is that long, and a longer value is not worth scanning.
pub const MAX_LEN: usize = 512;

/// The remote span a `traceparent` value names, or `None` when the value is malformed:
/// not `2 hex - 32 hex - 16 hex - 2 hex` in lowercase, version `ff`, version `00` with
/// anything after the flags, an all-zero trace or parent id, or longer than [`MAX_LEN`].
/// Spaces and tabs around the value (HTTP's optional whitespace) are allowed; nothing else is.
pub fn parse(value: &str) -> Option<SpanContext> {
    let value = value.trim_matches([' ', '\t']).as_bytes();
    if value.len() < LEN || value.len() > MAX_LEN {
        return None;
    }
    let (head, tail) = value.split_at(LEN);
    let version = hex::<1>(&head[0..2])?[0];
    let tail_ok = match version {
        0xff => false,
        // Version 00 is exactly 55 characters.
        0 => tail.is_empty(),
        // A later version may add fields after a dash; its first four are read as 00's.
        _ => tail.is_empty() || tail[0] == b'-',
    };
    if !tail_ok || head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
        return None;
    }
    let trace_id = TraceId::from_bytes(hex::<16>(&head[3..35])?);
    let span_id = SpanId::from_bytes(hex::<8>(&head[36..52])?);
    let flags = TraceFlags::new(hex::<1>(&head[53..55])?[0]) & TraceFlags::SAMPLED;
    let context = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    // `is_valid`: neither id is all zeros.
    context.is_valid().then_some(context)
}

/// `2 * N` lowercase hex digits as `N` bytes.
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const S: &str = "00f067aa0ba902b7";

    #[test]
    fn a_well_formed_value_names_its_span() {
        let context = parse(&format!("00-{T}-{S}-01")).expect("valid");
        assert_eq!(context.trace_id().to_string(), T);
        assert_eq!(context.span_id().to_string(), S);
        assert!(context.is_sampled());
        assert!(context.is_remote());
        // Optional whitespace around it, unknown flags (zeroed) and a later version's extra
        // field are allowed.
        assert!(parse(&format!(" \t00-{T}-{S}-00\t ")).is_some_and(|c| !c.is_sampled()));
        assert!(parse(&format!("00-{T}-{S}-ff")).is_some_and(|c| c.is_sampled()));
        assert!(parse(&format!("cc-{T}-{S}-01-what-comes-next")).is_some());
        assert!(parse(&format!("cc-{T}-{S}-01")).is_some());
    }

    #[test]
    fn a_malformed_value_names_nothing() {
        let long = "a".repeat(10 << 10);
        let zeros32 = "0".repeat(32);
        let zeros16 = "0".repeat(16);
        let bad = [
            String::new(),
            format!("ff-{T}-{S}-01"),
            format!("0-{T}-{S}-01"),
            format!("000-{T}-{S}-01"),
            format!("xy-{T}-{S}-01"),
            format!("00-{T}-{S}-01-extra"),
            format!("00-{T}-{S}-011"),
            format!("00-{T}-{S}-1"),
            format!("00-{}-{S}-01", &T[..31]),
            format!("00-{T}0-{S}-01"),
            format!("00-{T}-{}-01", &S[..15]),
            format!("00-{T}-{S}0-01"),
            "00-4bf9-00f0-01".to_owned(),
            format!("00-{}g-{S}-01", &T[..31]),
            format!("00-+{}-{S}-01", &T[1..]),
            format!("00-{T}-+{}-01", &S[1..]),
            format!("00-{T}-{S}-+1"),
            format!("00-{}-{S}-01", T.to_uppercase()),
            format!("00-{zeros32}-{S}-01"),
            format!("00-{T}-{zeros16}-01"),
            format!("00_{T}_{S}_01"),
            format!("00-{T}-{S}-01\n"),
            format!("\n00-{T}-{S}-01"),
            format!("00-{T}-{S}-01\r\nforged: 1"),
            format!("00-{T}-{S}-0\u{0}"),
            format!("00-{T}-{S}-01{long}"),
            format!("cc-{T}-{S}-01-{long}"),
            format!("cc-{T}-{S}-01x"),
        ];
        for value in bad {
            assert!(parse(&value).is_none(), "{value:?} was accepted");
        }
    }
}
