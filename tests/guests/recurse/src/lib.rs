//! Recurses `depth` levels (unbounded when `depth` is absent), on the wasm stack: a bounded
//! depth returns it, an unbounded one overflows the stack and traps.

/// Recurses until `n` reaches `limit`; `black_box` keeps the optimizer from turning it into a
/// loop.
fn descend(n: u64, limit: u64) -> u64 {
    if n >= limit {
        return n;
    }
    std::hint::black_box(descend(std::hint::black_box(n + 1), limit)) + 1 - 1
}

/// Returns `depth`, or never returns when it is absent.
#[wasmboost_guest::task]
fn recurse(depth: Option<u64>) -> u64 {
    descend(0, depth.unwrap_or(u64::MAX))
}
