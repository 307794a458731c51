//! The in-memory index of one queue, shared by the memory and embedded brokers: which messages
//! are ready (by priority, then FIFO), delayed (by due time), leased (by lease end) or dead.
//!
//! Pure bookkeeping, no I/O and no clock: callers pass `now` in ms since the Unix epoch. Heaps use
//! lazy deletion: a heap item is acted on only if it still matches its entry's state, so moving an
//! entry never needs a heap search.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use crate::message::{DeadLetter, MAX_PRIORITY, Message, QueueCounts, Settlement};

/// Where an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    Ready,
    /// Invisible until `Entry::due_ms`.
    Delayed,
    /// Handed out under `token` until `until_ms`.
    Leased {
        token: u64,
        until_ms: u64,
    },
    Dead {
        reason: String,
        dead_ms: u64,
    },
}

/// One stored message with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub message: Message,
    /// FIFO position within a priority; a requeue moves the entry to the back.
    pub order: u64,
    /// Not visible before this time.
    pub due_ms: u64,
    pub state: State,
}

/// What a settle did, so a durable broker can write it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The entry is gone (acked).
    Removed,
    /// The entry changed; its new form must be stored.
    Updated(Entry),
}

/// The lease `token` no longer holds the entry: it expired and the message went back to the queue
/// (and maybe to another consumer), or the message was settled already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseLost;

#[derive(Debug, Default)]
pub(crate) struct QueueIndex {
    entries: HashMap<u64, Entry>,
    ready: BinaryHeap<(u8, Reverse<u64>, u64)>,
    delayed: BinaryHeap<Reverse<(u64, u64)>>,
    leases: BinaryHeap<Reverse<(u64, u64, u64)>>,
    dead: BTreeSet<(u64, u64)>,
    counts: QueueCounts,
}

impl QueueIndex {
    /// Add an entry under `key` (unique across the broker). Ready or delayed by its `due_ms`,
    /// dead if its state says so; a leased state is treated as ready (leases do not survive).
    pub fn insert(&mut self, key: u64, mut entry: Entry, now: u64) {
        entry.message.priority = entry.message.priority.min(MAX_PRIORITY);
        if !matches!(entry.state, State::Dead { .. }) {
            entry.state = if entry.due_ms > now {
                State::Delayed
            } else {
                State::Ready
            };
        }
        self.place(key, &entry);
        self.entries.insert(key, entry);
    }

    /// Push heap items and count an entry that just got its state.
    fn place(&mut self, key: u64, entry: &Entry) {
        match &entry.state {
            State::Ready => {
                self.ready
                    .push((entry.message.priority, Reverse(entry.order), key));
                self.counts.ready += 1;
            }
            State::Delayed => {
                self.delayed.push(Reverse((entry.due_ms, key)));
                self.counts.delayed += 1;
            }
            State::Leased { token, until_ms } => {
                self.leases.push(Reverse((*until_ms, key, *token)));
                self.counts.leased += 1;
            }
            State::Dead { dead_ms, .. } => {
                self.dead.insert((*dead_ms, key));
                self.counts.dead += 1;
            }
        }
    }

    /// Uncount an entry leaving its state. Heap items are left behind and skipped later.
    fn unplace(&mut self, key: u64, state: &State) {
        let counter = match state {
            State::Ready => &mut self.counts.ready,
            State::Delayed => &mut self.counts.delayed,
            State::Leased { .. } => &mut self.counts.leased,
            State::Dead { dead_ms, .. } => {
                self.dead.remove(&(*dead_ms, key));
                &mut self.counts.dead
            }
        };
        *counter = counter.saturating_sub(1);
    }

    /// Move `key` to `state`, keeping counts and heaps right.
    fn transition(&mut self, key: u64, state: State) -> Option<&Entry> {
        let entry = self.entries.get_mut(&key)?;
        let old = std::mem::replace(&mut entry.state, state);
        let snapshot = entry.clone();
        self.unplace(key, &old);
        self.place(key, &snapshot);
        self.entries.get(&key)
    }

    /// Make due delayed entries ready and take back expired leases (counting a redelivery).
    pub fn promote(&mut self, now: u64) {
        while let Some(&Reverse((due, key))) = self.delayed.peek() {
            if due > now {
                break;
            }
            self.delayed.pop();
            let live = self
                .entries
                .get(&key)
                .is_some_and(|e| e.state == State::Delayed && e.due_ms == due);
            if live {
                self.transition(key, State::Ready);
            }
        }
        while let Some(&Reverse((until, key, token))) = self.leases.peek() {
            if until > now {
                break;
            }
            self.leases.pop();
            if self.holds(key, token, Some(until)) {
                if let Some(entry) = self.entries.get_mut(&key) {
                    entry.message.redeliveries = entry.message.redeliveries.saturating_add(1);
                }
                self.transition(key, State::Ready);
            }
        }
    }

    /// Whether `token` holds the lease of `key` (ending at `until`, if given).
    fn holds(&self, key: u64, token: u64, until: Option<u64>) -> bool {
        self.entries.get(&key).is_some_and(|e| match e.state {
            State::Leased { token: t, until_ms } => {
                t == token && until.is_none_or(|u| u == until_ms)
            }
            _ => false,
        })
    }

    /// Lease up to `max` ready entries, best first. `next_token` gives each lease its token.
    pub fn lease(
        &mut self,
        max: usize,
        until_ms: u64,
        mut next_token: impl FnMut() -> u64,
    ) -> Vec<(u64, u64, Message)> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some((_, Reverse(order), key)) = self.ready.pop() else {
                break;
            };
            let live = self
                .entries
                .get(&key)
                .is_some_and(|e| e.state == State::Ready && e.order == order);
            if !live {
                continue;
            }
            let token = next_token();
            if let Some(entry) = self.transition(key, State::Leased { token, until_ms }) {
                out.push((key, token, entry.message.clone()));
            }
        }
        out
    }

    /// Extend the lease `token` of `key` to `until_ms`.
    pub fn renew(&mut self, key: u64, token: u64, until_ms: u64) -> Result<(), LeaseLost> {
        if !self.holds(key, token, None) {
            return Err(LeaseLost);
        }
        self.transition(key, State::Leased { token, until_ms });
        Ok(())
    }

    /// End the lease `token` of `key`. `order` is the FIFO position a requeue moves to.
    pub fn settle(
        &mut self,
        key: u64,
        token: u64,
        settlement: Settlement,
        now: u64,
        order: u64,
    ) -> Result<Change, LeaseLost> {
        if !self.holds(key, token, None) {
            return Err(LeaseLost);
        }
        let entry = self.entries.get_mut(&key).ok_or(LeaseLost)?;
        let state = match settlement {
            Settlement::Ack => return Ok(self.remove(key)),
            Settlement::Retry { after } => {
                entry.message.attempt = entry.message.attempt.saturating_add(1);
                entry.due_ms =
                    now.saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
                if entry.due_ms > now {
                    State::Delayed
                } else {
                    State::Ready
                }
            }
            Settlement::Requeue => {
                entry.message.requeues = entry.message.requeues.saturating_add(1);
                entry.order = order;
                entry.due_ms = now;
                State::Ready
            }
            Settlement::DeadLetter { reason } => State::Dead {
                reason,
                dead_ms: now,
            },
        };
        let updated = self.transition(key, state).cloned().ok_or(LeaseLost)?;
        Ok(Change::Updated(updated))
    }

    fn remove(&mut self, key: u64) -> Change {
        if let Some(entry) = self.entries.remove(&key) {
            self.unplace(key, &entry.state);
        }
        Change::Removed
    }

    /// The earliest time something delayed becomes due or a lease ends, if any.
    pub fn next_wake(&self) -> Option<u64> {
        let due = self.delayed.peek().map(|Reverse((t, _))| *t);
        let lease = self.leases.peek().map(|Reverse((t, _, _))| *t);
        match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn counts(&self) -> QueueCounts {
        self.counts
    }

    /// Up to `limit` dead letters, oldest first.
    pub fn dead_letters(&self, limit: usize) -> Vec<DeadLetter> {
        self.dead
            .iter()
            .filter_map(|(_, key)| self.entries.get(key))
            .filter_map(|e| match &e.state {
                State::Dead { reason, dead_ms } => Some(DeadLetter {
                    message: e.message.clone(),
                    reason: reason.clone(),
                    dead_ms: *dead_ms,
                }),
                _ => None,
            })
            .take(limit)
            .collect()
    }

    /// Keys of dead letters, all or those whose message id is in `ids`.
    pub fn dead_keys(&self, ids: Option<&[String]>) -> Vec<u64> {
        self.dead
            .iter()
            .map(|&(_, key)| key)
            .filter(|key| {
                ids.is_none_or(|ids| {
                    self.entries
                        .get(key)
                        .is_some_and(|e| ids.contains(&e.message.id))
                })
            })
            .collect()
    }

    /// Put a dead letter back, visible now with attempt 1, at the back of its priority.
    pub fn revive(&mut self, key: u64, now: u64, order: u64) -> Option<Entry> {
        let entry = self.entries.get_mut(&key)?;
        entry.message.attempt = 1;
        entry.due_ms = now;
        entry.order = order;
        self.transition(key, State::Ready).cloned()
    }

    /// Delete the entry `key` whatever its state.
    pub fn delete(&mut self, key: u64) {
        self.remove(key);
    }
}

#[cfg(test)]
mod tests;
