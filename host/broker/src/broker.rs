//! The `Broker` seam and the settle-once `Delivery`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::BrokerError;
use crate::message::{DeadLetter, Message, NewMessage, QueueCounts, Settlement};

/// A queue backend, chosen at run time from config. Object safe: the host holds `Arc<dyn Broker>`.
///
/// Every durable implementation is at-least-once: a message that is not settled before its lease
/// ends (its host died) is delivered again.
#[async_trait]
pub trait Broker: Send + Sync + fmt::Debug + 'static {
    /// The config `type` string of this implementation (`embedded`, `memory`, `redis`, `amqp`).
    fn kind(&self) -> &'static str;

    /// Whether dropping an unfinished [`fetch`](Broker::fetch) future leases nothing. When it
    /// does, the worker stops a waiting fetch the moment its queue is paused (nothing is leased
    /// and handed back); otherwise the fetch finishes its wait and a batch it took is returned.
    fn fetch_cancel_safe(&self) -> bool {
        false
    }

    /// Store messages on `queue`. When this returns `Ok`, every message is durable (as durable as
    /// the implementation is). Ids already present on the queue are stored again (the host
    /// dedups by policy, not by id).
    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError>;

    /// Lease up to `max` visible messages, highest priority first, FIFO within a priority.
    /// Waits up to `wait` for the first one to become available; returns an empty vec if none
    /// did. A leased message becomes visible again if not settled (or renewed) within `lease`.
    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError>;

    /// How many messages `queue` holds, by state.
    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError>;

    /// Up to `limit` messages of the queue's dead-letter queue, oldest first.
    async fn dead_letters(&self, queue: &str, limit: usize)
    -> Result<Vec<DeadLetter>, BrokerError>;

    /// Move dead letters back onto the queue (all of them, or those with the given ids), visible
    /// now, with `attempt` reset to 1. Returns how many moved.
    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError>;

    /// Delete the queue's dead letters. Returns how many were deleted.
    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError>;

    /// How many times this broker's client re-established a lost connection since it was
    /// opened (`/metrics`); 0 for in-process brokers and clients that do not report it.
    fn reconnects(&self) -> u64 {
        0
    }

    /// Flush and release resources; later calls may fail. Settles nothing by itself.
    async fn close(&self) -> Result<(), BrokerError> {
        Ok(())
    }
}

/// The implementation side of one delivery: how to renew and settle it.
///
/// # Late settles
///
/// A holder may settle (or renew) after its lease ended: a task outlived its lease, or the host
/// stalled. Every implementation follows one rule, checked by the conformance test
/// `late_settle_is_lease_lost`:
///
/// - **Once the message was handed out again** (to any consumer, on any host), a late `settle`
///   or `renew` returns [`BrokerError::LeaseLost`] and changes nothing: a late ack does not
///   remove the message the new holder is running, a late retry, requeue or dead-letter does not
///   put a second copy anywhere. The new holder owns the message and settles it.
/// - **Before it was handed out again**, the implementation may still apply the settle (the
///   embedded engine does; brokers whose server cannot tell may return `LeaseLost` instead).
///   Either way the message is settled exactly once or delivered again, never both.
///
/// Why this rule: the worker runs `settle` together with writing the task record. On
/// `LeaseLost` it knows the outcome belongs to another delivery, so it must not count it (the
/// new holder counts its own run) and its record is overwritten by the new holder's; nothing is
/// lost and nothing is counted twice. An `Ok` for a settle that did nothing (Redis before this
/// rule) would hide exactly that case. Implementations fence a late settle with the broker's own
/// ownership check (lease token, consumer of the pending entry, `touch` of a reserved job) rather
/// than with a local clock alone.
#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// Extend the lease to `lease` from now. [`BrokerError::LeaseLost`] once the message was
    /// handed out again.
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError>;
    /// Settle the delivery. Called at most once (enforced by `Delivery::settle` taking `self`).
    /// [`BrokerError::LeaseLost`] (and no effect) once the message was handed out again.
    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError>;
}

/// A leased message. Settle it exactly once with `settle`, which consumes it: a second settle does
/// not compile. Dropping it unsettled leaves the message leased until the lease ends, after which
/// it is delivered again.
#[must_use = "a delivery must be settled, or it is redelivered after its lease"]
pub struct Delivery {
    message: Message,
    lease: Box<dyn Lease>,
}

impl Delivery {
    /// Used by broker implementations to hand out a message.
    pub fn new(message: Message, lease: Box<dyn Lease>) -> Self {
        Delivery { message, lease }
    }

    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Extend the lease while the task runs.
    pub async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        self.lease.renew(lease).await
    }

    /// End the delivery. A settle after the lease ended fails with [`BrokerError::LeaseLost`]
    /// if the message was delivered again (see "Late settles" on [`Lease`]).
    pub async fn settle(self, settlement: Settlement) -> Result<(), BrokerError> {
        self.lease.settle(settlement).await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}
