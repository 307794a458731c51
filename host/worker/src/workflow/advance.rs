//! Advancing a workflow when one of its steps ends: called by the host that ends the step,
//! **before** the step's delivery is settled (`task.rs`), so a host killed in between runs the
//! step again and advances again, which changes nothing the first time did:
//! - the step's result fills its slot of the stage's join once (a second fill is ignored);
//! - only the fill that brings the count to the stage's size starts the next stage; a
//!   redelivered member after that finds the next stage's `pub` mark and publishes nothing;
//! - the next stage's tasks have fixed ids (`<id>.<stage>.<member>`); a host killed between
//!   publishing them and writing the `pub` mark publishes them again (that crash window can run
//!   a step twice; the join still counts it once).

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};
use wasmboost_broker::now_ms;
use wasmboost_policy::workflow::{self as wf, WorkflowError};

use super::{
    Doc, Ending, WORKFLOW_TTL, end, ending, load, output, published_join, results_join, sizes_join,
    slot,
};
use crate::error::HostError;
use crate::fault;
use crate::publish::{self, PublishOptions};
use crate::record::{TaskRecord, TaskState};
use crate::shared::Shared;

/// The hook of the task path: advance the workflow of the step that ended with `record`.
/// `false` when the store or broker failed: the caller then leaves the delivery unsettled, so
/// the step comes back after its lease and advances then.
pub(crate) async fn step_ended(shared: &Shared, record: &TaskRecord) -> bool {
    let Some((id, stage, member)) = wf::parse_step_task_id(&record.task_id) else {
        return true;
    };
    match advance(shared, id, stage, member, record).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(workflow = %id, task_id = %record.task_id, error = %err, "could not advance the workflow; the step comes back after its lease");
            false
        }
    }
}

async fn advance(
    shared: &Shared,
    id: &str,
    s: usize,
    m: usize,
    record: &TaskRecord,
) -> Result<(), HostError> {
    let Some(doc) = load(shared, id).await? else {
        return Ok(());
    };
    let Some(stage) = doc.plan.stages.get(s) else {
        return Ok(());
    };
    let sizes = shared.store.join_values(&sizes_join(id)).await?;
    let size = size_of(&sizes, s);
    // Only the step the workflow published counts: right queue, a member of a published stage.
    if stage.queue_of(m) != Some(record.queue.as_str()) || size.is_none_or(|n| m >= n) {
        tracing::warn!(workflow = %id, task_id = %record.task_id, queue = %record.queue, "a task with a workflow step's id that the workflow did not publish; ignored");
        return Ok(());
    }
    if record.state != TaskState::Succeeded {
        return fail(shared, &doc, record).await;
    }
    let result = record.result.as_ref().unwrap_or(&Value::Null);
    let value = serde_json::to_vec(result).map_err(|e| HostError::Internal(e.to_string()))?;
    let join = results_join(id, s);
    let filled = shared
        .store
        .join_put(&join, slot(m), Bytes::from(value), WORKFLOW_TTL)
        .await?;
    fault::check(fault::Point::Join, u64::from(filled));
    if size.is_some_and(|n| (filled as usize) < n) {
        return Ok(());
    }
    let results = shared.store.join_values(&join).await?;
    start(shared, &doc, s + 1, Some(output(stage, &results))).await
}

fn size_of(sizes: &BTreeMap<u32, Bytes>, s: usize) -> Option<usize> {
    let raw = sizes.get(&slot(s))?;
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Publish stage `s` with `input` (the previous stage's output), unless the workflow ended or
/// the stage was published already; the workflow succeeds after its last stage. An empty stage
/// (a map over an empty list) completes at once with `[]`.
pub(super) async fn start(
    shared: &Shared,
    doc: &Doc,
    mut s: usize,
    mut input: Option<Value>,
) -> Result<(), HostError> {
    let id = doc.id.as_str();
    loop {
        if ending(shared, id).await?.is_some() {
            return Ok(());
        }
        let Some(stage) = doc.plan.stages.get(s) else {
            let done = Ending {
                state: "succeeded".to_owned(),
                error: None,
            };
            tracing::info!(workflow = %id, "workflow succeeded");
            return end(shared, id, &done).await;
        };
        let marks = shared.store.join_values(&published_join(id)).await?;
        if marks.contains_key(&slot(s)) {
            return Ok(());
        }
        let bodies = match stage.bodies(s, input.as_ref()) {
            Ok(bodies) => bodies,
            Err(err @ (WorkflowError::NotAList { .. } | WorkflowError::TooManyTasks)) => {
                let failed = Ending {
                    state: "failed".to_owned(),
                    error: Some(err.to_string()),
                };
                return end(shared, id, &failed).await;
            }
            Err(err) => return Err(HostError::Internal(err.to_string())),
        };
        let size = Bytes::from(bodies.len().to_string());
        shared
            .store
            .join_put(&sizes_join(id), slot(s), size, WORKFLOW_TTL)
            .await?;
        let members = bodies
            .into_iter()
            .enumerate()
            .map(|(m, (queue, body))| (wf::step_task_id(id, s, m), queue, body))
            .collect::<Vec<_>>();
        let empty = members.is_empty();
        publish_members(shared, members).await?;
        mark_published(shared, id, s).await?;
        if !empty {
            return Ok(());
        }
        input = Some(Value::Array(Vec::new()));
        s += 1;
    }
}

async fn mark_published(shared: &Shared, id: &str, s: usize) -> Result<(), HostError> {
    let mark = Bytes::from(now_ms().to_string());
    shared
        .store
        .join_put(&published_join(id), slot(s), mark, WORKFLOW_TTL)
        .await?;
    Ok(())
}

/// The workflow ends `failed` (or `cancelled`) with this step's error; the first ending stays,
/// and only the step whose failure became the ending publishes the `on_error` step.
async fn fail(shared: &Shared, doc: &Doc, record: &TaskRecord) -> Result<(), HostError> {
    let id = doc.id.as_str();
    let state = if record.state == TaskState::Cancelled {
        "cancelled"
    } else {
        "failed"
    };
    let why = record.error.as_deref().unwrap_or("no error given");
    let error = format!("step {} {}: {why}", record.task_id, record.state);
    let failed = Ending {
        state: state.to_owned(),
        error: Some(error.clone()),
    };
    end(shared, id, &failed).await?;
    tracing::info!(workflow = %id, task_id = %record.task_id, state, "workflow step failed; the workflow ends");
    let Some(handler) = &doc.plan.on_error else {
        return Ok(());
    };
    let first = ending(shared, id).await?.and_then(|e| e.error) == Some(error.clone());
    let at = doc.plan.stages.len();
    let marks = shared.store.join_values(&published_join(id)).await?;
    if !first || marks.contains_key(&slot(at)) {
        return Ok(());
    }
    let info =
        json!({"workflow": id, "task_id": record.task_id, "state": record.state, "error": why});
    let (queue, body) = handler.body(Some(&info));
    publish_members(shared, vec![(wf::error_task_id(id), queue, body)]).await?;
    mark_published(shared, id, at).await
}

/// Publish steps with their fixed task ids, one broker call per queue, each with its `queued`
/// record where the queue keeps them (as a batch publish does).
async fn publish_members(
    shared: &Shared,
    members: Vec<(String, String, Value)>,
) -> Result<(), HostError> {
    let mut by_queue: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for (task_id, queue, body) in members {
        by_queue.entry(queue).or_default().push((task_id, body));
    }
    let now = now_ms();
    let max = shared.config.host.max_message_bytes.0;
    for (queue, steps) in by_queue {
        let settings = shared.settings(&queue);
        let mut records = Vec::new();
        let mut messages = Vec::new();
        for (task_id, body) in steps {
            let opts = PublishOptions {
                task_id: Some(task_id),
                ..PublishOptions::default()
            };
            let bytes =
                serde_json::to_vec(&body).map_err(|e| HostError::Internal(e.to_string()))?;
            let prepared = publish::prepare(&bytes, &opts, max, now, &settings.budget)?;
            if settings.results.keeps(prepared.state, false) {
                records.push(TaskRecord::new(
                    &prepared.message.id,
                    &queue,
                    prepared.state,
                    prepared.published_ms,
                ));
            }
            messages.push(prepared.message);
        }
        let put = shared.records.put_all(&records, settings.result_ttl);
        let publish = shared.broker.publish(&queue, messages);
        let (put, published) = tokio::join!(put, publish);
        published?;
        put?;
    }
    Ok(())
}
