//! Harness: host.
