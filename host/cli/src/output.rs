//! Human output of the client subcommands: aligned tables and short formats for sizes, times
//! and durations. `--json` output bypasses this module.

use std::fmt::Write as _;

/// Render rows under headers, columns padded to their widest cell, two spaces apart. Numeric
/// columns (every cell parses as a number or is `-`) are right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .all(|cell| cell == "-" || cell.trim_end_matches(['s', '%']).parse::<f64>().is_ok())
        })
        .collect();
    let mut out = String::new();
    let header_cells: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_cells).chain(rows) {
        let mut line = String::new();
        for (i, width) in widths.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            let sep = if i == 0 { "" } else { "  " };
            // Writing to a String cannot fail.
            let _ = if numeric[i] && !rows.is_empty() {
                write!(line, "{sep}{cell:>width$}")
            } else {
                write!(line, "{sep}{cell:<width$}")
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1.2 MiB`, `340 KiB`, `512 B`.
pub use wasmboost_worker::units::display_size as bytes;

/// A Unix-epoch millisecond time as RFC 3339 (UTC, second precision).
pub fn time_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(
            || ms.to_string(),
            |ts| {
                ts.round(jiff::Unit::Second)
                    .map_or_else(|_| ts.to_string(), |t| t.to_string())
            },
        )
}

/// Seconds as `850ms`, `12.3s`, `4m05s`, `2h10m`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".to_owned();
    }
    if s < 1.0 {
        return format!("{:.0}ms", s * 1000.0);
    }
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// `Some(x)` as text, `None` as `-`.
pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["add".to_owned(), "12".to_owned()],
            vec!["resize-image".to_owned(), "3".to_owned()],
        ];
        let text = table(&["QUEUE", "QUEUED"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "QUEUE         QUEUED");
        assert_eq!(lines[1], "add               12");
        assert_eq!(lines[2], "resize-image       3");
    }

    #[test]
    fn sizes_and_durations_are_short() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(secs(0.25), "250ms");
        assert_eq!(secs(12.34), "12.3s");
        assert_eq!(secs(245.0), "4m05s");
        assert_eq!(secs(7800.0), "2h10m");
    }
}
