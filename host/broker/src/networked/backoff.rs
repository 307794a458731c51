//! Reconnect pacing for networked brokers: exponential backoff between attempts, reset by a
//! success, so a broker whose server restarts reconnects quickly without hammering it.

use std::time::Duration;

use tokio::time::Instant;

/// Exponential backoff from `min` to `max`, doubling after each failure.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    /// No attempt before this.
    not_before: Option<Instant>,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.min(max);
        Backoff {
            min,
            max,
            next: min,
            not_before: None,
        }
    }

    /// How long to wait before the next attempt may be made (zero after a success).
    pub fn remaining(&self) -> Duration {
        self.not_before.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
        })
    }

    /// An attempt failed: the next one waits, longer each time up to `max`.
    pub fn failed(&mut self) {
        self.not_before = Some(Instant::now() + self.next);
        self.next = (self.next * 2).min(self.max);
    }

    /// An attempt succeeded: the next failure starts from `min` again.
    pub fn succeeded(&mut self) {
        self.next = self.min;
        self.not_before = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_max_and_resets_on_success() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        assert_eq!(b.remaining(), Duration::ZERO);
        let waits: Vec<_> = (0..4)
            .map(|_| {
                b.failed();
                b.remaining()
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(100), ms(200), ms(300), ms(300)]);
        b.succeeded();
        assert_eq!(b.remaining(), Duration::ZERO);
        b.failed();
        assert_eq!(b.remaining(), ms(100));
    }
}
