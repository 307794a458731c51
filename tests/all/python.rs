//! Integration tests: python.
