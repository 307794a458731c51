//! The queue engine shared by the memory and embedded brokers: per-queue indexes behind one lock,
//! wake-ups through `Notify` (no polling), leases with expiry, and a [`Journal`] hook through which
//! the embedded broker writes every change down. The memory broker's journal does nothing.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::broker::{Delivery, Lease};
use crate::error::{BrokerError, validate_queue_name};
use crate::index::{Change, Entry, LeaseLost, QueueIndex, State};
use crate::message::{DeadLetter, Message, NewMessage, QueueCounts, Settlement, now_ms};

/// Where a broker writes its changes down. Calls to `put`/`delete` are made in the order the
/// changes happen (under the queue lock), so replaying them gives the current state.
pub(crate) trait Journal: Send + Sync + 'static {
    /// Store the entry `key` of `queue` as it is now.
    fn put(&self, queue: &str, key: u64, entry: &Entry);
    /// Store many new entries of `queue` (a publish); one call so a journal can batch them.
    fn put_many(&self, queue: &str, entries: &[(u64, Entry)]) {
        for (key, entry) in entries {
            self.put(queue, *key, entry);
        }
    }
    /// Forget the entry `key`.
    fn delete(&self, key: u64);
    /// Resolves once everything recorded before the call is durable.
    fn sync(&self) -> impl Future<Output = Result<(), BrokerError>> + Send;
}

/// A journal that keeps nothing (the memory broker).
#[derive(Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn put(&self, _: &str, _: u64, _: &Entry) {}
    fn delete(&self, _: u64) {}
    async fn sync(&self) -> Result<(), BrokerError> {
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Slot {
    index: QueueIndex,
    notify: Arc<Notify>,
}

pub(crate) struct Engine<J> {
    pub(crate) journal: J,
    queues: Mutex<HashMap<String, Slot>>,
    /// Source of entry keys, FIFO orders and lease tokens: strictly increasing.
    seq: AtomicU64,
    closed: AtomicBool,
}

impl<J> fmt::Debug for Engine<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl<J: Journal> Engine<J> {
    /// An engine whose queues already hold `entries` (queue, key, entry); new keys start after
    /// `next_seq`.
    pub fn new(journal: J, entries: Vec<(String, u64, Entry)>, next_seq: u64) -> Self {
        let now = now_ms();
        let mut queues: HashMap<String, Slot> = HashMap::new();
        for (queue, key, entry) in entries {
            queues
                .entry(queue)
                .or_default()
                .index
                .insert(key, entry, now);
        }
        Engine {
            journal,
            queues: Mutex::new(queues),
            seq: AtomicU64::new(next_seq.max(1)),
            closed: AtomicBool::new(false),
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock cannot leave an index half-updated in a way that breaks
        // later calls worse than the panic itself; keep serving.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check(&self, queue: &str) -> Result<(), BrokerError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(BrokerError::Closed);
        }
        Ok(validate_queue_name(queue)?)
    }

    /// Refuse further publishes and fetches, and wake fetches waiting now so they return.
    /// Settles and renews keep working, so in-flight deliveries can still be settled.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        for slot in self.lock().values() {
            slot.notify.notify_waiters();
        }
    }

    /// Durable (through the journal) before visible: nobody can settle an entry that is not
    /// written yet.
    pub async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        self.check(queue)?;
        let now = now_ms();
        let entries: Vec<(u64, Entry)> = messages
            .into_iter()
            .map(|m| {
                let key = self.next_seq();
                (key, new_entry(queue, key, m, now))
            })
            .collect();
        self.journal.put_many(queue, &entries);
        {
            // Deliverable before the commit is durable: a consumer's settle is journalled after
            // this put, so it can never become durable without it; a task may therefore run
            // while its publish is still being fsynced (an RPC pays max(fsync, run), not the
            // sum). If the commit fails, the publisher gets the error and a retried publish may
            // run twice: at least once, never lost after `publish` returned Ok.
            let mut queues = self.lock();
            let slot = queues.entry(queue.to_owned()).or_default();
            for (key, entry) in entries {
                slot.index.insert(key, entry, now);
            }
            slot.notify.notify_waiters();
        }
        self.journal.sync().await?;
        Ok(())
    }

    pub async fn fetch(
        self: &Arc<Self>,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        self.check(queue)?;
        let deadline = Instant::now() + wait;
        let notify = Arc::clone(&self.lock().entry(queue.to_owned()).or_default().notify);
        loop {
            // Register for wake-ups before looking, so a publish in between is not missed.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.load(Ordering::Relaxed) {
                return Err(BrokerError::Closed);
            }
            let (leased, next_wake) = self.try_lease(queue, max, lease);
            if !leased.is_empty() || max == 0 {
                return Ok(self.deliveries(queue, leased));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_wake.map_or(deadline, |at| {
                (now + Duration::from_millis(at.saturating_sub(now_ms()))).min(deadline)
            });
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    fn try_lease(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> (Vec<(u64, u64, Message)>, Option<u64>) {
        let mut queues = self.lock();
        let slot = queues.entry(queue.to_owned()).or_default();
        let now = now_ms();
        slot.index.promote(now);
        let until = now.saturating_add(ms(lease));
        let leased = slot.index.lease(max, until, || self.next_seq());
        (leased, slot.index.next_wake())
    }

    fn deliveries(
        self: &Arc<Self>,
        queue: &str,
        leased: Vec<(u64, u64, Message)>,
    ) -> Vec<Delivery> {
        leased
            .into_iter()
            .map(|(key, token, message)| {
                let lease = EngineLease {
                    engine: Arc::clone(self),
                    queue: queue.to_owned(),
                    id: message.id.clone(),
                    key,
                    token,
                };
                Delivery::new(message, Box::new(lease))
            })
            .collect()
    }

    pub fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        self.check(queue)?;
        let mut queues = self.lock();
        Ok(queues
            .get_mut(queue)
            .map_or_else(QueueCounts::default, |slot| {
                slot.index.promote(now_ms());
                slot.index.counts()
            }))
    }

    pub fn dead_letters(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>, BrokerError> {
        self.check(queue)?;
        let queues = self.lock();
        Ok(queues
            .get(queue)
            .map(|slot| slot.index.dead_letters(limit))
            .unwrap_or_default())
    }

    pub async fn replay(&self, queue: &str, ids: Option<&[String]>) -> Result<u64, BrokerError> {
        self.check(queue)?;
        let moved = {
            let mut queues = self.lock();
            let Some(slot) = queues.get_mut(queue) else {
                return Ok(0);
            };
            let now = now_ms();
            let keys = slot.index.dead_keys(ids);
            for &key in &keys {
                if let Some(entry) = slot.index.revive(key, now, self.next_seq()) {
                    self.journal.put(queue, key, &entry);
                }
            }
            slot.notify.notify_waiters();
            keys.len()
        };
        self.journal.sync().await?;
        Ok(moved as u64)
    }

    pub async fn purge(&self, queue: &str) -> Result<u64, BrokerError> {
        self.check(queue)?;
        let purged = {
            let mut queues = self.lock();
            let Some(slot) = queues.get_mut(queue) else {
                return Ok(0);
            };
            let keys = slot.index.dead_keys(None);
            for &key in &keys {
                slot.index.delete(key);
                self.journal.delete(key);
            }
            keys.len()
        };
        self.journal.sync().await?;
        Ok(purged as u64)
    }

    fn renew(&self, lease: &EngineLease<J>, duration: Duration) -> Result<(), BrokerError> {
        let mut queues = self.lock();
        let slot = queues.get_mut(&lease.queue).ok_or_else(|| lease.lost())?;
        let until = now_ms().saturating_add(ms(duration));
        slot.index
            .renew(lease.key, lease.token, until)
            .map_err(|LeaseLost| lease.lost())
    }

    async fn settle(
        &self,
        lease: &EngineLease<J>,
        settlement: Settlement,
    ) -> Result<(), BrokerError> {
        let durable = settlement != Settlement::Ack;
        {
            let mut queues = self.lock();
            let slot = queues.get_mut(&lease.queue).ok_or_else(|| lease.lost())?;
            let order = self.next_seq();
            let change = slot
                .index
                .settle(lease.key, lease.token, settlement, now_ms(), order)
                .map_err(|LeaseLost| lease.lost())?;
            match change {
                Change::Removed => self.journal.delete(lease.key),
                Change::Updated(entry) => {
                    self.journal.put(&lease.queue, lease.key, &entry);
                    if !matches!(entry.state, State::Dead { .. }) {
                        // Fetchers sleeping until an older wake time must see the new entry.
                        slot.notify.notify_waiters();
                    }
                }
            }
        }
        // Acks may be written lazily (a lost ack is only a redelivery); the rest must be durable.
        if durable {
            self.journal.sync().await?;
        }
        Ok(())
    }
}

fn new_entry(queue: &str, key: u64, m: NewMessage, now: u64) -> Entry {
    let due_ms = m.not_before_ms.unwrap_or(now);
    Entry {
        message: Message {
            id: m.id,
            queue: queue.to_owned(),
            body: m.body,
            priority: m.priority.min(crate::message::MAX_PRIORITY),
            attempt: 1,
            requeues: 0,
            redeliveries: 0,
            published_ms: now,
        },
        order: key,
        due_ms,
        state: State::Ready,
    }
}

/// The lease of one delivery from an [`Engine`].
struct EngineLease<J> {
    engine: Arc<Engine<J>>,
    queue: String,
    id: String,
    key: u64,
    token: u64,
}

impl<J> EngineLease<J> {
    fn lost(&self) -> BrokerError {
        BrokerError::LeaseLost {
            queue: self.queue.clone(),
            id: self.id.clone(),
        }
    }
}

#[async_trait]
impl<J: Journal> Lease for EngineLease<J> {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        self.engine.renew(self, lease)
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        self.engine.settle(&self, settlement).await
    }
}
