//! Mapping a failed call to a typed [`TrapKind`].

use wasmtime::Trap;

use crate::config::MAX_GUEST_LINE_BYTES;
use crate::host::MemoryLimitExceeded;
use crate::outcome::TrapKind;
use crate::text::cap_text;

/// A fault at or above this wasm address is the guest's shadow stack running below address 0.
/// Rust (and C) guests keep their stack in linear memory, growing down from the stack size the
/// linker was given (`-zstack-size`, 128 KiB in the SDK's build profile) towards address 0;
/// one frame too many wraps the 32-bit stack pointer to just under 4 GiB, far past any memory
/// the pool grants (at most `max_memory_bytes`), so the access faults in the guard region. The
/// top 16 MiB covers frames of up to 16 MiB of locals; a real data address never gets there.
const SHADOW_STACK_WRAP_FLOOR: u64 = (1 << 32) - (16 << 20);

/// Said with every out-of-bounds trap that is not recognisably a stack overflow: a shadow-stack
/// overflow whose first access is a bulk `memory.fill`/`memory.copy` (or any access when
/// `memory_reservation` is below 4 GiB) carries no fault address and ends the same way.
const SHADOW_STACK_HINT: &str = " (if the task recurses deeply this may be its shadow stack \
     running out: the SDK's build profile gives it 128 KiB, `-zstack-size=131072` in \
     .cargo/config.toml; raise it)";

/// The prefix wasmtime gives the context it attaches to a trap that faulted in linear memory.
const WASM_FAULT_PREFIX: &str = "memory fault at wasm address 0x";

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
        Some(Trap::MemoryOutOfBounds) if shadow_stack_wrapped(err) => TrapKind::StackOverflow,
        Some(Trap::MemoryOutOfBounds) => TrapKind::Other(format!("{err:#}{SHADOW_STACK_HINT}")),
        Some(Trap::UnreachableCodeReached) => match panic_message(stderr) {
            // The message is guest text bound for records and logs: bounded like the others.
            Some(message) => TrapKind::Panic(cap_text(&message, MAX_GUEST_LINE_BYTES).into_owned()),
            None => TrapKind::Other(format!("{err:#}")),
        },
        _ => TrapKind::Other(format!("{err:#}")),
    }
}

/// Whether an out-of-bounds access faulted at an address only a wrapped-around shadow stack
/// pointer produces (see [`SHADOW_STACK_WRAP_FLOOR`]). The address is known only when the access
/// hit the guard region (the default 4 GiB `memory_reservation`); with explicit bounds checks
/// the trap stays an out-of-bounds access.
fn shadow_stack_wrapped(err: &wasmtime::Error) -> bool {
    err.chain()
        .filter_map(|cause| fault_address(&cause.to_string()))
        .any(|address| address >= SHADOW_STACK_WRAP_FLOOR)
}

/// The address in wasmtime's `memory fault at wasm address 0x… in linear memory of size 0x…`.
fn fault_address(text: &str) -> Option<u64> {
    let hex = text.strip_prefix(WASM_FAULT_PREFIX)?;
    let end = hex
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(hex.len());
    u64::from_str_radix(&hex[..end], 16).ok()
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

    #[test]
    fn a_fault_just_under_4_gib_is_a_wrapped_shadow_stack() {
        let fault = |address: u64| {
            wasmtime::Error::new(Trap::MemoryOutOfBounds).context(format!(
                "memory fault at wasm address {address:#x} in linear memory of size 0x30000"
            ))
        };
        assert_eq!(classify(&fault(0xffff_ff80), ""), TrapKind::StackOverflow);
        // An ordinary stray access past the end of memory stays what it is.
        assert!(matches!(
            classify(&fault(0x40_0000), ""),
            TrapKind::Other(_)
        ));
        let unknown = wasmtime::Error::new(Trap::MemoryOutOfBounds);
        match classify(&unknown, "") {
            TrapKind::Other(message) => assert!(message.contains("-zstack-size"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
