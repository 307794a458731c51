//! Workflow documents: the shapes that flatten into stages, and the refusals naming their node.

use serde_json::json;

use super::*;

#[test]
fn a_chain_with_a_chord_and_a_map_flattens_into_stages() {
    let doc = json!({"chain": [
        {"queue": "add", "args": {"x": 1, "y": 2}},
        {"chord": {"group": [
            {"queue": "double", "arg": "n"},
            {"queue": "other", "arg": "n"}
        ], "callback": {"queue": "sum", "arg": "values"}}},
        {"map": {"queue": "sq", "arg": "x", "callback": {"queue": "sum", "arg": "values"}}}
    ], "on_error": {"queue": "alert", "arg": "failure"}});
    let plan = parse(&doc).expect("valid");
    let kinds: Vec<&str> = plan.stages.iter().map(Stage::kind).collect();
    assert_eq!(kinds, ["task", "group", "task", "map", "task"]);
    assert_eq!(
        plan.queues(),
        ["add", "alert", "double", "other", "sq", "sum"]
    );
    let bodies = plan.stages[1].bodies(1, Some(&json!(3))).expect("bodies");
    assert_eq!(bodies[1], ("other".to_owned(), json!({"n": 3})));
    let mapped = plan.stages[3]
        .bodies(3, Some(&json!([1, 2])))
        .expect("list");
    assert_eq!(mapped[1].1, json!({"x": 2}));
    assert_eq!(
        plan.stages[3].bodies(3, Some(&json!(5))),
        Err(WorkflowError::NotAList { stage: 3 })
    );
}

#[test]
fn refusals_name_the_node() {
    let cases = [
        (json!([1]), "$"),
        (
            json!({"chain": [{"queue": "a"}, {"args": {}}]}),
            "$.chain[1]",
        ),
        (json!({"group": [{"chain": []}]}), "$.group[0]"),
        (json!({"chord": {"group": []}}), "$.chord"),
        (json!({"map": {"queue": "sq"}}), "$.map"),
        (json!({"queue": "a", "arg": "extra"}), "$.arg"),
        (json!({"queue": "a b"}), "$"),
        (json!({"queue": "a", "when": 1}), "$"),
    ];
    for (doc, at) in cases {
        let err = parse(&doc).expect_err(&doc.to_string());
        assert!(
            err.to_string().starts_with(&format!("workflow {at}:")),
            "{doc}: {err}"
        );
    }
    let big: Vec<_> = (0..=MAX_WORKFLOW_TASKS)
        .map(|_| json!({"queue": "a"}))
        .collect();
    assert_eq!(
        parse(&json!({"group": big})),
        Err(WorkflowError::TooManyTasks)
    );
}

#[test]
fn step_ids_round_trip_and_foreign_ids_are_not_steps() {
    let id = step_task_id("wf-0192-ab", 2, 17);
    assert_eq!(parse_step_task_id(&id), Some(("wf-0192-ab", 2, 17)));
    for foreign in [
        "abc.1.2",
        "wf-.1.2",
        "wf-a.b.1.2",
        "wf-a.1",
        "wf-a.x.1",
        "wf-a b.1.2",
    ] {
        assert_eq!(parse_step_task_id(foreign), None, "{foreign}");
    }
    assert!(validate_workflow_id("wf-x").is_ok());
    assert!(validate_workflow_id("wf-../x").is_err());
}
