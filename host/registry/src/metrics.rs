//! What the registry counts for `/metrics`: compile time, `.cwasm` cache hits and misses, and
//! deploys (accepted and refused). Relaxed atomics: a deploy is rare, a scrape reads a moment's
//! values.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmboost_policy::Histogram;
use wasmboost_policy::histogram::{Counts, DURATION_US_BOUNDS};

/// The registry's counters since the host started.
#[derive(Debug)]
pub(crate) struct RegistryMetrics {
    compile_us: Histogram,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    deploys: AtomicU64,
    deploys_refused: AtomicU64,
}

impl Default for RegistryMetrics {
    fn default() -> Self {
        RegistryMetrics {
            compile_us: Histogram::new(DURATION_US_BOUNDS),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            deploys: AtomicU64::new(0),
            deploys_refused: AtomicU64::new(0),
        }
    }
}

impl RegistryMetrics {
    pub(crate) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A module was not in the cache and was compiled in `took` (child and load together).
    pub(crate) fn compiled(&self, took: Duration) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
        self.compile_us
            .observe(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn deployed(&self, accepted: bool) {
        let counter = if accepted {
            &self.deploys
        } else {
            &self.deploys_refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> RegistryCounts {
        RegistryCounts {
            compile_us: self.compile_us.snapshot(),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            cache_misses: self.cache_misses.load(Ordering::Relaxed),
            deploys: self.deploys.load(Ordering::Relaxed),
            deploys_refused: self.deploys_refused.load(Ordering::Relaxed),
        }
    }
}

/// The registry's counters at one moment ([`Registry::counts`](crate::Registry::counts)).
#[derive(Debug, Clone, Default)]
pub struct RegistryCounts {
    /// Time to compile a module that missed the cache, µs.
    pub compile_us: Counts,
    /// Modules loaded from the `.cwasm` cache without compiling.
    pub cache_hits: u64,
    /// Modules that had to be compiled.
    pub cache_misses: u64,
    /// Deploys accepted (a new version, or the current bytes again).
    pub deploys: u64,
    /// Deploys refused (invalid component, too large, compile limits, compiler busy).
    pub deploys_refused: u64,
}
