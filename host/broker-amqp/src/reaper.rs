//! One task per broker that ends the leases of deliveries held too long: every held delivery is
//! filed under its deadline, and the task sleeps until the earliest one. A renewal only moves the
//! delivery's own deadline; the reaper notices it when the filed one comes up and files it again,
//! so the hot path (hand out, settle) costs a map insert and remove, not a task and a timer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::lease::{Shared, State};

/// Where a delivery is filed: its deadline then, and a sequence number that keeps keys unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DueKey {
    pub at: Instant,
    seq: u64,
}

impl Default for DueKey {
    fn default() -> Self {
        DueKey {
            at: Instant::now(),
            seq: 0,
        }
    }
}

/// The deadlines of every delivery this broker holds.
#[derive(Debug, Default)]
pub(crate) struct Reaper {
    due: Mutex<BTreeMap<DueKey, Arc<Shared>>>,
    seq: AtomicU64,
    /// Rung when a delivery is filed ahead of every other.
    earlier: Notify,
    task: OnceLock<JoinHandle<()>>,
}

impl Reaper {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<DueKey, Arc<Shared>>> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// File `shared` under `at` (starting the task on first use: it needs the runtime).
    pub fn file(self: &Arc<Self>, shared: &Arc<Shared>, at: Instant) {
        self.task
            .get_or_init(|| tokio::spawn(reap(Arc::clone(self))));
        let key = DueKey {
            at,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        };
        shared.lock().key = key;
        let first = {
            let mut due = self.lock();
            due.insert(key, Arc::clone(shared));
            due.first_key_value().is_some_and(|(k, _)| *k == key)
        };
        if first {
            self.earlier.notify_one();
        }
    }

    /// The delivery filed under `key` ended; drop it from the file.
    pub fn forget(&self, key: DueKey) {
        self.lock().remove(&key);
    }

    /// Deliveries filed at or before `now`, taken out of the file.
    fn take_due(&self, now: Instant) -> Vec<(DueKey, Arc<Shared>)> {
        let mut due = self.lock();
        let mut out = Vec::new();
        while let Some(entry) = due.first_entry() {
            if entry.key().at > now {
                break;
            }
            let key = *entry.key();
            out.push((key, entry.remove()));
        }
        out
    }

    fn next_due(&self) -> Option<Instant> {
        self.lock().first_key_value().map(|(k, _)| k.at)
    }
}

impl Reaper {
    /// Stop the task (the broker is dropped or closed); leases still held end with their channel.
    pub fn stop(&self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// Sleep until the earliest deadline; end or re-file what came up. Aborted by [`Reaper::stop`].
async fn reap(this: Arc<Reaper>) {
    loop {
        let next = this.next_due();
        let earlier = this.earlier.notified();
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = earlier => {}
                }
            }
            None => earlier.await,
        }
        let now = Instant::now();
        for (key, shared) in this.take_due(now) {
            let refile = {
                let st = shared.lock();
                if st.state != State::Held || st.key != key {
                    continue; // settled, or filed again elsewhere (an earlier renewal)
                }
                (st.deadline > now).then_some(st.deadline)
            };
            match refile {
                Some(at) => this.file(&shared, at),
                None => {
                    tokio::spawn(shared.expire());
                }
            }
        }
    }
}
