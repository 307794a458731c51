//! [`parse`]: a submitted workflow document (see the grammar in `super`) into a [`Plan`], every
//! refusal naming the JSON path of its node.

use serde_json::{Map, Value};

use super::{
    MAX_ARG_LEN, MAX_STAGES, MAX_WORKFLOW_TASKS, Plan, Stage, Step, WorkflowError, check_queue,
};

fn shape(at: &str, why: impl Into<String>) -> WorkflowError {
    WorkflowError::Shape {
        at: at.to_owned(),
        why: why.into(),
    }
}

/// Parse and check a workflow document.
pub fn parse(doc: &Value) -> Result<Plan, WorkflowError> {
    let Value::Object(top) = doc else {
        return Err(shape("$", "a workflow is a JSON object"));
    };
    let mut top = top.clone();
    let on_error = match top.remove("on_error") {
        Some(node) => Some(step(&node, "$.on_error")?),
        None => None,
    };
    let mut stages = Vec::new();
    node(&Value::Object(top), "$", &mut stages)?;
    if stages.is_empty() {
        return Err(shape("$", "a workflow has at least one task"));
    }
    if stages.len() > MAX_STAGES {
        return Err(WorkflowError::TooManyStages);
    }
    let fixed: usize = stages
        .iter()
        .map(|s| match s {
            Stage::Task(_) => 1,
            Stage::Group(steps) => steps.len(),
            Stage::Map { over, .. } => over.as_ref().map_or(0, Vec::len),
        })
        .sum();
    if fixed > MAX_WORKFLOW_TASKS {
        return Err(WorkflowError::TooManyTasks);
    }
    Ok(Plan { stages, on_error })
}

/// The one key of a composite node, or `None` for a task.
fn composite(obj: &Map<String, Value>) -> Option<&'static str> {
    ["chain", "group", "chord", "map"]
        .into_iter()
        .find(|k| obj.contains_key(*k))
}

/// Append the stages of `value` (any node) to `stages`.
fn node(value: &Value, at: &str, stages: &mut Vec<Stage>) -> Result<(), WorkflowError> {
    let Value::Object(obj) = value else {
        return Err(shape(at, "a node is a JSON object"));
    };
    let Some(kind) = composite(obj) else {
        stages.push(Stage::Task(step(value, at)?));
        return Ok(());
    };
    if obj.len() != 1 {
        let others: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| *k != kind)
            .collect();
        return Err(shape(
            at,
            format!("a {kind} node has no other keys, found {others:?}"),
        ));
    }
    let inner = &obj[kind];
    let here = format!("{at}.{kind}");
    match kind {
        "chain" => {
            let items = list(inner, &here)?;
            for (i, item) in items.iter().enumerate() {
                node(item, &format!("{here}[{i}]"), stages)?;
            }
        }
        "group" => stages.push(Stage::Group(group(inner, &here)?)),
        "chord" => {
            let Value::Object(chord) = inner else {
                return Err(shape(
                    &here,
                    "a chord is {\"group\": [..], \"callback\": task}",
                ));
            };
            only_keys(chord, &["group", "callback"], &here)?;
            let members = chord
                .get("group")
                .ok_or_else(|| shape(&here, "a chord needs a group"))?;
            let callback = chord
                .get("callback")
                .ok_or_else(|| shape(&here, "a chord needs a callback"))?;
            stages.push(Stage::Group(group(members, &format!("{here}.group"))?));
            stages.push(Stage::Task(step(callback, &format!("{here}.callback"))?));
        }
        _ => map(inner, &here, stages)?,
    }
    Ok(())
}

fn list<'a>(value: &'a Value, at: &str) -> Result<&'a Vec<Value>, WorkflowError> {
    value
        .as_array()
        .ok_or_else(|| shape(at, "expected a JSON array"))
}

fn group(value: &Value, at: &str) -> Result<Vec<Step>, WorkflowError> {
    let items = list(value, at)?;
    if items.len() > MAX_WORKFLOW_TASKS {
        return Err(WorkflowError::TooManyTasks);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| step(item, &format!("{at}[{i}]")))
        .collect()
}

fn map(value: &Value, at: &str, stages: &mut Vec<Stage>) -> Result<(), WorkflowError> {
    let Value::Object(obj) = value else {
        return Err(shape(
            at,
            "a map is {\"queue\": .., \"arg\": .., \"over\": [..]}",
        ));
    };
    only_keys(obj, &["queue", "args", "arg", "over", "callback"], at)?;
    let mut fields = obj.clone();
    let callback = fields.remove("callback");
    let over = match fields.remove("over") {
        Some(Value::Array(items)) => Some(items),
        Some(_) => return Err(shape(&format!("{at}.over"), "expected a JSON array")),
        None => None,
    };
    let each = step(&Value::Object(fields), at)?;
    if each.arg.is_none() {
        return Err(shape(
            at,
            "a map needs `arg`, the parameter each element goes to",
        ));
    }
    stages.push(Stage::Map { step: each, over });
    if let Some(callback) = callback {
        stages.push(Stage::Task(step(&callback, &format!("{at}.callback"))?));
    }
    Ok(())
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), WorkflowError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(shape(
            at,
            format!("unknown key {key:?} (allowed: {allowed:?})"),
        )),
        None => Ok(()),
    }
}

/// A task node.
fn step(value: &Value, at: &str) -> Result<Step, WorkflowError> {
    let Value::Object(obj) = value else {
        return Err(shape(
            at,
            "a task is {\"queue\": .., \"args\": {..}, \"arg\": ..}",
        ));
    };
    if let Some(kind) = composite(obj) {
        return Err(shape(at, format!("expected a task here, not a {kind}")));
    }
    only_keys(obj, &["queue", "args", "arg"], at)?;
    let queue = obj
        .get("queue")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(at, "a task needs \"queue\": a queue name"))?;
    check_queue(queue, at)?;
    let args = match obj.get("args") {
        None => Map::new(),
        Some(Value::Object(args)) => args.clone(),
        Some(_) => return Err(shape(&format!("{at}.args"), "expected a JSON object")),
    };
    let arg = match obj.get("arg") {
        None => None,
        Some(Value::String(name)) if valid_arg(name) => Some(name.clone()),
        Some(_) => {
            return Err(shape(
                &format!("{at}.arg"),
                format!("a parameter name is 1 to {MAX_ARG_LEN} of A-Z a-z 0-9 _, not \"extra\""),
            ));
        }
    };
    Ok(Step {
        queue: queue.to_owned(),
        args,
        arg,
    })
}

fn valid_arg(name: &str) -> bool {
    (1..=MAX_ARG_LEN).contains(&name.len())
        && name != "extra"
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
