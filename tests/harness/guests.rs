//! Harness: guests.
