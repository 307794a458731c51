//! Guest text made safe for the host: cut to a byte bound (the cut marked) and with control
//! characters escaped, so a guest can neither flood the host's log nor forge a line in it.
//!
//! Both functions are total and never allocate more than their bound plus a short marker.

use std::borrow::Cow;

/// The first at most `max` bytes of `text` (cut on a character boundary), followed by
/// `…[truncated N bytes]` when anything was cut, `N` being the bytes dropped.
pub fn cap_text(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let head = prefix(text, max);
    let dropped = text.len() - head.len();
    Cow::Owned(format!("{head}{}", truncation_marker(dropped)))
}

/// The marker appended where guest text was cut.
pub fn truncation_marker(dropped: usize) -> String {
    format!("…[truncated {dropped} bytes]")
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` with every character that could end or rewrite a log line escaped: `\n`, `\r`,
/// `\t` as themselves, every other control character (C0, DEL, C1, which includes ANSI `ESC`)
/// and the Unicode line and paragraph separators as `\u{..}`. Everything else is unchanged.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut buf = [0u8; 16];
    for c in text.chars() {
        out.push_str(escape_char(c, &mut buf));
    }
    Cow::Owned(out)
}

/// [`escape_control`] of the start of a message, at most `max` bytes once escaped (an escape is
/// never split), followed by the truncation marker when anything was left out. `text` is a
/// prefix of the message (the host may have read only that much of it) and `full_len` the
/// message's full length, so the marker counts what the guest wrote, not what the host read.
pub fn escape_capped(text: &str, full_len: usize, max: usize) -> String {
    let mut out = String::with_capacity(max.min(text.len() + 16));
    let mut consumed = 0;
    let mut escaped = [0u8; 16];
    for c in text.chars() {
        let piece = escape_char(c, &mut escaped);
        if out.len() + piece.len() > max {
            break;
        }
        out.push_str(piece);
        consumed += c.len_utf8();
    }
    let dropped = full_len.saturating_sub(consumed);
    if dropped > 0 {
        out.push_str(&truncation_marker(dropped));
    }
    out
}

/// One character as [`escape_control`] writes it, using `buf` for escapes.
fn escape_char(c: char, buf: &mut [u8; 16]) -> &str {
    match c {
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        c if needs_escape(c) => {
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            // At most `\u{10ffff}`: 10 bytes, within the buffer.
            let _ = std::io::Write::write_fmt(&mut cursor, format_args!("\\u{{{:x}}}", c as u32));
            let len = usize::try_from(cursor.position()).unwrap_or(0);
            std::str::from_utf8(&buf[..len]).unwrap_or("\\u{?}")
        }
        c => c.encode_utf8(buf),
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_borrowed_unchanged() {
        assert!(matches!(cap_text("hello", 5), Cow::Borrowed("hello")));
        assert!(matches!(escape_control("plain ü text"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut_and_marked_with_the_dropped_count() {
        assert_eq!(cap_text("abcdefgh", 3), "abc…[truncated 5 bytes]");
        assert_eq!(cap_text("abc", 0), "…[truncated 3 bytes]");
    }

    #[test]
    fn the_cut_never_splits_a_character() {
        // "é" is two bytes: a bound in its middle cuts before it.
        assert_eq!(cap_text("aé", 2), "a…[truncated 2 bytes]");
        assert_eq!(prefix("€€", 4), "€");
    }

    #[test]
    fn a_huge_text_becomes_a_bounded_one() {
        let huge = "x".repeat(40 << 20);
        let capped = cap_text(&huge, 4096);
        assert!(capped.len() < 4096 + 64, "{}", capped.len());
        assert!(capped.ends_with(&format!("…[truncated {} bytes]", (40 << 20) - 4096)));
    }

    #[test]
    fn newlines_and_escapes_cannot_start_a_line_or_drive_a_terminal() {
        let forged =
            "ok\n2026-01-01T00:00:00Z  INFO wasmboost: deployed\r\x1b[31mred\x1b[0m\u{2028}";
        let escaped = escape_control(forged);
        assert_eq!(
            escaped,
            "ok\\n2026-01-01T00:00:00Z  INFO wasmboost: deployed\\r\\u{1b}[31mred\\u{1b}[0m\\u{2028}"
        );
        assert!(!escaped.chars().any(char::is_control));
    }

    #[test]
    fn escape_capped_bounds_the_escaped_length_and_counts_what_was_left() {
        // Each ESC becomes 6 bytes: 4 of them fit in 25, the rest (and the tail) are counted.
        let text = "\x1b".repeat(10);
        let line = escape_capped(&text, 1000, 25);
        assert_eq!(
            line,
            format!("{}…[truncated 996 bytes]", "\\u{1b}".repeat(4))
        );
        assert_eq!(escape_capped("a\nb", 3, 100), "a\\nb");
        assert_eq!(escape_capped("abc", 3, 2), "ab…[truncated 1 bytes]");
    }

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let text = c.to_string();
            let escaped = escape_control(&text);
            assert!(
                !escaped.chars().any(char::is_control),
                "{c:?} -> {escaped:?}"
            );
            assert!(escaped.starts_with('\\'), "{c:?} -> {escaped:?}");
        }
    }
}
