//! The envelope a broker stores and hands out. The body is opaque bytes to a broker: the host
//! parses it (a malformed body reaches the worker, which dead-letters it with the reason).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// The priority range is policy (one definition, in `wasmboost-policy`).
pub use wasmboost_policy::message::MAX_PRIORITY;

/// The most a broker may hand out a delayed message before its `not_before_ms`, by design:
/// RabbitMQ's delay buckets deliver a message due within this instead of sending it through one
/// more bucket; the other brokers are never early. Tests bound every delay from below by it.
pub const DUE_SLACK_MS: u64 = 20;

/// Milliseconds since the Unix epoch, the time unit every broker stores.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `now_ms() + d`, saturating.
pub fn ms_after(d: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Unique id within the queue; the task id. Publishers through wasmboost use a UUIDv7.
    pub id: String,
    /// The message as published: a JSON object (arguments + optional `extra`).
    pub body: Bytes,
    /// 0..=MAX_PRIORITY; higher runs first. Values above the max are clamped.
    pub priority: u8,
    /// Not visible to `fetch` before this time (ms since the Unix epoch); `None` = now.
    pub not_before_ms: Option<u64>,
}

impl NewMessage {
    /// A message visible now with priority 0.
    pub fn new(id: impl Into<String>, body: impl Into<Bytes>) -> Self {
        NewMessage {
            id: id.into(),
            body: body.into(),
            priority: 0,
            not_before_ms: None,
        }
    }
}

/// A message as delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub queue: String,
    pub body: Bytes,
    pub priority: u8,
    /// 1-based attempt number of this delivery. The host owns it: `Settlement::Retry` stores the
    /// message back with `attempt + 1`; `Requeue` and lease-expiry redelivery keep it.
    pub attempt: u32,
    /// How many times this message was requeued (bounded by the host).
    pub requeues: u32,
    /// How many times this message was handed out again after a lease expired (its host died or
    /// stalled). Lets the host bound poison messages that crash hosts.
    pub redeliveries: u32,
    /// When the message was first published, ms since the Unix epoch.
    pub published_ms: u64,
}

/// How a delivery ends. Exactly one per delivery: `Delivery::settle` consumes the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Done: remove the message.
    Ack,
    /// Store it back with `attempt + 1`, invisible for `after`. Durable like a publish.
    Retry { after: Duration },
    /// Put it back visible now with the same attempt and `requeues + 1`.
    Requeue,
    /// Move it to the queue's dead-letter queue with the reason.
    DeadLetter { reason: String },
}

/// A message in a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub message: Message,
    pub reason: String,
    /// When it was dead-lettered, ms since the Unix epoch.
    pub dead_ms: u64,
}

/// How many messages a queue holds, by state. Brokers that cannot count a state exactly report
/// their best estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    /// Visible now.
    pub ready: u64,
    /// Waiting for their `not_before` (delays and retry backoff).
    pub delayed: u64,
    /// Handed out and not yet settled.
    pub leased: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}
