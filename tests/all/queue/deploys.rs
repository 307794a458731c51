//! Deploys through a running host: redeploy while tasks run, rollback, refused uploads.

use std::time::Duration;

use serde_json::json;
use wasmboost_tests::guests;
use wasmboost_worker::units::ByteSize;
use wasmboost_worker::{HostError, TaskState};

use super::support::{eventually, start, start_with};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploy_while_running_finishes_old_tasks_on_the_old_version() {
    let t = start("memory", "[queues.v]\nconcurrency = 10").await;
    assert_eq!(t.deploy_guest("v", "sleep").await, 1);
    let old: Vec<String> = t
        .publish_many("v", (0..5).map(|_| json!({"ms": 1500})).collect())
        .await;
    eventually("the old tasks to run", LONG, || async {
        let r = t.host.record(&old[4]).await.expect("record")?;
        (r.state == TaskState::Running).then_some(())
    })
    .await;
    assert_eq!(t.deploy_guest("v", "echo_v2").await, 2);
    let new = t.publish("v", json!({"x": 1})).await;
    let r = t.result(&new, LONG).await;
    assert_eq!(
        (r.state, r.module_version),
        (TaskState::Succeeded, Some(2)),
        "{r:?}"
    );
    assert!(
        r.result
            .as_ref()
            .is_some_and(|v| v.to_string().contains("v2")),
        "{r:?}"
    );
    for rec in t.results(&old, LONG).await {
        assert_eq!(
            (rec.state, rec.module_version),
            (TaskState::Succeeded, Some(1)),
            "{rec:?}"
        );
    }

    let back = t.host.rollback("v", None).await.expect("rollback");
    assert_eq!(back.number, 1);
    let versions = t.host.versions("v").await.expect("versions");
    assert_eq!(
        versions
            .iter()
            .filter(|v| v.current)
            .map(|v| v.number)
            .collect::<Vec<_>>(),
        [1]
    );
    let after = t.publish("v", json!({"ms": 1})).await;
    assert_eq!(t.result(&after, LONG).await.module_version, Some(1));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_keep_the_old_version_serving() {
    let t = start_with("memory", "", |c| {
        c.runtime.max_component_bytes = ByteSize(2 << 20)
    })
    .await;
    t.deploy_guest("r", "echo_v1").await;
    let err = t
        .host
        .deploy("r", guests::core_module_bytes())
        .await
        .expect_err("core module");
    assert!(matches!(err, HostError::Rejected { .. }), "{err}");
    assert!(
        err.to_string().contains("wasm32-wasip2"),
        "says how to fix it: {err}"
    );
    let err = t
        .host
        .deploy("r", vec![0u8; 3 << 20])
        .await
        .expect_err("oversized");
    assert_eq!(err.status_code(), 413, "{err}");
    let err = t
        .host
        .deploy("r", b"not wasm at all".to_vec())
        .await
        .expect_err("garbage");
    assert_eq!(err.status_code(), 422, "{err}");
    let versions = t.host.versions("r").await.expect("versions");
    assert_eq!(versions.len(), 1);
    let id = t.publish("r", json!({"x": 1})).await;
    let r = t.result(&id, LONG).await;
    assert_eq!((r.state, r.module_version), (TaskState::Succeeded, Some(1)));
    t.stop().await;
}
