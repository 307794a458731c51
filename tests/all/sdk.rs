//! Integration tests: sdk.
