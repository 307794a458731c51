//! Workflows as pure logic: the JSON a user submits, checked and flattened into a [`Plan`] of
//! stages run one after another, the message body of each step, and the ids that tie a step's
//! task to its workflow. No I/O: the worker stores the plan and advances it
//! (`host/worker/src/workflow/`).
//!
//! The grammar (each node is one JSON object):
//! - a task: `{"queue": "add", "args": {"x": 1}, "arg": "n"}`; `arg` names the parameter that
//!   receives the previous stage's result (none: the result is not passed);
//! - `{"chain": [node, ...]}`: one after another, each result feeding the next;
//! - `{"group": [task, ...]}`: side by side (queues may differ); its result is the list of the
//!   members' results, in order;
//! - `{"chord": {"group": [task, ...], "callback": task}}`: a group, then the callback with the
//!   list of results under its `arg`;
//! - `{"map": {"queue": "sq", "arg": "x", "over": [1, 2], "args": {}, "callback": task}}`: one
//!   task per element (under `arg`); without `over`, over the previous stage's result (a list);
//!   the optional callback gets the list of results.
//!
//! A top-level object may also hold `"on_error": task`, run once with `{"error": ..}` under its
//! `arg` when a step fails. Nesting: a chain may hold chains, groups, chords and maps; a group's
//! members are tasks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

use crate::names::validate_queue_name;

/// Most tasks one workflow may fan out to (all stages, maps counted when they run).
pub const MAX_WORKFLOW_TASKS: usize = 10_000;
/// Most stages of one workflow.
pub const MAX_STAGES: usize = 100;
/// Longest `arg` name.
pub const MAX_ARG_LEN: usize = 64;
/// Every workflow id starts with this, so a step's task id is recognised by a prefix test.
pub const WORKFLOW_ID_PREFIX: &str = "wf-";

/// A refused workflow document; `at` is the JSON path of the offending node.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WorkflowError {
    #[error("workflow {at}: {why}")]
    Shape { at: String, why: String },
    #[error("workflow has more than {MAX_WORKFLOW_TASKS} tasks")]
    TooManyTasks,
    #[error("workflow has more than {MAX_STAGES} stages")]
    TooManyStages,
    #[error("stage {stage} maps over the previous result, which is not a list")]
    NotAList { stage: usize },
    #[error("invalid workflow id {0:?}: it is \"wf-\" then 1 to 60 of A-Z a-z 0-9 -")]
    Id(String),
}

/// One task of a workflow: its queue, fixed arguments, and where the input goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub queue: String,
    #[serde(default)]
    pub args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
}

/// A stage: what runs once the previous stage is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// One task; its result is the stage's.
    Task(Step),
    /// Tasks side by side; the stage's result is their list of results.
    Group(Vec<Step>),
    /// One task per element of `over` (or of the input list), the element under `step.arg`.
    Map {
        step: Step,
        over: Option<Vec<Value>>,
    },
}

impl Stage {
    /// `task`, `group` or `map`.
    pub fn kind(&self) -> &'static str {
        match self {
            Stage::Task(_) => "task",
            Stage::Group(_) => "group",
            Stage::Map { .. } => "map",
        }
    }

    /// The queue of member `member`.
    pub fn queue_of(&self, member: usize) -> Option<&str> {
        match self {
            Stage::Task(step) => (member == 0).then_some(step.queue.as_str()),
            Stage::Group(steps) => steps.get(member).map(|s| s.queue.as_str()),
            Stage::Map { step, .. } => Some(step.queue.as_str()),
        }
    }

    /// Whether the stage's result is a list (a group or map) rather than one result.
    pub fn is_list(&self) -> bool {
        !matches!(self, Stage::Task(_))
    }

    /// The message of each member, given the previous stage's result (`None` for the first).
    pub fn bodies(
        &self,
        index: usize,
        input: Option<&Value>,
    ) -> Result<Vec<(String, Value)>, WorkflowError> {
        match self {
            Stage::Task(step) => Ok(vec![step.body(input)]),
            Stage::Group(steps) => Ok(steps.iter().map(|s| s.body(input)).collect()),
            Stage::Map { step, over } => {
                let items = match (over, input) {
                    (Some(items), _) => items.as_slice(),
                    (None, Some(Value::Array(items))) => items.as_slice(),
                    (None, _) => return Err(WorkflowError::NotAList { stage: index }),
                };
                if items.len() > MAX_WORKFLOW_TASKS {
                    return Err(WorkflowError::TooManyTasks);
                }
                Ok(items.iter().map(|item| step.body(Some(item))).collect())
            }
        }
    }
}

impl Step {
    /// The step's message: its `args`, plus `input` under `arg` when both are there.
    pub fn body(&self, input: Option<&Value>) -> (String, Value) {
        let mut args = self.args.clone();
        if let (Some(name), Some(input)) = (&self.arg, input) {
            args.insert(name.clone(), input.clone());
        }
        (self.queue.clone(), Value::Object(args))
    }
}

/// A checked workflow: stages in order and the optional error handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<Step>,
}

impl Plan {
    /// Every queue the workflow may publish to (sorted, once each).
    pub fn queues(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .stages
            .iter()
            .flat_map(|stage| match stage {
                Stage::Task(s) | Stage::Map { step: s, .. } => vec![s.queue.clone()],
                Stage::Group(steps) => steps.iter().map(|s| s.queue.clone()).collect(),
            })
            .chain(self.on_error.iter().map(|s| s.queue.clone()))
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

mod parse;
pub use parse::parse;

/// The task id of member `member` of stage `stage` of workflow `workflow`.
pub fn step_task_id(workflow: &str, stage: usize, member: usize) -> String {
    format!("{workflow}.{stage}.{member}")
}

/// The task id of a workflow's `on_error` step.
pub fn error_task_id(workflow: &str) -> String {
    format!("{workflow}.error")
}

/// The workflow, stage and member a task id names, if it is a workflow step's id.
pub fn parse_step_task_id(task_id: &str) -> Option<(&str, usize, usize)> {
    if !task_id.starts_with(WORKFLOW_ID_PREFIX) {
        return None;
    }
    let (rest, member) = task_id.rsplit_once('.')?;
    let (workflow, stage) = rest.rsplit_once('.')?;
    validate_workflow_id(workflow).ok()?;
    Some((workflow, stage.parse().ok()?, member.parse().ok()?))
}

/// A workflow id: `wf-` then 1 to 60 of `A-Z a-z 0-9 -` (the host makes them from a UUIDv7).
pub fn validate_workflow_id(id: &str) -> Result<(), WorkflowError> {
    let tail = id.strip_prefix(WORKFLOW_ID_PREFIX).unwrap_or_default();
    let ok = (1..=60).contains(&tail.len())
        && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(WorkflowError::Id(id.chars().take(80).collect()))
    }
}

/// Check a queue name for the plan, naming the node.
fn check_queue(queue: &str, at: &str) -> Result<(), WorkflowError> {
    validate_queue_name(queue).map_err(|e| WorkflowError::Shape {
        at: at.to_owned(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
