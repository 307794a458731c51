//! Loops forever: only fuel or the deadline stops it.

/// Never returns.
#[wasmboost_guest::task]
fn spin() -> u64 {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}
