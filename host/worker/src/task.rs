//! One delivery, start to end: parse → gates (expired, delayed, duplicate) → run under the
//! queue's budgets with the lease renewed → decide → record + settle once → count.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wasmboost_broker::{Delivery, Message, NewMessage, Settlement, now_ms};
use wasmboost_policy::message::{self, ParsedMessage};
use wasmboost_policy::requeue_allowed;
use wasmboost_runtime::{
    Access, Interrupt, Invocation, Outcome, Report, TaskContext, TaskServices,
};

use crate::metrics::BrokerOp;
use crate::record::{TaskRecord, TaskState};
use crate::records::Counted;
use crate::services::WorkerServices;
use crate::shared::{Bound, QueueWorker, Shared, Slot};
use crate::verdict::{self, Verdict};

/// A task still running after this gets a `running` record (shorter ones never need one, which
/// saves a store write per task on the hot path).
const RUNNING_RECORD_AFTER: Duration = Duration::from_millis(50);
/// A running task listens for its cancel this much longer than its deadline (after that the
/// deadline has stopped it anyway).
const CANCEL_WATCH_MARGIN: Duration = Duration::from_secs(5);
/// A message due this little in the future runs now rather than going back to the broker.
const DELAY_TOLERANCE_MS: u64 = 5;

/// What one task needs to know while it is handled.
pub(crate) struct TaskCx {
    pub shared: Arc<Shared>,
    pub q: Arc<QueueWorker>,
    pub task_id: String,
    pub published_ms: u64,
    pub attempt: u32,
    /// A caller waits for the result (`extra.reply`): the final record is stored whatever the
    /// queue's `results` policy.
    pub reply: bool,
}

/// What a run adds to the record that ends it.
struct Ran<'a> {
    started_ms: u64,
    report: &'a Report,
    version: u32,
}

impl TaskCx {
    pub(crate) fn record(&self, state: TaskState) -> TaskRecord {
        let mut r = TaskRecord::new(&self.task_id, &self.q.name, state, self.published_ms);
        r.attempts = self.attempt;
        r
    }

    /// The one step that ends a delivery: the verdict's record (with the run's figures), its
    /// counts and its settlement.
    async fn end(&self, delivery: Delivery, verdict: Verdict, ran: Option<Ran<'_>>) {
        let mut record = self.record(verdict.state());
        record.finished_ms = Some(now_ms());
        record.error = verdict.error();
        record.result = verdict.result();
        if let Some(ran) = ran {
            record.started_ms = Some(ran.started_ms);
            record.duration_us = Some(micros(ran.report.duration));
            record.fuel_used = Some(ran.report.fuel_used);
            record.peak_memory_bytes = Some(ran.report.peak_memory_bytes);
            record.module_version = Some(ran.version);
        }
        crate::trace::record_end(&record);
        self.finish(delivery, record, verdict.settlement(), verdict.counts())
            .await;
    }

    /// Store `record` (with `counts`) and settle the delivery, together: the record is queued
    /// first, so on the embedded store it commits no later than the settle. A record that failed
    /// to store is retried by `Records`; an unsettled delivery comes back after its lease.
    async fn finish(
        &self,
        delivery: Delivery,
        record: TaskRecord,
        settlement: Settlement,
        counts: &'static [(&'static str, i64)],
    ) {
        // A workflow step's ending advances its workflow before the settle (a kill between the
        // two runs the step again, and the advance is idempotent); when it cannot, the
        // delivery is left to its lease and comes back.
        if record.state.is_terminal()
            && crate::workflow::is_step(&self.task_id)
            && !crate::workflow::step_ended(&self.shared, &record).await
        {
            return;
        }
        if !self.q.settings.results.keeps(record.state, self.reply) {
            // No record to commit the counts with: they go with the queue's next counter flush.
            self.q.count(counts);
            if let Err(err) = crate::trace::settle(delivery, settlement).await {
                self.shared.metrics.broker_error(BrokerOp::Settle);
                tracing::warn!(task_id = %self.task_id, error = %err, "could not settle; the message comes back after its lease");
            }
            return;
        }
        let ttl = self.q.settings.result_ttl;
        let put = self.shared.records.put_ending(&record, ttl, counts);
        // The record (and its counts) before the settle: a host killed between the two then
        // runs the task again instead of losing its record and count. Where the record and the
        // settle go through the same commit (the embedded broker), together is as safe.
        let (counted, settled) = if self.shared.one_commit {
            tokio::join!(put, crate::trace::settle(delivery, settlement))
        } else {
            let counted = put.await;
            (counted, crate::trace::settle(delivery, settlement).await)
        };
        if counted == Counted::CountLater {
            self.q.count(counts);
        }
        if let Err(err) = settled {
            self.shared.metrics.broker_error(BrokerOp::Settle);
            tracing::warn!(task_id = %self.task_id, error = %err, "could not settle; the message comes back after its lease");
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Decrements the queue's in-flight count however the task ends.
struct InFlight<'a>(&'a QueueWorker);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handle one delivery (`cancelled`: a cancel of it was requested, as its fetched batch's one
/// look at the store found); `_slot` frees the concurrency permit when this returns.
pub(crate) async fn process(
    shared: Arc<Shared>,
    q: Arc<QueueWorker>,
    delivery: Delivery,
    cancelled: bool,
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
            reply: parsed.as_ref().is_ok_and(|p| p.extra.reply),
        }
    };
    // A foreign producer chose this id (a Redis entry's `id` field, an AMQP `message_id`): one
    // that breaks the task-id rule cannot name a record, so the message is dead-lettered with
    // the reason and no record is written.
    if let Err(err) = wasmboost_policy::validate_task_id(&cx.task_id) {
        cx.q.count(&[("dead_lettered", 1)]);
        let reason = format!("malformed message: {err}");
        if let Err(err) = delivery.settle(Settlement::DeadLetter { reason }).await {
            tracing::warn!(error = %err, "could not dead-letter a message with a bad task id; it comes back after its lease");
        }
        return;
    }
    let span = crate::trace::task_span(&q.name, &cx.task_id, cx.attempt, parsed.as_ref().ok());
    let work = async {
        match parsed {
            Ok(parsed) => gate_and_run(&cx, delivery, parsed, cancelled).await,
            Err(err) => {
                let reason = format!("malformed message: {err}");
                cx.end(delivery, Verdict::Malformed { reason }, None).await;
            }
        }
    };
    crate::trace::within(span, work).await;
}

/// The message-level gates, then the run.
async fn gate_and_run(cx: &TaskCx, delivery: Delivery, parsed: ParsedMessage, cancelled: bool) {
    // First: a cancelled task is recorded `cancelled`, not expired, deferred or run.
    if cancelled {
        return cx.end(delivery, Verdict::Cancelled, None).await;
    }
    let now = now_ms();
    let settings = &cx.q.settings;
    let expire_at = parsed.extra.expire_at_ms;
    if wasmboost_policy::expiry::is_expired(cx.published_ms, settings.msg_ttl, expire_at, now) {
        return cx.end(delivery, Verdict::Expired, None).await;
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
                let key = key.clone();
                return cx.end(delivery, Verdict::Duplicate { key }, None).await;
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
            cx.finish(delivery, record, Settlement::Ack, &[]).await;
        }
        Err(err) => {
            tracing::warn!(task_id = %cx.task_id, error = %err, "could not delay; the message comes back after its lease");
        }
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
    // The one place a task's budget is chosen: the queue's, lowered by the message, and capped
    // at the queue's ceiling when a message that skipped publish asks for more.
    let (budget, over) = cx.q.settings.budget.capped(&parsed.extra);
    if let Some(over) = over {
        tracing::warn!(queue = %cx.q.name, task_id = %cx.task_id, "{over}; capped at the ceiling");
    }
    let invocation = Invocation {
        context: TaskContext {
            task_id: cx.task_id.clone(),
            queue: cx.q.name.to_string(),
            attempt: cx.attempt,
            publish_time_ms: cx.published_ms,
        },
        payload: String::from_utf8_lossy(&delivery.message().body).into_owned(),
        limits: budget.limits,
    };
    let stop = Interrupt::new();
    let ran = run_guarded(cx, &delivery, &bound, invocation, started_ms, &stop).await;
    let Some(report) = ran else {
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
        return cx.finish(delivery, record, settlement, &[]).await;
    };
    // A cancel that came after the task finished does not undo its result.
    let cancelled = stop.is_raised() && !matches!(report.outcome, Outcome::Ok { .. });
    let verdict = if cancelled {
        Verdict::Cancelled
    } else {
        verdict::judge(
            &cx.q.settings,
            budget.max_retries,
            delivery.message(),
            &report,
        )
    };
    count_denials(cx, report.denied).await;
    let ok = verdict.succeeded();
    cx.q.meter(|m| m.record(now_ms(), ok, micros(report.duration)));
    cx.q.metrics.observe(&report);
    if let (true, Some(key)) = (ok, dedup_key) {
        let ttl = cx.q.settings.dedup_ttl;
        if let Err(err) = cx.shared.store.dedup_mark(&cx.q.name, &key, ttl).await {
            tracing::warn!(task_id = %cx.task_id, error = %err, "could not mark the dedup key");
        }
    }
    let ran = Ran {
        started_ms,
        report: &report,
        version: bound.version.number,
    };
    cx.end(delivery, verdict, Some(ran)).await;
}

/// Run the invocation; meanwhile record `running` once it takes a while, renew the lease, and
/// raise `stop` when a cancel of the task is requested (by any host sharing the store).
/// `None` when the host gave up waiting (shutdown grace over).
async fn run_guarded(
    cx: &TaskCx,
    delivery: &Delivery,
    bound: &Bound,
    invocation: Invocation,
    started_ms: u64,
    stop: &Interrupt,
) -> Option<Report> {
    let watch_for = invocation
        .limits
        .timeout
        .saturating_add(CANCEL_WATCH_MARGIN);
    // Only a queue that may publish gets the services (one small allocation per task).
    let grants = &cx.q.settings.grants;
    let services: Option<Arc<dyn TaskServices>> = (!grants.publish_to.is_empty()
        || grants.kv.is_some())
    .then(|| Arc::new(WorkerServices::new(cx.shared.clone())) as Arc<dyn TaskServices>);
    let access = Access {
        grants: grants.clone(),
        services,
    };
    let call = bound.module.invoke_until(invocation, &access, stop);
    // The run, the cancel watch and the lease keeper are polled together: a slow store or
    // broker call in one (a renewal through an outage, a reconnect) never stalls the others.
    tokio::select! {
        biased;
        report = call => Some(report),
        () = cx.shared.abandon.cancelled() => None,
        never = watch_cancel(cx, stop, watch_for) => match never {},
        never = keep_lease(cx, delivery, bound, started_ms) => match never {},
    }
}

/// While the task runs: its `running` mark once it takes a while, then a lease renewal every
/// third of the lease. Never resolves (the run's select ends it).
async fn keep_lease(
    cx: &TaskCx,
    delivery: &Delivery,
    bound: &Bound,
    started_ms: u64,
) -> std::convert::Infallible {
    let lease = cx.q.settings.lease;
    let renew_every = lease / 3;
    tokio::time::sleep(RUNNING_RECORD_AFTER.min(renew_every)).await;
    mark_running(cx, bound, started_ms).await;
    loop {
        tokio::time::sleep(renew_every).await;
        if let Err(err) = delivery.renew(lease).await {
            cx.shared.metrics.broker_error(BrokerOp::Renew);
            tracing::warn!(task_id = %cx.task_id, error = %err, "lease renewal failed");
        }
    }
}

/// Raise `stop` once a cancel of this task is requested. Started only after
/// [`RUNNING_RECORD_AFTER`], so short tasks never pay for a subscription; a cancel requested
/// in that gap is still seen, because the wait looks at the mark after subscribing. Never
/// resolves (the run's select ends it).
async fn watch_cancel(
    cx: &TaskCx,
    stop: &Interrupt,
    watch_for: Duration,
) -> std::convert::Infallible {
    tokio::time::sleep(RUNNING_RECORD_AFTER).await;
    match cx.shared.store.wait_cancel(&cx.task_id, watch_for).await {
        Ok(true) => {
            tracing::info!(task_id = %cx.task_id, queue = %cx.q.name, "cancel requested; stopping the task");
            stop.interrupt();
        }
        Ok(false) => {}
        Err(err) => {
            tracing::warn!(task_id = %cx.task_id, error = %err, "cannot watch for a cancel of this task")
        }
    }
    std::future::pending().await
}

/// Adds the calls the grants refused to the queue's `denied` counter (`wasmboost queues`).
async fn count_denials(cx: &TaskCx, denied: u32) {
    if denied == 0 {
        return;
    }
    tracing::info!(queue = %cx.q.name, task_id = %cx.task_id, denied, "the queue's grants refused calls");
    let deltas = [("denied", i64::from(denied))];
    if let Err(err) = cx.shared.store.add_counters(&cx.q.name, &deltas).await {
        tracing::warn!(task_id = %cx.task_id, error = %err, "could not count the refused calls");
    }
}

async fn mark_running(cx: &TaskCx, bound: &Bound, started_ms: u64) {
    if !cx.q.settings.results.keeps(TaskState::Running, cx.reply) {
        return;
    }
    let mut record = cx.record(TaskState::Running);
    record.started_ms = Some(started_ms);
    record.module_version = Some(bound.version.number);
    let put = cx
        .shared
        .records
        .put_progress(&record, cx.q.settings.result_ttl);
    if let Err(err) = put.await {
        tracing::warn!(task_id = %cx.task_id, error = %err, "could not store the running record");
    }
}
