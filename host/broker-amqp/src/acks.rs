//! Ack coalescing for one consumer channel. Every delivery tag the channel receives is registered
//! here in order; settling a delivery marks its tag done. A flusher task sends one
//! `basic.ack(multiple = true)` for the highest done tag below the oldest tag still open, so a
//! burst of settlements costs RabbitMQ one frame instead of one per message. A done tag stuck
//! above an open one (a long task) is acked alone once it has waited [`STRAGGLER_AFTER`].
//!
//! A channel with several consumers (a quorum queue's, see `consumer.rs`) registers tags from
//! several tasks, so not in delivery order: there every ack is sent alone (`coalesce: false`).
//!
//! Every ack of the channel goes through here (a multiple ack must never cover a tag acked on its
//! own later, which RabbitMQ answers by closing the channel). `done` resolves once the frame
//! covering the tag is written; if the channel dies first it fails and RabbitMQ redelivers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::Channel;
use lapin::options::BasicAckOptions;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use wasmboost_broker::BrokerError;

use crate::session::map_err;

/// A done tag above an open one is acked on its own after this.
pub(crate) const STRAGGLER_AFTER: Duration = Duration::from_millis(50);
/// The flusher looks at the channel's health at least this often.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The ack's outcome; an error is the text of why the frame could not be sent.
type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Debug, Default)]
struct Tags {
    /// Received and not yet settled.
    open: BTreeSet<u64>,
    /// Settled, waiting for their ack frame: when settled, and who waits.
    done: BTreeMap<u64, (Instant, Waiter)>,
}

/// One round of the flusher: a multiple ack (its top tag and everyone it covers), single acks
/// of stragglers, and whether done tags are left waiting.
#[derive(Debug, Default)]
struct Round {
    multiple: Option<(u64, Vec<Waiter>)>,
    stragglers: Vec<(u64, Waiter)>,
    more: bool,
}

/// The ack side of one consumer channel.
#[derive(Debug)]
pub(crate) struct AckBatcher {
    channel: Channel,
    tags: Mutex<Tags>,
    wake: Notify,
    /// Multiple acks allowed: tags are registered in delivery order.
    coalesce: bool,
}

impl AckBatcher {
    /// A batcher for `channel` with its flusher task (which ends when the channel closes).
    pub fn start(channel: Channel, coalesce: bool) -> Arc<AckBatcher> {
        let batcher = Arc::new(AckBatcher {
            channel,
            tags: Mutex::new(Tags::default()),
            wake: Notify::new(),
            coalesce,
        });
        tokio::spawn(flush_loop(Arc::clone(&batcher)));
        batcher
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tags> {
        self.tags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel is open (acks can still be sent).
    pub fn usable(&self) -> bool {
        self.channel.status().connected()
    }

    /// The error of settling on a closed channel.
    pub fn gone(&self) -> BrokerError {
        channel_gone()
    }

    /// Register a tag as it arrives (in delivery order, before anything can settle it).
    pub fn received(&self, tag: u64) {
        self.lock().open.insert(tag);
    }

    /// Ack `tag`; resolves when the frame that covers it is written.
    pub async fn ack(&self, tag: u64) -> Result<(), BrokerError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut tags = self.lock();
            if !tags.open.remove(&tag) {
                if !self.usable() {
                    // Cleared when the channel closed: RabbitMQ delivers the message again.
                    return Err(channel_gone());
                }
                return Err(BrokerError::Backend(format!(
                    "delivery tag {tag} is not open on this channel"
                )));
            }
            tags.done.insert(tag, (Instant::now(), tx));
        }
        self.wake.notify_one();
        match rx.await {
            Ok(result) => result.map_err(BrokerError::Unavailable),
            Err(_) => Err(channel_gone()),
        }
    }

    /// What to send now: the highest done tag below every open one (with everything it covers),
    /// done tags above an open one that waited too long, and whether done tags are left waiting.
    fn take_ready(&self, now: Instant) -> Round {
        let mut tags = self.lock();
        if !self.coalesce {
            let stragglers = std::mem::take(&mut tags.done)
                .into_iter()
                .map(|(tag, (_, w))| (tag, w))
                .collect();
            return Round {
                multiple: None,
                stragglers,
                more: false,
            };
        }
        let low = tags.open.first().copied().unwrap_or(u64::MAX);
        let rest = tags.done.split_off(&low);
        let covered = std::mem::replace(&mut tags.done, rest);
        let multiple = covered
            .last_key_value()
            .map(|(top, _)| *top)
            .map(|top| (top, covered.into_values().map(|(_, w)| w).collect()));
        let stale: Vec<u64> = tags
            .done
            .iter()
            .filter(|(_, (at, _))| now.duration_since(*at) >= STRAGGLER_AFTER)
            .map(|(tag, _)| *tag)
            .collect();
        let stragglers = stale
            .into_iter()
            .filter_map(|tag| tags.done.remove(&tag).map(|(_, w)| (tag, w)))
            .collect();
        Round {
            multiple,
            stragglers,
            more: !tags.done.is_empty(),
        }
    }

    async fn send(&self, tag: u64, multiple: bool) -> Result<(), BrokerError> {
        self.channel
            .basic_ack(tag, BasicAckOptions { multiple })
            .await
            .map_err(|e| map_err(&format!("acking delivery tag {tag}"), &e))
    }

    /// Fail every waiter: the channel is gone and RabbitMQ redelivers what it did not get.
    fn fail_all(&self) {
        let mut tags = self.lock();
        tags.open.clear();
        for (_, (_, waiter)) in std::mem::take(&mut tags.done) {
            let _ = waiter.send(Err(CHANNEL_GONE.to_owned()));
        }
    }
}

const CHANNEL_GONE: &str = "the channel that delivered this message closed before its ack was \
                            sent; rabbitmq delivers it again";

fn channel_gone() -> BrokerError {
    BrokerError::Unavailable(CHANNEL_GONE.to_owned())
}

fn resolve(waiters: impl IntoIterator<Item = Waiter>, result: &Result<(), BrokerError>) {
    let result = result.as_ref().map(|_| ()).map_err(ToString::to_string);
    for w in waiters {
        let _ = w.send(result.clone());
    }
}

async fn flush_loop(batcher: Arc<AckBatcher>) {
    let mut waiting = false;
    loop {
        let nap = if waiting { STRAGGLER_AFTER } else { IDLE_CHECK };
        let woke = tokio::time::timeout(nap, batcher.wake.notified()).await;
        if !batcher.channel.status().connected() {
            batcher.fail_all();
            return;
        }
        if woke.is_ok() {
            // Let the tasks already woken settle too before sending: no timer, the batch is
            // whatever settled since the last round.
            tokio::task::yield_now().await;
        }
        let Round {
            multiple,
            stragglers,
            more,
        } = batcher.take_ready(Instant::now());
        if let Some((top, waiters)) = multiple {
            let result = batcher.send(top, true).await;
            resolve(waiters, &result);
        }
        for (tag, waiter) in stragglers {
            let result = batcher.send(tag, false).await;
            resolve([waiter], &result);
        }
        waiting = more;
    }
}
