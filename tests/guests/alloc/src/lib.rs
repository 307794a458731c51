//! Allocates `mb` MiB in 1 MiB chunks, touching every page, and returns the bytes held: under
//! the memory limit it succeeds, over it the grow fails and the call traps.

/// Bytes in one chunk.
const CHUNK: usize = 1 << 20;
/// Bytes in a wasm page's worth of touching: one write per OS page is enough.
const PAGE: usize = 4096;

/// Holds `mb` MiB at once.
#[wasmboost_guest::task]
fn alloc(mb: u64) -> u64 {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mb {
        let mut chunk = vec![0u8; CHUNK];
        for i in (0..CHUNK).step_by(PAGE) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
    chunks.iter().map(|c| c.len() as u64).sum()
}
