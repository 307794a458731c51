//! Recurses `depth` levels (unbounded when `depth` is absent): a bounded depth returns it, an
//! unbounded one overflows a stack and traps. With `"frames": "large"` each level keeps a 4 KiB
//! buffer in linear memory, so the guest's 128 KiB shadow stack (`-zstack-size`) runs out long
//! before the native stack; without it the frames live on the native stack, which runs out first.

/// Recurses until `n` reaches `limit`; `black_box` keeps the optimizer from turning it into a
/// loop.
fn descend(n: u64, limit: u64) -> u64 {
    if n >= limit {
        return n;
    }
    std::hint::black_box(descend(std::hint::black_box(n + 1), limit)) + 1 - 1
}

/// As [`descend`], each level with a 4 KiB buffer whose address escapes (so it must live in
/// linear memory, on the shadow stack).
fn descend_large(n: u64, limit: u64) -> u64 {
    if n >= limit {
        return n;
    }
    // Filled with plain stores (a byte pattern would become one bulk `memory.fill`, whose
    // out-of-bounds trap carries no address).
    let buffer = std::hint::black_box([n; 512]);
    std::hint::black_box(&buffer);
    std::hint::black_box(descend_large(std::hint::black_box(n + 1), limit)) + 1 - 1
}

/// Returns `depth`, or never returns when it is absent.
#[wasmboost_guest::task]
fn recurse(depth: Option<u64>, frames: Option<String>) -> u64 {
    let limit = depth.unwrap_or(u64::MAX);
    match frames.as_deref() {
        Some("large") => descend_large(0, limit),
        _ => descend(0, limit),
    }
}
