//! A deadline queue for leases kept on the client side: file a key under the time something must
//! happen to it, and one task takes keys as they come due. Keys are never searched for or
//! cancelled: whoever takes a due key checks it is still current (lazy deletion), so handing out,
//! renewing and settling cost a map insert, not a timer each.
//!
//! A broker without server-side visibility timeouts files each delivery at its lease end and puts
//! back the ones that come due unsettled (RabbitMQ's `reaper.rs` does this with its own copy). A
//! broker whose server times leases out too soon for the caller's lease (beanstalkd's TTR) files
//! each delivery at its next keep-alive instead.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Keys filed under deadlines.
pub struct Deadlines<K> {
    due: Mutex<BTreeMap<(Instant, u64), K>>,
    /// Keeps map keys unique when two deadlines are equal.
    seq: AtomicU64,
    /// Rung when a key is filed ahead of every other (the waiting task sleeps too long).
    earlier: Notify,
}

impl<K> fmt::Debug for Deadlines<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadlines")
            .field("filed", &self.lock().len())
            .finish()
    }
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            due: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
            earlier: Notify::new(),
        }
    }
}

impl<K> Deadlines<K> {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(Instant, u64), K>> {
        // Only a map of deadlines: a panic elsewhere cannot leave it half-updated.
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// File `key` under `at`.
    pub fn file(&self, key: K, at: Instant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut due = self.lock();
        let first = due.first_key_value().is_none_or(|((t, _), _)| at < *t);
        due.insert((at, seq), key);
        drop(due);
        if first {
            // A stored permit if nobody waits yet: the next `due` call sees it.
            self.earlier.notify_one();
        }
    }

    /// How many keys are filed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Wait until the earliest filed deadline passes, then take every key that is due.
    pub async fn due(&self) -> Vec<K> {
        loop {
            let next = {
                let mut due = self.lock();
                let now = Instant::now();
                let later = due.split_off(&(now, u64::MAX));
                let ready = std::mem::replace(&mut *due, later);
                if !ready.is_empty() {
                    return ready.into_values().collect();
                }
                due.first_key_value().map(|((at, _), _)| *at)
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = self.earlier.notified() => {}
                    }
                }
                None => self.earlier.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keys_come_due_in_order_and_an_earlier_one_wakes_the_wait() {
        let d = std::sync::Arc::new(Deadlines::default());
        let start = Instant::now();
        d.file("late", start + Duration::from_secs(10));
        let waiter = {
            let d = std::sync::Arc::clone(&d);
            tokio::spawn(async move { (d.due().await, Instant::now()) })
        };
        tokio::task::yield_now().await;
        d.file("early", start + Duration::from_secs(2));
        d.file("early too", start + Duration::from_secs(2));
        let (keys, at) = waiter.await.expect("waiter");
        assert_eq!(keys, ["early", "early too"]);
        assert_eq!(
            at - start,
            Duration::from_secs(2),
            "woken for the earlier key"
        );
        assert_eq!(d.len(), 1, "the late key stays filed");
        assert_eq!(d.due().await, ["late"]);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert!(d.is_empty());
    }
}
