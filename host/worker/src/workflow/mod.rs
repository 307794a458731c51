//! Durable workflows (chain, group, chord, map; see `wasmboost_policy::workflow` for the
//! document): submitted through [`Host::submit_workflow`], shown by [`Host::workflow`],
//! cancelled by [`Host::cancel_workflow`], advanced by the host that ends each step (`advance`).
//!
//! Everything lives in the state store, so any host sharing it can advance or show a workflow
//! and a host killed mid-workflow loses nothing:
//! - the plan, once, as a record under `workflow <id>` (a space keeps it apart from task ids);
//! - per stage, a join of its members' results (`<id>.r<stage>`, slot = member): filling a
//!   slot and counting the filled ones is one atomic step (`StateStore::join_put`), so the
//!   member that completes the stage is the one that sees the count reach the stage's size,
//!   and a member delivered twice fills its slot once;
//! - the marks of what the workflow did, as joins too: `<id>.size` (each published stage's
//!   member count), `<id>.pub` (stages published, and the `on_error` step), `<id>.end` (the
//!   ending: the first writer wins, so a failure and a cancel cannot both be the ending).
//!
//! Each step is an ordinary task with the id `<id>.<stage>.<member>` and its queue's retries
//! and dead-letter; only its ending (succeeded, or given up) advances the workflow.

mod advance;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmboost_broker::now_ms;
use wasmboost_policy::workflow::{self as wf, Plan, WORKFLOW_ID_PREFIX};

pub(crate) use advance::step_ended;

use crate::error::HostError;
use crate::host::Host;
use crate::record::{TaskRecord, TaskState};
use crate::shared::Shared;

/// How long a workflow's plan and joins are kept after their last change.
pub const WORKFLOW_TTL: Duration = Duration::from_secs(7 * 86_400);
/// Most steps per stage `workflow show` lists (the counts cover all of them).
pub const SHOWN_STEPS: usize = 100;

/// A workflow as `wasmboost workflow show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowInfo {
    pub id: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    /// Why it failed: the failed step's task id, state and error.
    pub error: Option<String>,
    /// The last stage's result once it succeeded.
    pub result: Option<Value>,
    pub created_ms: u64,
    /// Every queue the workflow publishes to (what a token needs to submit or cancel it).
    pub queues: Vec<String>,
    pub stages: Vec<StageInfo>,
}

/// One stage: its kind, its size once published, how many members ended well, its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub kind: String,
    /// Members published (`None`: not published yet).
    pub size: Option<u32>,
    /// Members that succeeded.
    pub done: u32,
    /// Up to [`SHOWN_STEPS`] steps.
    pub steps: Vec<StepInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    pub task_id: String,
    pub queue: String,
    /// From the task's record; `succeeded` from the join when the queue keeps no records.
    pub state: Option<TaskState>,
    pub error: Option<String>,
}

/// The stored plan of a workflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Doc {
    pub id: String,
    pub plan: Plan,
    pub created_ms: u64,
}

/// How a workflow ended (the value of its `end` join's slot 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ending {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub(crate) fn doc_key(id: &str) -> String {
    format!("workflow {id}")
}
pub(crate) fn results_join(id: &str, stage: usize) -> String {
    format!("{id}.r{stage}")
}
pub(crate) fn sizes_join(id: &str) -> String {
    format!("{id}.size")
}
pub(crate) fn published_join(id: &str) -> String {
    format!("{id}.pub")
}
pub(crate) fn end_join(id: &str) -> String {
    format!("{id}.end")
}

/// Whether `task_id` may be a workflow step (the cheap test the task path makes).
pub(crate) fn is_step(task_id: &str) -> bool {
    task_id.starts_with(WORKFLOW_ID_PREFIX)
}

fn slot(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(crate) async fn load(shared: &Shared, id: &str) -> Result<Option<Doc>, HostError> {
    let Some(bytes) = shared.store.get_record(&doc_key(id)).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| HostError::Internal(format!("stored workflow {id} is unreadable: {e}")))
}

pub(crate) async fn ending(shared: &Shared, id: &str) -> Result<Option<Ending>, HostError> {
    let values = shared.store.join_values(&end_join(id)).await?;
    Ok(values.get(&0).and_then(|b| serde_json::from_slice(b).ok()))
}

/// Record how the workflow ended; the first ending stays.
pub(crate) async fn end(shared: &Shared, id: &str, ending: &Ending) -> Result<(), HostError> {
    let bytes = serde_json::to_vec(ending).map_err(|e| HostError::Internal(e.to_string()))?;
    shared
        .store
        .join_put(&end_join(id), 0, Bytes::from(bytes), WORKFLOW_TTL)
        .await?;
    Ok(())
}

/// A stage's output from its members' results: one result, or the list in member order.
pub(crate) fn output(stage: &wf::Stage, results: &BTreeMap<u32, Bytes>) -> Value {
    let parse = |b: &Bytes| serde_json::from_slice(b).unwrap_or(Value::Null);
    if stage.is_list() {
        Value::Array(results.values().map(parse).collect())
    } else {
        results.get(&0).map_or(Value::Null, parse)
    }
}

fn bad(err: wf::WorkflowError) -> HostError {
    HostError::BadMessage {
        reason: err.to_string(),
    }
}

impl Host {
    /// Check and store a workflow, publish its first stage; returns its id.
    pub async fn submit_workflow(&self, doc: &[u8]) -> Result<WorkflowInfo, HostError> {
        let value: Value = serde_json::from_slice(doc).map_err(|e| HostError::BadMessage {
            reason: format!("a workflow is a JSON object: {e}"),
        })?;
        let plan = wf::parse(&value).map_err(bad)?;
        for queue in plan.queues() {
            if !self.shared.is_known(&queue) {
                return Err(HostError::UnknownQueue {
                    queue,
                    known: self.shared.known_queues(),
                });
            }
        }
        if self.is_stopping() {
            return Err(HostError::ShuttingDown);
        }
        let id = format!("{WORKFLOW_ID_PREFIX}{}", uuid::Uuid::now_v7());
        let doc = Doc {
            id: id.clone(),
            plan,
            created_ms: now_ms(),
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| HostError::Internal(e.to_string()))?;
        self.shared
            .store
            .put_record(&doc_key(&id), Bytes::from(bytes), false, WORKFLOW_TTL)
            .await?;
        advance::start(&self.shared, &doc, 0, None).await?;
        tracing::info!(workflow = %id, stages = doc.plan.stages.len(), "workflow submitted");
        self.workflow(&id)
            .await?
            .ok_or_else(|| HostError::Internal(format!("workflow {id} vanished")))
    }

    /// A workflow with every stage's steps and their states; `None` when unknown or expired.
    pub async fn workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, HostError> {
        wf::validate_workflow_id(id).map_err(bad)?;
        let Some(doc) = load(&self.shared, id).await? else {
            return Ok(None);
        };
        let store = &self.shared.store;
        let sizes = store.join_values(&sizes_join(id)).await?;
        let ending = ending(&self.shared, id).await?;
        let mut stages = Vec::new();
        let mut last_output = None;
        for (s, stage) in doc.plan.stages.iter().enumerate() {
            let size = sizes
                .get(&slot(s))
                .and_then(|b| std::str::from_utf8(b).ok()?.parse::<u32>().ok());
            let results = store.join_values(&results_join(id, s)).await?;
            if size.is_some_and(|n| results.len() >= n as usize) {
                last_output = Some(output(stage, &results));
            }
            let mut steps = Vec::new();
            for m in 0..size.unwrap_or(0).min(slot(SHOWN_STEPS)) as usize {
                steps.push(self.step_info(id, stage, s, m, &results).await?);
            }
            stages.push(StageInfo {
                kind: stage.kind().to_owned(),
                size,
                done: slot(results.len()),
                steps,
            });
        }
        let (state, error) = match ending {
            Some(e) => (e.state, e.error),
            None => ("running".to_owned(), None),
        };
        let result = (state == "succeeded").then_some(last_output).flatten();
        Ok(Some(WorkflowInfo {
            id: id.to_owned(),
            state,
            error,
            result,
            created_ms: doc.created_ms,
            queues: doc.plan.queues(),
            stages,
        }))
    }

    async fn step_info(
        &self,
        id: &str,
        stage: &wf::Stage,
        s: usize,
        m: usize,
        results: &BTreeMap<u32, Bytes>,
    ) -> Result<StepInfo, HostError> {
        let task_id = wf::step_task_id(id, s, m);
        let record: Option<TaskRecord> = self.record(&task_id).await?;
        let joined = results
            .contains_key(&slot(m))
            .then_some(TaskState::Succeeded);
        Ok(StepInfo {
            queue: stage.queue_of(m).unwrap_or_default().to_owned(),
            state: record.as_ref().map(|r| r.state).or(joined),
            error: record.and_then(|r| r.error),
            task_id,
        })
    }

    /// Cancel a running workflow: it ends `cancelled` (unless it already ended), no further
    /// stage is published, and every step of its published stages that has not succeeded is
    /// cancelled by id (skipped when fetched, stopped when running).
    pub async fn cancel_workflow(&self, id: &str) -> Result<Option<WorkflowInfo>, HostError> {
        wf::validate_workflow_id(id).map_err(bad)?;
        let Some(doc) = load(&self.shared, id).await? else {
            return Ok(None);
        };
        let cancelled = Ending {
            state: "cancelled".to_owned(),
            error: Some("cancelled by request".to_owned()),
        };
        end(&self.shared, id, &cancelled).await?;
        let sizes = self.shared.store.join_values(&sizes_join(id)).await?;
        for (s, size) in &sizes {
            let Some(n) = std::str::from_utf8(size)
                .ok()
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            let done = self
                .shared
                .store
                .join_values(&results_join(id, *s as usize))
                .await?;
            for m in (0..n).filter(|m| !done.contains_key(m)) {
                self.cancel(&wf::step_task_id(id, *s as usize, m as usize))
                    .await?;
            }
        }
        tracing::info!(workflow = %id, stages = doc.plan.stages.len(), "workflow cancelled");
        self.workflow(id).await
    }
}
