//! A smooth rate limiter (GCRA without burst credit): slots are spaced exactly `1 / rate` apart.
//!
//! The caller asks [`RateLimiter::reserve`] for a slot, waits until the returned instant, then
//! starts its task. Slot times are computed from an anchor as `anchor + n * interval`, so there is
//! no rounding drift however long it runs, and fractional rates (0.5/s) and high rates (5000/s)
//! are both exact on average.
//!
//! Timers wake late (tokio rounds to the millisecond; a busy machine adds more). If the caller
//! comes back for the next slot a little after it was due, the limiter keeps the schedule (the
//! slot starts "now" and the following one stays on the grid) instead of restarting from now,
//! which would lose the lateness on every slot and run slow. Lateness is forgiven up to
//! `catch_up`; after a longer idle gap the schedule restarts at now, so idle time never banks a
//! burst.

use std::time::{Duration, Instant};

use crate::error::PolicyError;

/// Lowest accepted rate: one slot every ~11.6 days.
pub const MIN_RATE_PER_SECOND: f64 = 1e-6;
/// Highest accepted rate: one slot per microsecond.
pub const MAX_RATE_PER_SECOND: f64 = 1e6;
/// How late a caller may come back and still keep the schedule (see the module docs).
pub const DEFAULT_CATCH_UP: Duration = Duration::from_millis(50);

/// Check a configured rate without building a limiter (for config validation).
pub fn validate_rate(per_second: f64) -> Result<(), PolicyError> {
    if per_second.is_finite() && (MIN_RATE_PER_SECOND..=MAX_RATE_PER_SECOND).contains(&per_second) {
        Ok(())
    } else {
        Err(PolicyError::Rate {
            value: per_second,
            min: MIN_RATE_PER_SECOND,
            max: MAX_RATE_PER_SECOND,
        })
    }
}

/// Hands out evenly spaced start times. Not thread-safe by itself: wrap it in a mutex when
/// several tasks share one queue's rate (each `reserve` is a few arithmetic operations).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    interval_ns: f64,
    catch_up: Duration,
    /// Slot `n` is due at `anchor + n * interval`; `None` until the first reservation.
    anchor: Option<Instant>,
    /// Index of the next free slot.
    next_slot: u64,
}

impl RateLimiter {
    /// A limiter for `per_second` slots per second (fractional allowed), with [`DEFAULT_CATCH_UP`].
    pub fn new(per_second: f64) -> Result<RateLimiter, PolicyError> {
        validate_rate(per_second)?;
        Ok(RateLimiter {
            per_second,
            interval_ns: 1e9 / per_second,
            catch_up: DEFAULT_CATCH_UP,
            anchor: None,
            next_slot: 0,
        })
    }

    /// Replace how much caller lateness keeps the schedule (zero = strict GCRA, never catch up).
    pub fn with_catch_up(mut self, catch_up: Duration) -> RateLimiter {
        self.catch_up = catch_up;
        self
    }

    /// The configured rate.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// The spacing between two slots.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }

    /// Take the next slot and return when the caller may start (`now` or later). The slot is
    /// taken even if the caller then decides not to use it.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let due = self.due(now);
        let start = match due {
            Some(due) if now <= due + self.catch_up => due.max(now),
            _ => {
                self.anchor = Some(now);
                self.next_slot = 0;
                now
            }
        };
        self.next_slot += 1;
        start
    }

    /// When the next slot is due, without taking it (`now` if the schedule would restart).
    pub fn peek(&self, now: Instant) -> Instant {
        match self.due(now) {
            Some(due) if now <= due + self.catch_up => due.max(now),
            _ => now,
        }
    }

    fn due(&self, now: Instant) -> Option<Instant> {
        let anchor = self.anchor?;
        // Rounded to whole nanoseconds from the anchor each time: the error never accumulates.
        let offset_ns = (self.next_slot as f64 * self.interval_ns).round();
        // An offset past Duration's range cannot happen for rates >= MIN_RATE within the life of
        // a process; treat it as "far in the future" anyway rather than panicking.
        let offset = Duration::try_from_secs_f64(offset_ns / 1e9).unwrap_or(Duration::MAX);
        Some(
            anchor
                .checked_add(offset)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random lateness in `0..max_us` microseconds (no rand dependency).
    struct Lcg(u64);
    impl Lcg {
        fn next_us(&mut self, max_us: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (self.0 >> 33) % max_us.max(1)
        }
    }

    /// A caller that reserves, sleeps until its slot (waking up to `max_late_us` late), starts, and
    /// reserves again. Returns how many tasks started within `window` of the first start.
    fn starts_within(rate: f64, window: Duration, max_late_us: u64) -> u64 {
        let mut limiter = RateLimiter::new(rate).expect("valid rate");
        let t0 = Instant::now();
        let mut rng = Lcg(42);
        let mut now = t0;
        let mut started = 0;
        loop {
            let slot = limiter.reserve(now);
            // Only a real sleep wakes late; a slot already due starts at once.
            let woke = if slot > now {
                slot + Duration::from_micros(rng.next_us(max_late_us))
            } else {
                now
            };
            if woke >= t0 + window {
                return started;
            }
            started += 1;
            now = woke;
        }
    }

    fn assert_within(got: u64, want: f64, tolerance: f64) {
        let err = (got as f64 - want).abs() / want;
        assert!(err <= tolerance, "got {got}, want {want} ± {tolerance}");
    }

    #[test]
    fn high_rate_is_exact_over_ten_seconds_despite_late_wakeups() {
        // 5000/s with up to 1.5 ms of timer lateness per wake-up (tokio rounds to 1 ms).
        let got = starts_within(5000.0, Duration::from_secs(10), 1500);
        assert_within(got, 50_000.0, 0.05);
        assert_within(got, 50_000.0, 0.001);
    }

    #[test]
    fn twenty_per_second_is_exact_over_ten_seconds() {
        let got = starts_within(20.0, Duration::from_secs(10), 5000);
        assert_within(got, 200.0, 0.05);
    }

    #[test]
    fn fractional_rate_spaces_slots_two_seconds_apart() {
        let mut limiter = RateLimiter::new(0.5).expect("valid rate");
        let t0 = Instant::now();
        let slots: Vec<Duration> = (0..5).map(|_| limiter.reserve(t0) - t0).collect();
        let want: Vec<Duration> = (0..5).map(|i| Duration::from_secs(2 * i)).collect();
        assert_eq!(slots, want);
        assert_eq!(starts_within(0.5, Duration::from_secs(10), 20_000), 5);
    }

    #[test]
    fn awkward_rates_do_not_drift() {
        let mut limiter = RateLimiter::new(3.0).expect("valid rate");
        let t0 = Instant::now();
        let mut last = t0;
        for _ in 0..=300_000 {
            last = limiter.reserve(t0);
        }
        // Slot 300 000 at 3/s is due at exactly 100 000 s.
        assert_eq!(last - t0, Duration::from_secs(100_000));
    }

    #[test]
    fn idle_time_does_not_bank_a_burst() {
        let mut limiter = RateLimiter::new(10.0).expect("valid rate");
        let t0 = Instant::now();
        limiter.reserve(t0);
        let later = t0 + Duration::from_secs(60);
        let slots: Vec<Duration> = (0..3).map(|_| limiter.reserve(later) - later).collect();
        assert_eq!(
            slots,
            [0, 100, 200].map(Duration::from_millis).to_vec(),
            "after an idle minute, slots are spaced again from now"
        );
    }

    #[test]
    fn concurrent_callers_get_disjoint_evenly_spaced_slots() {
        let mut limiter = RateLimiter::new(100.0).expect("valid rate");
        let t0 = Instant::now();
        let mut slots: Vec<Instant> = (0..50).map(|_| limiter.reserve(t0)).collect();
        slots.dedup();
        assert_eq!(slots.len(), 50);
        for pair in slots.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(10));
        }
    }

    #[test]
    fn peek_does_not_take_the_slot() {
        let mut limiter = RateLimiter::new(1.0).expect("valid rate");
        let t0 = Instant::now();
        assert_eq!(limiter.reserve(t0), t0);
        assert_eq!(limiter.peek(t0), t0 + Duration::from_secs(1));
        assert_eq!(limiter.peek(t0), t0 + Duration::from_secs(1));
        assert_eq!(limiter.reserve(t0), t0 + Duration::from_secs(1));
    }

    #[test]
    fn strict_mode_restarts_on_any_lateness() {
        let mut limiter = RateLimiter::new(10.0)
            .expect("valid rate")
            .with_catch_up(Duration::ZERO);
        let t0 = Instant::now();
        limiter.reserve(t0);
        let late = t0 + Duration::from_millis(130);
        assert_eq!(limiter.reserve(late), late);
        assert_eq!(limiter.reserve(late), late + Duration::from_millis(100));
    }

    #[test]
    fn rejects_rates_out_of_range() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9, 1e7] {
            let err = RateLimiter::new(bad).expect_err("out of range");
            assert!(err.to_string().contains("rate"), "{err}");
        }
    }
}
