//! One delivery, start to end: parse → gates (expired, delayed, duplicate) → run under the
//! queue's budgets with the lease renewed → decide → record + settle once → count.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wasmboost_broker::{Delivery, Message, NewMessage, Settlement, StateError, now_ms};
use wasmboost_policy::message::{self, ParsedMessage};
use wasmboost_policy::requeue_allowed;
use wasmboost_runtime::{Invocation, Limits, Report, TaskContext};

use crate::engine::{Bound, QueueWorker, Shared, Slot};
use crate::record::{TaskRecord, TaskState};
use crate::verdict::{self as outcome, Verdict};

/// A task still running after this gets a `running` record (shorter ones never need one, which
/// saves a store write per task on the hot path).
const RUNNING_RECORD_AFTER: Duration = Duration::from_millis(50);
/// How long a settled task keeps trying to store its record through a store outage.
const RECORD_RETRY_FOR: Duration = Duration::from_secs(60);
/// First and longest pause between those tries.
const RECORD_RETRY_MIN: Duration = Duration::from_millis(50);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(1);
/// A message due this little in the future runs now rather than going back to the broker.
const DELAY_TOLERANCE_MS: u64 = 5;

/// What one task needs to know while it is handled.
pub(crate) struct TaskCx {
    pub shared: Arc<Shared>,
    pub q: Arc<QueueWorker>,
    pub task_id: String,
    pub published_ms: u64,
    pub attempt: u32,
}

impl TaskCx {
    pub(crate) fn record(&self, state: TaskState) -> TaskRecord {
        let mut r = TaskRecord::new(&self.task_id, &self.q.name, state, self.published_ms);
        r.attempts = self.attempt;
        r
    }

    /// Store `record` and settle the delivery, together (one group commit on the embedded
    /// store). A record that failed to store is retried here; an unsettled delivery also comes
    /// back after its lease and runs again.
    pub(crate) async fn finish(
        &self,
        delivery: Delivery,
        record: TaskRecord,
        settlement: Settlement,
    ) {
        let terminal = record.state.is_terminal();
        let bytes = record.to_bytes();
        let put = self.shared.store.put_record(
            &self.task_id,
            bytes.clone(),
            terminal,
            self.q.settings.result_ttl,
        );
        let (put, settled) = tokio::join!(put, delivery.settle(settlement));
        // Retry the record even when the settle reported failure: a reply lost in an outage
        // does not mean the settle did not happen, and if it did nothing else writes this
        // record. If it did not, the rerun after the lease writes the record again.
        if let Err(err) = put {
            self.put_again(bytes, terminal, err).await;
        }
        if let Err(err) = settled {
            tracing::warn!(task_id = %self.task_id, error = %err, "could not settle; the message comes back after its lease");
        }
    }

    /// The delivery may be settled, so nothing else may write this record: retry while the
    /// store is only unavailable (an outage, a restart of a shared store), for a bounded time.
    async fn put_again(&self, bytes: bytes::Bytes, terminal: bool, mut err: StateError) {
        let deadline = tokio::time::Instant::now() + RECORD_RETRY_FOR;
        let mut pause = RECORD_RETRY_MIN;
        while err.is_transient() && tokio::time::Instant::now() + pause < deadline {
            tokio::time::sleep(pause).await;
            let ttl = self.q.settings.result_ttl;
            match self
                .shared
                .store
                .put_record(&self.task_id, bytes.clone(), terminal, ttl)
                .await
            {
                Ok(()) => return,
                Err(again) => err = again,
            }
            pause = (pause * 2).min(RECORD_RETRY_MAX);
        }
        tracing::warn!(task_id = %self.task_id, error = %err, "could not store the task record");
    }
}

/// Decrements the queue's in-flight count however the task ends.
struct InFlight<'a>(&'a QueueWorker);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handle one delivery; `_slot` frees the concurrency permit when this returns.
pub(crate) async fn process(
    shared: Arc<Shared>,
    q: Arc<QueueWorker>,
    delivery: Delivery,
    _slot: Slot,
) {
    q.in_flight.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(&q);
    let max = usize::try_from(shared.config.host.max_message_bytes.0).unwrap_or(usize::MAX);
    let parsed = message::parse(&delivery.message().body, max);
    let cx = {
        let msg = delivery.message();
        let published_ms = parsed
            .as_ref()
            .ok()
            .and_then(|p| p.extra.publish_time_ms)
            .unwrap_or(msg.published_ms);
        TaskCx {
            shared: Arc::clone(&shared),
            q: Arc::clone(&q),
            task_id: msg.id.clone(),
            published_ms,
            attempt: msg.attempt,
        }
    };
    // A foreign producer chose this id (a Redis entry's `id` field, an AMQP `message_id`): one
    // that breaks the task-id rule cannot name a record, so the message is dead-lettered with
    // the reason and no record is written.
    if let Err(err) = wasmboost_policy::validate_task_id(&cx.task_id) {
        cx.q.count(|d| d.dead_lettered += 1);
        let reason = format!("malformed message: {err}");
        if let Err(err) = delivery.settle(Settlement::DeadLetter { reason }).await {
            tracing::warn!(error = %err, "could not dead-letter a message with a bad task id; it comes back after its lease");
        }
        return;
    }
    match parsed {
        Ok(parsed) => gate_and_run(&cx, delivery, parsed).await,
        Err(err) => {
            let reason = format!("malformed message: {err}");
            dead_letter(&cx, delivery, reason).await;
        }
    }
}

async fn dead_letter(cx: &TaskCx, delivery: Delivery, reason: String) {
    let mut record = cx.record(TaskState::DeadLettered);
    record.error = Some(reason.clone());
    record.finished_ms = Some(now_ms());
    cx.q.count(|d| d.dead_lettered += 1);
    cx.finish(delivery, record, Settlement::DeadLetter { reason })
        .await;
}

/// The message-level gates, then the run.
async fn gate_and_run(cx: &TaskCx, delivery: Delivery, parsed: ParsedMessage) {
    let now = now_ms();
    let settings = &cx.q.settings;
    let expire_at = parsed.extra.expire_at_ms;
    if wasmboost_policy::expiry::is_expired(cx.published_ms, settings.msg_ttl, expire_at, now) {
        let mut record = cx.record(TaskState::Expired);
        record.error = Some("expired before it could run".to_owned());
        record.finished_ms = Some(now);
        cx.q.count(|d| d.expired += 1);
        return cx.finish(delivery, record, Settlement::Ack).await;
    }
    if let Some(due) = due_ms(&parsed, delivery.message())
        && due > now + DELAY_TOLERANCE_MS
        && delivery.message().attempt <= 1
    {
        return defer(cx, delivery, due).await;
    }
    let dedup_key =
        (settings.dedup || parsed.extra.dedup_key.is_some()).then(|| parsed.dedup_key());
    if let Some(key) = &dedup_key {
        match cx.shared.store.dedup_seen(&cx.q.name, key).await {
            Ok(true) => {
                let mut record = cx.record(TaskState::SkippedDuplicate);
                record.error = Some(format!("a task with dedup key {key} already succeeded"));
                record.finished_ms = Some(now);
                cx.q.count(|d| d.skipped_duplicate += 1);
                return cx.finish(delivery, record, Settlement::Ack).await;
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(task_id = %cx.task_id, error = %err, "dedup check failed; running anyway")
            }
        }
    }
    let Some(bound) = cx.q.bound() else {
        // Cannot happen for a started queue (a binding is never removed); let the lease expire.
        tracing::warn!(queue = %cx.q.name, "no module bound; message left to its lease");
        drop(delivery);
        return;
    };
    run(cx, delivery, &parsed, bound, dedup_key).await;
}

/// When a message asks to run later (`extra.eta` / `extra.countdown`): counted from its publish
/// time. Messages published through the host already sit in the broker until then; this catches
/// ones pushed straight into a broker by other clients.
fn due_ms(parsed: &ParsedMessage, msg: &Message) -> Option<u64> {
    if let Some(eta) = parsed.extra.eta_ms {
        return Some(eta);
    }
    let countdown = parsed.extra.countdown?;
    let base = parsed.extra.publish_time_ms.unwrap_or(msg.published_ms);
    Some(base.saturating_add(u64::try_from(countdown.as_millis()).unwrap_or(u64::MAX)))
}

/// Put a message back, delayed until `due`, without counting an attempt: publish a copy with the
/// same id that becomes visible then, and ack this delivery.
async fn defer(cx: &TaskCx, delivery: Delivery, due: u64) {
    let msg = delivery.message();
    let copy = NewMessage {
        id: msg.id.clone(),
        body: msg.body.clone(),
        priority: msg.priority,
        not_before_ms: Some(due),
    };
    match cx.shared.broker.publish(&cx.q.name, vec![copy]).await {
        Ok(()) => {
            let record = cx.record(TaskState::Delayed);
            cx.finish(delivery, record, Settlement::Ack).await;
        }
        Err(err) => {
            tracing::warn!(task_id = %cx.task_id, error = %err, "could not delay; the message comes back after its lease");
        }
    }
}

/// The budgets of one invocation: the queue's, overridden by the message's `extra`, capped by
/// the runtime's largest memory slot.
fn limits(cx: &TaskCx, parsed: &ParsedMessage) -> Limits {
    let base = cx.q.settings.limits;
    let extra = &parsed.extra;
    let max_memory = cx.shared.config.runtime.max_memory.0;
    Limits {
        fuel: extra.fuel.unwrap_or(base.fuel),
        timeout: extra.timeout.unwrap_or(base.timeout),
        memory_bytes: extra
            .memory_mb
            .map_or(base.memory_bytes, |mb| mb.saturating_mul(1 << 20))
            .min(max_memory),
    }
}

async fn run(
    cx: &TaskCx,
    delivery: Delivery,
    parsed: &ParsedMessage,
    bound: Arc<Bound>,
    dedup_key: Option<String>,
) {
    let started_ms = now_ms();
    let invocation = Invocation {
        context: TaskContext {
            task_id: cx.task_id.clone(),
            queue: cx.q.name.to_string(),
            attempt: cx.attempt,
            publish_time_ms: cx.published_ms,
        },
        payload: String::from_utf8_lossy(&delivery.message().body).into_owned(),
        limits: limits(cx, parsed),
    };
    let Some(report) = run_guarded(cx, &delivery, &bound, invocation, started_ms).await else {
        // The grace period ran out: hand the message back for another host or the next start,
        // without counting an attempt, unless it was handed back too often already (then it
        // counts, so max_retries bounds a task that keeps outliving shutdowns).
        let requeues = delivery.message().requeues;
        let settlement = if requeue_allowed(requeues, cx.q.settings.max_requeues) {
            Settlement::Requeue
        } else {
            Settlement::Retry {
                after: Duration::ZERO,
            }
        };
        let record = cx.record(TaskState::Queued);
        return cx.finish(delivery, record, settlement).await;
    };
    let verdict = outcome::judge(&cx.q.settings, parsed, delivery.message(), &report);
    let record = outcome::record_of(cx, &report, &verdict, &bound, started_ms);
    count(cx, &report, &verdict);
    if let (Verdict::Succeeded { .. }, Some(key)) = (&verdict, dedup_key) {
        let ttl = cx.q.settings.dedup_ttl;
        if let Err(err) = cx.shared.store.dedup_mark(&cx.q.name, &key, ttl).await {
            tracing::warn!(task_id = %cx.task_id, error = %err, "could not mark the dedup key");
        }
    }
    cx.finish(delivery, record, verdict.settlement()).await;
}

fn count(cx: &TaskCx, report: &Report, verdict: &Verdict) {
    let ok = matches!(verdict, Verdict::Succeeded { .. });
    let us = u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX);
    cx.q.meter(|m| m.record(now_ms(), ok, us));
    cx.q.count(|d| match verdict {
        Verdict::Succeeded { .. } => d.succeeded += 1,
        Verdict::Failed { .. } => d.failed += 1,
        Verdict::Retry { .. } => {
            d.failed += 1;
            d.retried += 1;
        }
        Verdict::DeadLetter { .. } => {
            d.failed += 1;
            d.dead_lettered += 1;
        }
    });
}

/// Run the invocation; meanwhile record `running` once it takes a while, and renew the lease.
/// `None` when the host gave up waiting (shutdown grace over).
async fn run_guarded(
    cx: &TaskCx,
    delivery: &Delivery,
    bound: &Bound,
    invocation: Invocation,
    started_ms: u64,
) -> Option<Report> {
    let lease = cx.q.settings.lease;
    let renew_every = lease / 3;
    let call = bound.module.invoke(invocation);
    tokio::pin!(call);
    let mut next = tokio::time::Instant::now() + RUNNING_RECORD_AFTER.min(renew_every);
    let mut marked = false;
    loop {
        tokio::select! {
            biased;
            report = &mut call => return Some(report),
            () = cx.shared.abandon.cancelled() => return None,
            () = tokio::time::sleep_until(next) => {
                if !marked {
                    marked = true;
                    mark_running(cx, bound, started_ms).await;
                } else if let Err(err) = delivery.renew(lease).await {
                    tracing::warn!(task_id = %cx.task_id, error = %err, "lease renewal failed");
                }
                next = tokio::time::Instant::now() + renew_every;
            }
        }
    }
}

async fn mark_running(cx: &TaskCx, bound: &Bound, started_ms: u64) {
    let mut record = cx.record(TaskState::Running);
    record.started_ms = Some(started_ms);
    record.module_version = Some(bound.version.number);
    let put = cx.shared.store.put_record(
        &cx.task_id,
        record.to_bytes(),
        false,
        cx.q.settings.result_ttl,
    );
    if let Err(err) = put.await {
        tracing::warn!(task_id = %cx.task_id, error = %err, "could not store the running record");
    }
}
