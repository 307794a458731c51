//! Queue statistics: the row `wasmboost queues` prints ([`QueueStats`]) and time-bucketed
//! history ([`History`]) kept in bounded rings: per second for a minute, per minute for an hour,
//! per hour for a day, per day for ten days.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use wasmboost_policy::histogram::{Counts, DURATION_BUCKETS, DURATION_US_BOUNDS, bucket_of};

/// One row of `wasmboost queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queue: String,
    pub paused: bool,
    /// Current module version; `None` = no module deployed yet.
    pub version: Option<u32>,
    /// Visible now.
    pub queued: u64,
    /// Waiting for a countdown, ETA or retry backoff.
    pub delayed: u64,
    /// Leased by a host (running or about to).
    pub running: u64,
    /// Since the counters began (they persist in the state store).
    pub succeeded: u64,
    /// Attempts that failed (retried or not).
    pub failed: u64,
    pub dead_lettered: u64,
    /// Failed attempts scheduled to run again, since the counters began.
    #[serde(default)]
    pub retried: u64,
    /// Tasks that ended in the dead-letter queue, since the counters began (`dead_lettered` is
    /// what sits there now).
    #[serde(default)]
    pub dead_lettered_total: u64,
    /// Tasks that expired before they could run, since the counters began.
    #[serde(default)]
    pub expired: u64,
    /// Tasks skipped because their dedup key had already succeeded, since the counters began.
    #[serde(default)]
    pub skipped_duplicate: u64,
    /// Tasks finished per second over the last minute (on this host).
    pub rate_per_sec_1m: f64,
    /// Average duration of finished attempts over the last minute, else since start.
    pub avg_duration_ms: f64,
    /// `queued / rate`, when there is a rate.
    pub eta_drain_secs: Option<f64>,
    /// Hosts whose heartbeat says they run this queue.
    pub hosts: Vec<String>,
    /// Calls the queue's grants refused (0.2.0 imports, `wasi:http`) since the counters began.
    #[serde(default)]
    pub denied: u64,
    /// What the queue's tasks may reach (`[queues.<name>.grants]`); secrets by their source
    /// (variable or file name), never their value. `None`: nothing granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<crate::config::grants::GrantsConfig>,
    /// The queue's own `[queues.<name>]` policy keys as configured (unset keys take
    /// `[defaults]`, then the built-in defaults); its grants are in `grants`. `None`: the queue
    /// is not in the config (deployed only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<crate::config::QueueConfig>,
}

/// Activity in one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Start of the bucket, ms since the Unix epoch.
    pub start_ms: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Sum of attempt durations finished in this bucket, µs.
    pub duration_us: u64,
    /// Median attempt duration in this bucket, µs (interpolated inside the `/metrics`
    /// duration buckets); `None` when nothing finished.
    #[serde(default)]
    pub p50_us: Option<u64>,
    /// 99th percentile attempt duration in this bucket, µs.
    #[serde(default)]
    pub p99_us: Option<u64>,
    /// Attempts by duration bucket ([`DURATION_US_BOUNDS`]); the percentiles come from here.
    #[serde(skip)]
    durations: [u32; DURATION_BUCKETS],
}

impl Bucket {
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed
    }

    /// This bucket with its percentiles filled in.
    fn with_percentiles(mut self) -> Bucket {
        let counts = Counts::from_buckets(DURATION_US_BOUNDS, &self.durations);
        // Durations are whole µs, far below 2^53: the rounding is exact enough.
        let at = |q| counts.quantile(q).map(|us: f64| us.round() as u64);
        self.p50_us = at(0.5);
        self.p99_us = at(0.99);
        self
    }
}

/// A queue's recent activity, oldest bucket first, every bucket present (zeros included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub queue: String,
    pub per_second: Vec<Bucket>,
    pub per_minute: Vec<Bucket>,
    pub per_hour: Vec<Bucket>,
    pub per_day: Vec<Bucket>,
}

/// A ring of `len` buckets each `width_ms` wide, ending with the current one.
#[derive(Debug, Clone)]
struct Ring {
    width_ms: u64,
    len: usize,
    buckets: VecDeque<Bucket>,
}

impl Ring {
    fn new(width_ms: u64, len: usize) -> Ring {
        Ring {
            width_ms,
            len,
            buckets: VecDeque::with_capacity(len),
        }
    }

    fn current(&mut self, now_ms: u64) -> &mut Bucket {
        let start = now_ms - now_ms % self.width_ms;
        if self.buckets.back().is_none_or(|b| b.start_ms < start) {
            if self.buckets.len() == self.len {
                self.buckets.pop_front();
            }
            self.buckets.push_back(Bucket {
                start_ms: start,
                ..Bucket::default()
            });
        }
        // Pushed above when missing, so there is a last bucket.
        self.buckets.back_mut().expect("ring has a current bucket")
    }

    /// The last `len` buckets ending at `now`, missing ones as zeros.
    fn snapshot(&self, now_ms: u64) -> Vec<Bucket> {
        let end = now_ms - now_ms % self.width_ms;
        let first = end.saturating_sub(self.width_ms * (self.len as u64 - 1));
        let mut out = Vec::with_capacity(self.len);
        let mut stored = self
            .buckets
            .iter()
            .filter(|b| b.start_ms >= first)
            .peekable();
        let mut start = first;
        while start <= end {
            match stored.peek() {
                Some(b) if b.start_ms == start => out.push(b.with_percentiles()),
                _ => out.push(Bucket {
                    start_ms: start,
                    ..Bucket::default()
                }),
            }
            if stored.peek().is_some_and(|b| b.start_ms <= start) {
                stored.next();
            }
            start += self.width_ms;
        }
        out
    }
}

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Counts finished attempts of one queue into the four rings.
#[derive(Debug, Clone)]
pub(crate) struct Meter {
    rings: [Ring; 4],
    started_ms: u64,
    total_finished: u64,
    total_duration_us: u64,
}

impl Meter {
    pub(crate) fn new(now_ms: u64) -> Meter {
        Meter {
            rings: [
                Ring::new(SECOND, 60),
                Ring::new(MINUTE, 60),
                Ring::new(HOUR, 24),
                Ring::new(DAY, 10),
            ],
            started_ms: now_ms,
            total_finished: 0,
            total_duration_us: 0,
        }
    }

    /// Count one finished attempt.
    pub(crate) fn record(&mut self, now_ms: u64, ok: bool, duration_us: u64) {
        let slot = bucket_of(DURATION_US_BOUNDS, duration_us);
        for ring in &mut self.rings {
            let b = ring.current(now_ms);
            if ok {
                b.succeeded += 1;
            } else {
                b.failed += 1;
            }
            b.duration_us += duration_us;
            if let Some(n) = b.durations.get_mut(slot) {
                *n = n.saturating_add(1);
            }
        }
        self.total_finished += 1;
        self.total_duration_us += duration_us;
    }

    pub(crate) fn history(&self, queue: &str, now_ms: u64) -> History {
        History {
            queue: queue.to_owned(),
            per_second: self.rings[0].snapshot(now_ms),
            per_minute: self.rings[1].snapshot(now_ms),
            per_hour: self.rings[2].snapshot(now_ms),
            per_day: self.rings[3].snapshot(now_ms),
        }
    }

    /// (tasks per second over the last minute, average duration in ms).
    pub(crate) fn rate_and_avg(&self, now_ms: u64) -> (f64, f64) {
        let window_start = now_ms.saturating_sub(MINUTE);
        let recent = self.rings[0]
            .buckets
            .iter()
            .filter(|b| b.start_ms >= window_start);
        let (n, us) = recent.fold((0u64, 0u64), |(n, us), b| {
            (n + b.finished(), us + b.duration_us)
        });
        // A host up for 5 s has a 5 s window, not a minute.
        let span_ms = now_ms
            .saturating_sub(self.started_ms.max(window_start))
            .max(SECOND);
        let rate = n as f64 * 1000.0 / span_ms as f64;
        let avg = if n > 0 {
            us as f64 / n as f64 / 1000.0
        } else if self.total_finished > 0 {
            self.total_duration_us as f64 / self.total_finished as f64 / 1000.0
        } else {
            0.0
        };
        (rate, avg)
    }
}

/// Time to drain `queued` at `rate` per second.
pub(crate) fn eta_secs(queued: u64, rate: f64) -> Option<f64> {
    if queued == 0 {
        Some(0.0)
    } else if rate > 0.0 {
        Some(queued as f64 / rate)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_bounded_and_complete() {
        let t0 = 1_700_000_000_000u64;
        let mut m = Meter::new(t0);
        for s in 0..200u64 {
            m.record(t0 + s * SECOND, s % 2 == 0, 1000);
        }
        let now = t0 + 199 * SECOND;
        let h = m.history("q", now);
        assert_eq!(h.per_second.len(), 60);
        assert_eq!(h.per_minute.len(), 60);
        assert_eq!(h.per_hour.len(), 24);
        assert_eq!(h.per_day.len(), 10);
        assert!(h.per_second.iter().all(|b| b.finished() == 1));
        let total: u64 = h.per_minute.iter().map(Bucket::finished).sum();
        assert_eq!(total, 200);
        assert!(m.rings[0].buckets.len() <= 60);
        assert!(
            h.per_second
                .windows(2)
                .all(|w| w[1].start_ms == w[0].start_ms + SECOND)
        );
    }

    #[test]
    fn buckets_carry_duration_percentiles() {
        let t0 = 1_700_000_000_000u64;
        let mut m = Meter::new(t0);
        for i in 0..100u64 {
            // 99 fast attempts (≤ 1 ms) and one slow one (≤ 1 s).
            let us = if i == 99 { 900_000 } else { 800 };
            m.record(t0 + 10, true, us);
        }
        let h = m.history("q", t0 + 10);
        let last = h.per_second.last().expect("a bucket");
        let p50 = last.p50_us.expect("p50");
        let p99 = last.p99_us.expect("p99");
        assert!((500..=1_000).contains(&p50), "p50 {p50}");
        assert!(p99 <= 1_000, "p99 {p99} of 99 fast attempts out of 100");
        let first = h.per_second.first().expect("a bucket");
        assert_eq!((first.p50_us, first.p99_us), (None, None));
        m.record(t0 + 20, true, 900_000);
        let h = m.history("q", t0 + 20);
        let p99 = h.per_second.last().and_then(|b| b.p99_us).expect("p99");
        assert!(
            p99 > 500_000,
            "two slow attempts out of 101 move p99: {p99}"
        );
    }

    #[test]
    fn rate_over_the_last_minute_and_eta() {
        let t0 = 1_700_000_000_000u64;
        let mut m = Meter::new(t0);
        for i in 0..600u64 {
            m.record(t0 + i * 100, true, 2000); // 10/s for 60 s, 2 ms each
        }
        let (rate, avg) = m.rate_and_avg(t0 + 60 * SECOND);
        assert!((rate - 10.0).abs() < 0.5, "rate {rate}");
        assert!((avg - 2.0).abs() < 1e-9, "avg {avg}");
        assert_eq!(
            eta_secs(100, rate).map(f64::round),
            Some((100.0 / rate).round())
        );
        assert_eq!(eta_secs(5, 0.0), None);
        assert_eq!(eta_secs(0, 0.0), Some(0.0));
    }
}
