//! Harness: python.
