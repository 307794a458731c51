//! Looks for what an earlier run left in this instance's memory, then leaves its own mark: a run
//! that finds one fails naming it, so `bench` counts it as not ok and the worker records a
//! failure. Proves the README's "a new instance every time" directly, slot reuse or not.
//!
//! - static: a global every run sets;
//! - heap: `mb` MiB grown with `memory.grow` (the pages the allocator gets from the engine).
//!   Every 4 KiB page's first word is read (the mark, anything else but zero) and then marked.
//!   A fresh instance grows from the same size each time, so the same addresses are checked.
//!   With `stride` N only every Nth page is checked and marked: scattered dirty pages, each its
//!   own region for the pool's pagemap reset (which scans 32 regions at a time).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use wasmboost_guest::TaskError;

/// What a run writes: "WASMBOOS" in ASCII.
const MARK: u64 = 0x5741_534d_424f_4f53;
/// One OS page: one word per page is enough to see a page that was not reset.
const PAGE: usize = 4096;
/// One WebAssembly page.
const WASM_PAGE: usize = 65536;

/// Zero in the module's image; every run sets it.
static MARKED: AtomicU64 = AtomicU64::new(0);

/// Checks and marks the static and every `stride`th page (default 1) of `mb` MiB of freshly
/// grown memory.
#[wasmboost_guest::task]
fn leftover(mb: u64, stride: Option<u64>) -> Result<Value, TaskError> {
    let step = usize::try_from(stride.unwrap_or(1).max(1))
        .ok()
        .and_then(|pages| pages.checked_mul(PAGE))
        .ok_or_else(|| TaskError::fail("stride is too large"))?;
    let static_mark = MARKED.swap(MARK, Ordering::Relaxed) != 0;
    let bytes = usize::try_from(mb)
        .ok()
        .and_then(|mb| mb.checked_mul(1 << 20))
        .ok_or_else(|| TaskError::fail(format!("{mb} MiB is too much")))?;
    let old_pages = core::arch::wasm32::memory_grow(0, bytes / WASM_PAGE);
    if old_pages == usize::MAX {
        return Err(TaskError::fail(format!("cannot grow memory by {mb} MiB")));
    }
    let base = old_pages * WASM_PAGE;
    let (mut marked, mut dirty) = (0u64, 0u64);
    for offset in (0..bytes).step_by(step) {
        let word = std::ptr::with_exposed_provenance_mut::<u64>(base + offset);
        // SAFETY: the range was just grown by this instance and nothing else refers to it; the
        // engine initialises grown memory (to zero), so reading it is defined.
        let seen = unsafe { word.read_volatile() };
        match seen {
            0 => {}
            MARK => marked += 1,
            _ => dirty += 1,
        }
        // SAFETY: as above; the word is aligned (a page boundary).
        unsafe { word.write_volatile(MARK) };
    }
    let pages = bytes.div_ceil(step);
    if static_mark || marked > 0 || dirty > 0 {
        return Err(TaskError::fail(format!(
            "found an earlier run's state: static marked {static_mark}, {marked} marked and \
             {dirty} dirty pages of {pages}"
        )));
    }
    Ok(json!({ "pages": pages }))
}
