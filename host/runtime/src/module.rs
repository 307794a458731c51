//! [`TaskModule`]: a loaded component and its invocation, each call on a fresh instance.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::IgnoredAny;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::TaskPre;
use crate::bindings::wasmboost::task::types::{Context, TaskError as WitTaskError};
use crate::capture::GUEST_TARGET;
use crate::config::MAX_GUEST_LINE_BYTES;
use crate::grants::Access;
use crate::host::{HostState, Pipes, Setup};
use crate::interrupt::Interrupt;
use crate::outcome::{Captured, Invocation, Outcome, Phases, Report, TaskContext, TaskError};
use crate::runtime::Inner;
use crate::text::{cap_text, escape_control};
use crate::trap::{Cancelled, DeadlineExceeded, classify};

/// Cap on a deadline far in the future, so `start + timeout` never overflows.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A loaded, pre-linked component. `Send + Sync`; cloning shares it.
#[derive(Clone)]
pub struct TaskModule {
    inner: Arc<ModuleInner>,
}

struct ModuleInner {
    runtime: Arc<Inner>,
    sha256: String,
    pre: TaskPre<HostState>,
}

impl std::fmt::Debug for TaskModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskModule")
            .field("sha256", &self.inner.sha256)
            .finish_non_exhaustive()
    }
}

/// What the call produced before the store was dropped.
struct Finished {
    result: wasmtime::Result<Result<String, WitTaskError>>,
    fuel_used: u64,
    peak_memory_bytes: u64,
    phases: Phases,
}

impl TaskModule {
    pub(crate) fn new(runtime: Arc<Inner>, sha256: String, pre: TaskPre<HostState>) -> Self {
        TaskModule {
            inner: Arc::new(ModuleInner {
                runtime,
                sha256,
                pre,
            }),
        }
    }

    /// Lowercase hex sha256 of the component's bytes.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Runs the task once on a fresh instance under the invocation's budgets, with nothing
    /// granted (the 0.1.0 sandbox). Never panics: host-side failures are reported as
    /// `Trap(Other)`.
    pub async fn invoke(&self, invocation: Invocation) -> Report {
        self.invoke_with(invocation, &Access::default()).await
    }

    /// [`TaskModule::invoke`] with the queue's grants: what the 0.2.0 imports may reach.
    pub async fn invoke_with(&self, invocation: Invocation, access: &Access) -> Report {
        self.invoke_until(invocation, access, &Interrupt::new())
            .await
    }

    /// [`invoke_with`](TaskModule::invoke_with), stopped early (trap `cancelled`) once `stop` is
    /// raised: within one epoch tick for a guest running wasm, at once for one blocked in a host
    /// call.
    pub async fn invoke_until(
        &self,
        invocation: Invocation,
        access: &Access,
        stop: &Interrupt,
    ) -> Report {
        let started = Instant::now();
        let timeout = invocation.limits.timeout.min(FOREVER);
        let deadline = started + timeout;
        let config = &self.inner.runtime.config;
        let memory_limit = invocation.limits.memory_bytes.min(config.max_memory_bytes);
        let setup = Setup {
            queue: invocation.context.queue.clone(),
            task_id: invocation.context.task_id.clone(),
            memory_limit,
            output_cap: config.output_cap_bytes,
            access,
            deadline,
        };
        let (state, pipes) = match HostState::new(setup) {
            Ok(created) => created,
            Err(err) => return setup_failed(err, started.elapsed()),
        };
        let denied = state.denied.clone();
        let finished = self.run(state, &invocation, deadline, timeout, stop).await;
        let duration = started.elapsed();
        let mut report = report(finished, pipes, &invocation.context, duration);
        report.denied = denied.load(Ordering::Relaxed);
        report
    }

    async fn run(
        &self,
        state: HostState,
        invocation: &Invocation,
        deadline: Instant,
        timeout: Duration,
        stop: &Interrupt,
    ) -> Finished {
        let fuel = invocation.limits.fuel;
        let mut store = Store::new(&self.inner.runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        if let Err(err) = store.set_fuel(fuel) {
            return Finished {
                result: Err(err),
                fuel_used: 0,
                peak_memory_bytes: 0,
                phases: Phases::default(),
            };
        }
        // Every epoch tick the guest yields to the executor (so CPU-bound guests share threads)
        // and the deadline is checked.
        store.set_epoch_deadline(1);
        let stopped = stop.clone();
        store.epoch_deadline_callback(move |_| {
            if stopped.is_raised() {
                Err(wasmtime::Error::new(Cancelled))
            } else if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let ctx = guest_context(invocation, timeout);
        let pre = &self.inner.pre;
        let mut phases = Phases::default();
        let call = async {
            let started = Instant::now();
            let task = pre.instantiate_async(&mut store).await;
            phases.instantiate = started.elapsed();
            let called = Instant::now();
            let result = task?
                .call_handle(&mut store, &ctx, &invocation.payload)
                .await;
            phases.call = called.elapsed();
            result
        };
        // The tokio timeout (and the interrupt) also stop a guest blocked in a host call, where
        // epochs do not fire. Dropping `call` there unwinds the guest's fiber safely.
        let result = tokio::select! {
            biased;
            timed = tokio::time::timeout_at(deadline.into(), call) => {
                timed.unwrap_or_else(|_| Err(wasmtime::Error::new(DeadlineExceeded)))
            }
            () = stop.raised() => Err(wasmtime::Error::new(Cancelled)),
        };
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let peak_memory_bytes = store.data().limiter.peak;
        let torn_down = Instant::now();
        // Returns the instance's memories and tables to the pool, resetting them.
        drop(store);
        phases.teardown = torn_down.elapsed();
        Finished {
            result,
            fuel_used,
            peak_memory_bytes,
            phases,
        }
    }
}

/// The report of an invocation that could not start (a granted directory would not open): a
/// host-side trap, so the queue's retry policy decides.
fn setup_failed(err: wasmtime::Error, duration: Duration) -> Report {
    Report {
        outcome: Outcome::Trap {
            trap: crate::TrapKind::Other(format!("{err:#}")),
        },
        fuel_used: 0,
        duration,
        phases: Phases::default(),
        peak_memory_bytes: 0,
        stdout: Captured::default(),
        stderr: Captured::default(),
        logs: Captured::default(),
        denied: 0,
    }
}

fn guest_context(invocation: &Invocation, timeout: Duration) -> Context {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let deadline_ms = u64::try_from(now_ms.saturating_add(timeout.as_millis())).unwrap_or(u64::MAX);
    let context = &invocation.context;
    Context {
        task_id: context.task_id.clone(),
        queue: context.queue.clone(),
        attempt: context.attempt,
        publish_time_ms: context.publish_time_ms,
        deadline_ms,
    }
}

fn report(finished: Finished, pipes: Pipes, context: &TaskContext, duration: Duration) -> Report {
    let stdout = pipes.stdout.take();
    let stderr = pipes.stderr.take();
    let logs = pipes.logs.take();
    let outcome = match finished.result {
        Ok(Ok(result)) => ok_outcome(result),
        Ok(Err(error)) => Outcome::TaskError {
            error: task_error(error),
        },
        Err(err) => Outcome::Trap {
            trap: classify(&err, &stderr.text),
        },
    };
    trace_output(context, "stdout", &stdout);
    trace_output(context, "stderr", &stderr);
    Report {
        outcome,
        fuel_used: finished.fuel_used,
        duration,
        phases: finished.phases,
        peak_memory_bytes: finished.peak_memory_bytes,
        stdout,
        stderr,
        logs,
        denied: 0,
    }
}

/// A result that is not valid JSON is the task's failure, not the host's.
fn ok_outcome(result: String) -> Outcome {
    match serde_json::from_str::<IgnoredAny>(&result) {
        Ok(_) => Outcome::Ok { result },
        Err(err) => Outcome::TaskError {
            error: TaskError::Fail {
                reason: format!("task returned invalid JSON: {err}"),
            },
        },
    }
}

/// The task's own error, its reason bounded (it goes into records and logs).
fn task_error(error: WitTaskError) -> TaskError {
    let bound = |reason: String| cap_text(&reason, MAX_GUEST_LINE_BYTES).into_owned();
    match error {
        WitTaskError::Fail(reason) => TaskError::Fail {
            reason: bound(reason),
        },
        WitTaskError::Retry(request) => TaskError::Retry {
            reason: bound(request.reason),
            delay: request.delay_ms.map(Duration::from_millis),
        },
        WitTaskError::DeadLetter(reason) => TaskError::DeadLetter {
            reason: bound(reason),
        },
    }
}

/// A bounded, escaped excerpt of a captured stream in the host's debug log, as fields.
fn trace_output(context: &TaskContext, stream: &'static str, captured: &Captured) {
    if !captured.text.is_empty() {
        let capped = cap_text(&captured.text, MAX_GUEST_LINE_BYTES);
        tracing::debug!(
            target: GUEST_TARGET,
            queue = context.queue.as_str(),
            task_id = context.task_id.as_str(),
            stream,
            truncated = captured.truncated,
            text = %escape_control(&capped),
            "guest output"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn task_module_is_send_sync_clone() {
        assert_send_sync::<TaskModule>();
    }

    #[test]
    fn invalid_json_result_is_a_fail() {
        let outcome = ok_outcome("not json{".into());
        assert!(matches!(
            outcome,
            Outcome::TaskError {
                error: TaskError::Fail { .. }
            }
        ));
        assert_eq!(ok_outcome("3".into()), Outcome::Ok { result: "3".into() });
    }
}
