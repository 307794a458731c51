//! Integration tests: trust no caller (issue 11). Every test runs the real `wasmboost serve`
//! binary; each turns one attack of the issue into a check that it fails with a clear error.
//!
//! - `budgets`: a message can only lower its queue's budgets; at publish (400 naming the field
//!   and its ceiling) and when it skips publish (written straight into Redis: capped).

mod budgets;
