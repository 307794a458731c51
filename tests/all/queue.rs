//! Integration tests: queue.
