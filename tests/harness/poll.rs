//! Waiting for a condition without sleeping for readiness: poll with a deadline.

use std::time::{Duration, Instant};

/// Poll `check` every 25 ms until it returns `Some`, or fail after `within` naming `what` and
/// showing `context()` (typically the hosts' logs).
pub fn poll<T>(
    what: &str,
    within: Duration,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}
