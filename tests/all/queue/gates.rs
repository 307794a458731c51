//! Gates in one place: a paused queue leases nothing, even when a fetch was already waiting for
//! messages when the pause landed, so `queues` shows nothing running.

use std::time::{Duration, Instant};

use serde_json::json;

use super::support::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_leases_nothing_though_a_fetch_was_waiting() {
    let t = start("embedded", "[queues.gated]\nconcurrency = 500\n").await;
    t.deploy_guest("gated", "sleep").await;
    // One task through, so the fetch loop is up and back to waiting on an empty queue.
    let first = t.publish("gated", json!({"ms": 1})).await;
    t.result(&first, Duration::from_secs(60)).await;

    t.host.set_paused("gated", true).await.expect("pause");
    let bodies = (0..500).map(|_| json!({"ms": 1})).collect();
    t.publish_many("gated", bodies).await;
    let until = Instant::now() + Duration::from_secs(2);
    let mut samples = 0;
    while Instant::now() < until {
        let stats = t.host.stats().await.expect("stats");
        let row = stats.iter().find(|r| r.queue == "gated").expect("a row");
        assert!(row.paused, "{row:?}");
        assert_eq!(
            row.running, 0,
            "a paused queue shows nothing running: {row:?}"
        );
        assert_eq!(row.queued, 500, "{row:?}");
        samples += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(samples > 20, "sampled often enough: {samples}");

    t.host.set_paused("gated", false).await.expect("resume");
    super::support::eventually(
        "the queue to drain after resume",
        Duration::from_secs(60),
        || async {
            let stats = t.host.stats().await.ok()?;
            let row = stats.into_iter().find(|r| r.queue == "gated")?;
            (row.queued == 0 && row.running == 0 && row.succeeded == 501).then_some(())
        },
    )
    .await;
    t.stop().await;
}
