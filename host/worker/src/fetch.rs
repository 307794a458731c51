//! One queue's fetch loop: wait for a free slot, check the queue-level gates (paused, no module,
//! allowed window: [`closed_for`], the one place they are read), lease a batch from the broker,
//! pace it by the queue's rate, and start a task per message. The broker's `fetch(wait)` wakes
//! on publish, so there is no poll interval on the hot path.
//!
//! A pause stops a waiting fetch at once where the broker allows it (in-process brokers: a
//! dropped fetch leases nothing), so a paused queue leases nothing and shows nothing running;
//! other brokers' fetches end their wait and hand back what they took, untouched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmboost_broker::{Delivery, Settlement};

use crate::metrics::BrokerOp;
use crate::shared::{QueueWorker, Shared, Slot};
use crate::task;

/// Most messages leased in one fetch.
pub const FETCH_BATCH: usize = 256;
/// How long one fetch waits for a message before the loop looks at its gates again.
pub const FETCH_WAIT: Duration = Duration::from_millis(500);
/// With a rate set, lease at most this much of the rate ahead (so leases do not age waiting).
const RATE_LOOKAHEAD_SECS: f64 = 0.2;
/// Pause after a broker error before fetching again.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);
/// Longest sleep while the queue is outside its window (the window is checked again after it).
const WINDOW_RECHECK: Duration = Duration::from_secs(60);

/// Run the loop until the host stops.
pub(crate) async fn run(shared: Arc<Shared>, q: Arc<QueueWorker>) {
    while !shared.stop.is_cancelled() {
        if let Some(wait) = closed_for(&shared, &q) {
            tokio::select! {
                () = shared.stop.cancelled() => break,
                () = shared.paused.changed.notified() => {}
                () = q.module_changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let Some(taken) = take_slots(&shared, &q).await else {
            break;
        };
        let Some(fetched) = fetch_unless_paused(&shared, &q, taken).await else {
            q.slots.add_permits(taken);
            continue;
        };
        match fetched {
            Ok(batch) if shared.paused.contains(&q.name) => {
                // Paused while this fetch waited: hand the batch back untouched.
                q.slots.add_permits(taken - batch.len());
                return_unstarted(&q, batch).await;
            }
            Ok(batch) => {
                q.slots.add_permits(taken - batch.len());
                start_batch(&shared, &q, batch).await;
            }
            Err(err) => {
                q.slots.add_permits(taken);
                shared.metrics.broker_error(BrokerOp::Fetch);
                tracing::warn!(queue = %q.name, error = %err, "fetch failed; retrying");
                tokio::select! {
                    () = shared.stop.cancelled() => break,
                    () = tokio::time::sleep(ERROR_BACKOFF) => {}
                }
            }
        }
    }
    tracing::debug!(queue = %q.name, "fetch loop stopped");
}

/// Lease up to `taken` messages; `None` when the queue was paused before any was leased.
async fn fetch_unless_paused(
    shared: &Shared,
    q: &QueueWorker,
    taken: usize,
) -> Option<Result<Vec<Delivery>, wasmboost_broker::BrokerError>> {
    let fetch = shared
        .broker
        .fetch(&q.name, taken, q.settings.lease, FETCH_WAIT);
    if !shared.broker.fetch_cancel_safe() {
        return Some(fetch.await);
    }
    tokio::select! {
        biased;
        () = until_paused(shared, &q.name) => None,
        fetched = fetch => Some(fetched),
    }
}

/// Resolves once `queue` is paused (at once if it is).
async fn until_paused(shared: &Shared, queue: &str) {
    loop {
        // Register before looking, so a pause in between is not missed.
        let changed = shared.paused.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if shared.paused.contains(queue) {
            return;
        }
        changed.await;
    }
}

/// `Some(how long to wait)` when the queue must not fetch now: paused, no module, or outside
/// its allowed window.
fn closed_for(shared: &Shared, q: &QueueWorker) -> Option<Duration> {
    if shared.paused.contains(&q.name) || q.bound().is_none() {
        return Some(Duration::from_secs(1));
    }
    let window = q.settings.window.as_ref()?;
    let now = jiff::Timestamp::now();
    if window.contains(now) {
        return None;
    }
    let wait = window
        .next_open(now)
        .and_then(|open| Duration::try_from(open.duration_since(now)).ok())
        .map_or(WINDOW_RECHECK, |d| d.min(WINDOW_RECHECK));
    Some(wait.max(Duration::from_millis(10)))
}

/// Wait for one free slot, then take every other free one up to the batch size (fewer with a
/// rate). Returns how many were taken (forgotten permits: `Slot` gives each back), or `None`
/// when the host stops.
async fn take_slots(shared: &Shared, q: &QueueWorker) -> Option<usize> {
    let first = tokio::select! {
        permit = q.slots.acquire() => permit.ok()?,
        () = shared.stop.cancelled() => return None,
    };
    first.forget();
    let want = match q.settings.qps {
        // Truncation is fine: a small positive number of messages.
        Some(qps) => ((qps * RATE_LOOKAHEAD_SECS).ceil() as usize).clamp(1, FETCH_BATCH),
        None => FETCH_BATCH,
    };
    let mut taken = 1;
    while taken < want {
        match q.slots.try_acquire() {
            Ok(p) => {
                p.forget();
                taken += 1;
            }
            Err(_) => break,
        }
    }
    Some(taken)
}

/// Start a task per delivery, each at its rate slot when the queue has a rate.
async fn start_batch(shared: &Arc<Shared>, q: &Arc<QueueWorker>, batch: Vec<Delivery>) {
    let cancelled = cancels_among(shared, q, &batch).await;
    let slots = match q.settings.qps {
        Some(_) => rate_slots(shared, q, batch.len()).await,
        None => Vec::new(),
    };
    let mut batch = batch.into_iter().zip(cancelled);
    let mut slots = slots.into_iter();
    while let Some((delivery, cancelled)) = batch.next() {
        if let Some(at) = slots.next()
            && !wait_until(shared, q, at).await
        {
            // Stopping while waiting for a slot: hand these back now rather than after a lease.
            let rest = std::iter::once(delivery).chain(batch.by_ref().map(|(d, _)| d));
            return_unstarted(q, rest.collect()).await;
            return;
        }
        spawn_task(shared, q, delivery, cancelled);
    }
}

/// Which deliveries of `batch` have a cancel requested: one look at the store per fetched batch
/// (a round trip on a networked store), not one per task. A failed look runs them, as a failed
/// per-task look always did; a task that is running still hears a cancel through `wait_cancel`.
async fn cancels_among(shared: &Shared, q: &QueueWorker, batch: &[Delivery]) -> Vec<bool> {
    let ids: Vec<&str> = batch.iter().map(|d| d.message().id.as_str()).collect();
    match shared.store.cancels_among(&ids).await {
        Ok(found) if found.len() == ids.len() => found,
        Ok(found) => {
            tracing::warn!(queue = %q.name, asked = ids.len(), answered = found.len(), "cancel check answered the wrong count; running the batch");
            vec![false; ids.len()]
        }
        Err(err) => {
            tracing::warn!(queue = %q.name, error = %err, "cancel check failed; running the batch");
            vec![false; ids.len()]
        }
    }
}

fn spawn_task(shared: &Arc<Shared>, q: &Arc<QueueWorker>, delivery: Delivery, cancelled: bool) {
    let slot = Slot(Arc::clone(&q.slots));
    let (shared2, q2) = (Arc::clone(shared), Arc::clone(q));
    // Boxed: a task's future holds the whole run (the instance call's state machine), and tokio
    // moves a spawned future by value several times (into its task cell, then each stage
    // change); a box is moved instead, so the run's state is copied once, here.
    shared.tracker.spawn(Box::pin(task::process(
        shared2, q2, delivery, cancelled, slot,
    )));
}

/// When each of the next `n` starts of this queue may happen, earliest first. With a shared
/// store every slot of the batch is reserved at once: reserved one after another, a host could
/// start at most one task per store round trip, and a slow store (a loaded machine) would hold
/// three hosts below a rate the store grants them.
async fn rate_slots(shared: &Shared, q: &QueueWorker, n: usize) -> Vec<Instant> {
    let mut slots = match (&q.limiter, q.settings.qps) {
        (Some(limiter), _) if !shared.store.is_shared() => {
            let now = Instant::now();
            let mut limiter = limiter.lock().unwrap_or_else(|p| p.into_inner());
            (0..n).map(|_| limiter.reserve(now)).collect()
        }
        (_, Some(qps)) => {
            let reserve = |_| async move {
                let wait = match shared.store.reserve_rate(&q.name, qps).await {
                    Ok(wait) => wait,
                    Err(err) => {
                        tracing::warn!(queue = %q.name, error = %err, "global rate limiter failed; pacing locally");
                        Duration::from_secs_f64(1.0 / qps)
                    }
                };
                Instant::now() + wait
            };
            futures::future::join_all((0..n).map(reserve)).await
        }
        _ => Vec::new(),
    };
    slots.sort_unstable();
    slots
}

/// Sleep until `at` (a rate slot); false if the host stops first.
async fn wait_until(shared: &Shared, q: &QueueWorker, at: Instant) -> bool {
    let wait = at.saturating_duration_since(Instant::now());
    if wait.is_zero() {
        return true;
    }
    q.metrics.rate_wait(wait);
    tokio::select! {
        () = shared.stop.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Give leased messages back to the broker (shutdown, pause); their slots were never used.
async fn return_unstarted(q: &QueueWorker, deliveries: Vec<Delivery>) {
    let n = deliveries.len();
    for d in deliveries {
        if let Err(err) = d.settle(Settlement::Requeue).await {
            tracing::warn!(queue = %q.name, error = %err, "could not return a message; it comes back after its lease");
        }
    }
    q.slots.add_permits(n);
}
