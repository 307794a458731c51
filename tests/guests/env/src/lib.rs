//! Reads the environment variable `name` (default `HOME`) and counts all variables and args:
//! with no ambient authority the value is absent and both counts are 0.

use serde_json::{Value, json};

/// `{"value": null, "vars": 0, "args": 0}` in a sandbox.
#[wasmboost_guest::task]
fn env(name: Option<String>) -> Value {
    let name = name.unwrap_or_else(|| "HOME".to_owned());
    json!({
        "value": std::env::var(&name).ok(),
        "vars": std::env::vars().count(),
        "args": std::env::args().count(),
    })
}
