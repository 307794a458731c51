//! [`Histogram`]: fixed buckets counted with relaxed atomic adds (no lock, no allocation per
//! observation), so a task's duration, fuel and peak memory can be observed on the hot path; and
//! [`Counts`], the same buckets as plain numbers, for the time-bucketed history and for
//! percentiles ([`Counts::quantile`]).
//!
//! The bucket bounds of each measured quantity are defined here, once: the `/metrics`
//! histograms and the dashboard's p50/p99 both read them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Task and compile durations, in µs (rendered as seconds). 50 µs .. 60 s.
pub const DURATION_US_BOUNDS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];
/// How many buckets a duration has (its bounds and `+Inf`).
pub const DURATION_BUCKETS: usize = 20;
/// Fuel units used by one task. 1 000 .. 10 000 000 000.
pub const FUEL_BOUNDS: &[u64] = &[
    1_000,
    3_000,
    10_000,
    30_000,
    100_000,
    300_000,
    1_000_000,
    3_000_000,
    10_000_000,
    30_000_000,
    100_000_000,
    300_000_000,
    1_000_000_000,
    10_000_000_000,
];
/// Peak linear memory of one task, in bytes: 64 KiB (one wasm page) .. 4 GiB, doubling.
pub const MEMORY_BYTES_BOUNDS: &[u64] = &[
    1 << 16,
    1 << 17,
    1 << 18,
    1 << 19,
    1 << 20,
    1 << 21,
    1 << 22,
    1 << 23,
    1 << 24,
    1 << 25,
    1 << 26,
    1 << 27,
    1 << 28,
    1 << 29,
    1 << 30,
    1 << 31,
    1 << 32,
];

/// The bucket `value` falls in: the first whose bound is at least `value` (Prometheus `le`), or
/// `bounds.len()` (`+Inf`).
pub fn bucket_of(bounds: &[u64], value: u64) -> usize {
    bounds.partition_point(|&bound| bound < value)
}

/// A histogram shared by the threads that observe it.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    /// Per bucket (not cumulative); one more than `bounds` for `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Count one value: two relaxed adds, its bucket's and the sum's (the count is the sum of
    /// the buckets, so it needs no add of its own; about 32 ns each on the 2-core build
    /// machine). A reader may see the two a moment apart, which a scrape tolerates.
    pub fn observe(&self, value: u64) {
        let i = bucket_of(self.bounds, value);
        // `buckets` has `bounds.len() + 1` entries and `i <= bounds.len()`.
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Counts {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        Counts {
            bounds: self.bounds,
            count: buckets.iter().sum(),
            buckets,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub bounds: &'static [u64],
    /// Per bucket, not cumulative; the last one is `+Inf`.
    pub buckets: Vec<u64>,
    pub sum: u64,
    pub count: u64,
}

impl Counts {
    /// Counts already split into `bounds` buckets (the history keeps them as plain arrays).
    pub fn from_buckets(bounds: &'static [u64], buckets: &[u32]) -> Counts {
        let buckets: Vec<u64> = buckets.iter().map(|&n| u64::from(n)).collect();
        let count = buckets.iter().sum();
        Counts {
            bounds,
            buckets,
            sum: 0,
            count,
        }
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its bucket (as Prometheus'
    /// `histogram_quantile` does); `None` when empty. A value past the last bound reports the
    /// last bound (the histogram knows no more).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let Some(&upper) = self.bounds.get(i) else {
                    return self.bounds.last().map(|&b| b as f64);
                };
                let lower = if i == 0 { 0 } else { self.bounds[i - 1] };
                let inside = (rank - below as f64) / n as f64;
                return Some(lower as f64 + (upper - lower) as f64 * inside);
            }
            below += n;
        }
        self.bounds.last().map(|&b| b as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_inclusive_and_sorted() {
        assert_eq!(DURATION_US_BOUNDS.len() + 1, DURATION_BUCKETS);
        for bounds in [DURATION_US_BOUNDS, FUEL_BOUNDS, MEMORY_BYTES_BOUNDS] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(bucket_of(&[10, 20], 0), 0);
        assert_eq!(bucket_of(&[10, 20], 10), 0);
        assert_eq!(bucket_of(&[10, 20], 11), 1);
        assert_eq!(bucket_of(&[10, 20], 21), 2);
    }

    #[test]
    fn observe_counts_sum_and_buckets() {
        let h = Histogram::new(&[10, 20]);
        for v in [1, 10, 15, 100] {
            h.observe(v);
        }
        let c = h.snapshot();
        assert_eq!(c.buckets, vec![2, 1, 1]);
        assert_eq!((c.sum, c.count), (126, 4));
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let h = Histogram::new(&[100, 200, 400]);
        for _ in 0..50 {
            h.observe(50);
        }
        for _ in 0..49 {
            h.observe(150);
        }
        h.observe(300);
        let c = h.snapshot();
        let p50 = c.quantile(0.5).expect("not empty");
        assert!((p50 - 100.0).abs() < 1e-9, "p50 {p50}");
        let p99 = c.quantile(0.99).expect("not empty");
        assert!((p99 - 200.0).abs() < 1e-9, "p99 {p99}");
        assert!(c.quantile(1.0).expect("not empty") > 200.0);
        assert_eq!(Histogram::new(&[1]).snapshot().quantile(0.5), None);
    }
}
