//! Panics with `message` (default below): the host reports a panic carrying the message.

/// The message when the payload gives none.
const DEFAULT_MESSAGE: &str = "the panic guest panicked on purpose";

/// Never returns.
#[wasmboost_guest::task]
fn panic(message: Option<String>) -> u64 {
    let message = message.unwrap_or_else(|| DEFAULT_MESSAGE.to_owned());
    panic!("{message}")
}
