//! Harness: rabbit.
