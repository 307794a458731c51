//! Mapping a failed call to a typed [`TrapKind`].

use wasmtime::Trap;

use crate::config::MAX_GUEST_LINE_BYTES;
use crate::host::MemoryLimitExceeded;
use crate::outcome::TrapKind;
use crate::text::cap_text;

/// Raised by the epoch callback when the invocation's wall-clock deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("wall-clock deadline exceeded")]
pub(crate) struct DeadlineExceeded;

/// Raised by the epoch callback (or the host-call select) once the invocation's
/// [`Interrupt`](crate::Interrupt) is raised.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub(crate) struct Cancelled;

/// Classifies an error from instantiation or the call. `stderr` is the guest's captured stderr,
/// where a Rust guest prints its panic message before trapping.
pub(crate) fn classify(err: &wasmtime::Error, stderr: &str) -> TrapKind {
    if err.downcast_ref::<DeadlineExceeded>().is_some() {
        return TrapKind::Timeout;
    }
    if err.downcast_ref::<Cancelled>().is_some() {
        return TrapKind::Cancelled;
    }
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return TrapKind::MemoryLimit;
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TrapKind::OutOfFuel,
        Some(Trap::Interrupt) => TrapKind::Timeout,
        Some(Trap::StackOverflow) => TrapKind::StackOverflow,
        Some(Trap::UnreachableCodeReached) => match panic_message(stderr) {
            // The message is guest text bound for records and logs: bounded like the others.
            Some(message) => TrapKind::Panic(cap_text(&message, MAX_GUEST_LINE_BYTES).into_owned()),
            None => TrapKind::Other(format!("{err:#}")),
        },
        _ => TrapKind::Other(format!("{err:#}")),
    }
}

/// The message of the last Rust panic in `stderr`: the text after `panicked at <location>:`.
pub(crate) fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let rest = &stderr[start..];
    // Rust >= 1.73 prints the location line, then the message on the following lines.
    let after_location = rest
        .split_once('\n')
        .map(|(_, msg)| msg)
        .unwrap_or_default();
    let message: Vec<&str> = after_location
        .lines()
        .take_while(|line| !line.starts_with("note: ") && !line.starts_with("stack backtrace"))
        .collect();
    let message = message.join("\n").trim().to_owned();
    if message.is_empty() {
        // Older format: `panicked at 'message', src/lib.rs:1:1`.
        Some(rest.lines().next().unwrap_or_default().to_owned())
    } else {
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_last_panic_message() {
        let stderr = "hello\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nfirst\n\
                      thread '<unnamed>' panicked at src/lib.rs:9:1:\nboom: x = 3\n\
                      note: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(stderr).as_deref(), Some("boom: x = 3"));
    }

    #[test]
    fn no_panic_line_means_no_message() {
        assert_eq!(panic_message("just output\n"), None);
    }

    #[test]
    fn classifies_fuel_and_stack_traps() {
        let fuel = wasmtime::Error::new(Trap::OutOfFuel);
        assert_eq!(classify(&fuel, ""), TrapKind::OutOfFuel);
        let stack = wasmtime::Error::new(Trap::StackOverflow);
        assert_eq!(classify(&stack, ""), TrapKind::StackOverflow);
        let deadline = wasmtime::Error::new(DeadlineExceeded);
        assert_eq!(classify(&deadline, ""), TrapKind::Timeout);
    }
}
