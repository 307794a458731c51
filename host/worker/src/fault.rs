//! Test-only crash points, so a test can put a crash exactly inside a window that a kill -9
//! from outside hits only by luck (between filling a workflow join and settling the step;
//! between claiming a schedule tick and publishing it).
//!
//! `WASMBOOST_FAULT` is read once, at the first check; unset (always, outside tests) every
//! check is one load of a cached `None`. Its grammar is a comma-separated list of `point=N`:
//! - `join=N`: abort right after a workflow join fill that brought a stage's count to `N`
//!   (the store's count, so a restarted host with the same variable does not crash again there);
//! - `claim=N`: abort right after this process's `N`-th claimed schedule tick, before its publish.
//!
//! The process ends with `abort` (SIGABRT): no destructor runs and nothing is flushed or
//! settled, which is what the store and broker see of a kill -9. A malformed value is ignored
//! with a warning, never a crash of its own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the crash points.
pub const FAULT_ENV: &str = "WASMBOOST_FAULT";

/// Where a crash can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// After a join fill; the count is the store's.
    Join,
    /// After a tick claim; the count is this process's.
    Claim,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::Join => "join",
            Point::Claim => "claim",
        }
    }
}

fn faults() -> &'static [(String, u64)] {
    static FAULTS: OnceLock<Vec<(String, u64)>> = OnceLock::new();
    FAULTS.get_or_init(|| match std::env::var(FAULT_ENV) {
        Ok(text) => parse(&text),
        Err(_) => Vec::new(),
    })
}

fn parse(text: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=').map(|(p, n)| (p, n.parse::<u64>())) {
            Some((point, Ok(n))) => out.push((point.to_owned(), n)),
            _ => {
                tracing::warn!(value = %part.escape_debug(), "ignoring a malformed {FAULT_ENV} entry")
            }
        }
    }
    out
}

/// Abort if `point` was asked to crash at `count`.
pub(crate) fn check(point: Point, count: u64) {
    let faults = faults();
    if faults.is_empty() {
        return;
    }
    if faults.iter().any(|(p, n)| p == point.name() && *n == count) {
        eprintln!("{FAULT_ENV}: crashing at {}={count}", point.name());
        std::process::abort();
    }
}

/// Count one claimed tick of this process and abort if asked to crash at it.
pub(crate) fn claimed_tick() {
    static CLAIMS: AtomicU64 = AtomicU64::new(0);
    if faults().is_empty() {
        return;
    }
    check(Point::Claim, CLAIMS.fetch_add(1, Ordering::Relaxed) + 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_counts_are_read_and_bad_entries_skipped() {
        assert_eq!(
            parse("join=100, claim=1,,bogus,join=x"),
            [("join".to_owned(), 100), ("claim".to_owned(), 1)]
        );
        assert!(parse("").is_empty());
    }
}
