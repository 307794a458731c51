//! Issue 11: every attack on the house around the sandbox, turned into a test.

mod house;
