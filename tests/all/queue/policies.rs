//! Per-queue policies through a real host and real guests: retries and the DLQ, malformed
//! messages, QPS, concurrency, expiry, dedup, priority, allowed windows, delays.

use std::time::Duration;

use rand::Rng;
use serde_json::json;
use wasmboost_broker::NewMessage;
use wasmboost_broker::conformance::MAX_EARLY;
use wasmboost_worker::{HostError, PublishOptions, TaskState};

use super::support::{eventually, max_overlap, start};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_task_runs_max_retries_plus_one_then_dead_letters_and_replays() {
    let t = start(
        "memory",
        "[queues.poison]\nmax_retries = 2\nbackoff = { base = \"10ms\", max = \"40ms\" }",
    )
    .await;
    t.deploy_guest("poison", "flaky").await;
    let id = t.publish("poison", json!({"mode": "retry"})).await;
    let r = t.result(&id, LONG).await;
    assert_eq!(r.state, TaskState::DeadLettered, "{r:?}");
    assert_eq!(r.attempts, 3, "max_retries + 1 attempts: {r:?}");
    // The record and the dead-letter settle are written together; wait for the latter.
    let dead = eventually("the dead letter", LONG, || async {
        let dead = t.host.dlq_list("poison", 10).await.expect("dlq list");
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message.id, id);
    assert!(
        dead[0].reason.contains("3 attempts"),
        "reason says why: {}",
        dead[0].reason
    );

    let first_finish = r.finished_ms;
    assert_eq!(t.host.dlq_replay("poison").await.expect("replay"), 1);
    let again = eventually(
        "the replayed task to be dead-lettered again",
        LONG,
        || async {
            let r = t.host.record(&id).await.expect("record")?;
            (r.state == TaskState::DeadLettered && r.finished_ms > first_finish).then_some(r)
        },
    )
    .await;
    assert_eq!(again.attempts, 3, "a replay starts the attempts again");
    assert_eq!(t.host.dlq_purge("poison").await.expect("purge"), 1);
    t.stop().await;
}

/// A replayed dead letter's next ending is a new outcome and is counted as one (its record goes
/// back to `queued` before the replay; a terminal record would make the store take the ending
/// for a rerun after a crash and not count it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_dead_letter_is_counted_again_on_the_embedded_broker() {
    let t = start("embedded", "[queues.poison]\nmax_retries = 0").await;
    t.deploy_guest("poison", "flaky").await;
    let id = t.publish("poison", json!({"mode": "retry"})).await;
    let failed = || async {
        let stats = t.host.stats().await.expect("stats");
        stats
            .iter()
            .find(|s| s.queue == "poison")
            .map_or(0, |s| s.failed)
    };
    let r = t.result(&id, LONG).await;
    assert_eq!(r.state, TaskState::DeadLettered, "{r:?}");
    eventually("the first failure counted", LONG, || async {
        (failed().await == 1).then_some(())
    })
    .await;
    eventually("the dead letter", LONG, || async {
        let dead = t.host.dlq_list("poison", 10).await.expect("dlq list");
        (!dead.is_empty()).then_some(())
    })
    .await;
    let first_finish = r.finished_ms;
    assert_eq!(t.host.dlq_replay("poison").await.expect("replay"), 1);
    eventually("the replayed task to fail again", LONG, || async {
        let r = t.host.record(&id).await.expect("record")?;
        (r.state == TaskState::DeadLettered && r.finished_ms > first_finish).then_some(())
    })
    .await;
    eventually("the second failure counted", LONG, || async {
        (failed().await == 2).then_some(())
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_message_in_storage_is_dead_lettered_and_the_queue_keeps_going() {
    let t = start("memory", "[queues.q]\n").await;
    t.deploy_guest("q", "echo_v1").await;
    let raw = vec![
        NewMessage::new("bad-1", b"{\"x\": ".to_vec()),
        NewMessage::new("bad-2", b"[1, 2, 3]".to_vec()),
    ];
    t.host
        .broker()
        .publish("q", raw)
        .await
        .expect("inject raw messages");
    let ok = t.publish("q", json!({"x": 1})).await;
    assert_eq!(t.result(&ok, LONG).await.state, TaskState::Succeeded);
    for id in ["bad-1", "bad-2"] {
        let r = t.result(id, LONG).await;
        assert_eq!(r.state, TaskState::DeadLettered, "{r:?}");
        assert!(
            r.error.as_deref().unwrap_or("").contains("malformed"),
            "{r:?}"
        );
    }
    let dead = t.host.dlq_list("q", 10).await.expect("dlq");
    assert_eq!(dead.len(), 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_refuses_bad_messages_with_their_cause() {
    let t = start("memory", "[queues.q]\nconcurrency = 1\n").await;
    let opts = PublishOptions::default;
    let err = t
        .host
        .publish("q", b"{\"x\": 1,", opts())
        .await
        .expect_err("malformed");
    assert!(
        matches!(err, HostError::BadMessage { .. }) && err.to_string().contains("line 1"),
        "{err}"
    );
    let err = t
        .host
        .publish("q", b"\"just a string\"", opts())
        .await
        .expect_err("not an object");
    assert!(err.to_string().contains("a string"), "{err}");
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(2 << 20));
    let err = t
        .host
        .publish("q", big.as_bytes(), opts())
        .await
        .expect_err("too large");
    assert_eq!(err.status_code(), 413, "{err}");
    let err = t
        .host
        .publish("nope", b"{}", opts())
        .await
        .expect_err("unknown queue");
    assert!(
        matches!(err, HostError::UnknownQueue { .. }) && err.to_string().contains("q"),
        "{err}"
    );
    let bodies = vec![b"{}".to_vec(), b"{oops".to_vec()];
    let err = t
        .host
        .publish_batch("q", bodies, opts())
        .await
        .expect_err("bad line");
    assert!(err.to_string().contains("message 1"), "{err}");
    assert_eq!(
        t.host.stats().await.expect("stats")[0].queued,
        0,
        "a failed batch publishes nothing"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qps_holds_within_5_percent_with_random_durations() {
    let t = start("memory", "[queues.rate]\nqps = 20.0\nconcurrency = 200").await;
    t.deploy_guest("rate", "sleep").await;
    let mut rng = rand::rng();
    let bodies = (0..260)
        .map(|_| json!({"ms": rng.random_range(10..2000)}))
        .collect();
    let ids = t.publish_many("rate", bodies).await;
    let records = t.results(&ids, Duration::from_secs(90)).await;
    let mut starts: Vec<u64> = records.iter().filter_map(|r| r.started_ms).collect();
    starts.sort_unstable();
    let t0 = starts[0];
    let in_10s = starts.iter().filter(|&&s| s < t0 + 10_000).count();
    assert!(
        (190..=210).contains(&in_10s),
        "20/s over 10 s: {in_10s} starts"
    );
    assert!(
        max_overlap(&records) > 1,
        "long tasks overlap so the rate can hold"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fractional_qps_spaces_starts_evenly() {
    let t = start("memory", "[queues.slow]\nqps = 0.5").await;
    t.deploy_guest("slow", "sleep").await;
    let ids = t
        .publish_many("slow", (0..4).map(|_| json!({"ms": 10})).collect())
        .await;
    let records = t.results(&ids, LONG).await;
    let mut starts: Vec<u64> = records.iter().filter_map(|r| r.started_ms).collect();
    starts.sort_unstable();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            (1900..=2100).contains(&gap),
            "0.5/s means 2 s apart, got {gap} ms"
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_never_exceeded() {
    let t = start("memory", "[queues.c]\nconcurrency = 5").await;
    t.deploy_guest("c", "sleep").await;
    let ids = t
        .publish_many(
            "c",
            (0..40).map(|i| json!({"ms": 50 + (i % 5) * 20})).collect(),
        )
        .await;
    let records = t.results(&ids, LONG).await;
    assert!(records.iter().all(|r| r.state == TaskState::Succeeded));
    let overlap = max_overlap(&records);
    assert!(overlap <= 5, "at most 5 at once, saw {overlap}");
    assert!(overlap >= 3, "the cap is used, saw {overlap}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_recorded_and_not_run() {
    let t = start("memory", "[queues.e]\nmsg_ttl = \"5s\"").await;
    t.deploy_guest("e", "echo_v1").await;
    let now = wasmboost_broker::now_ms();
    let old = t
        .publish(
            "e",
            json!({"x": 1, "extra": {"publish_time": now - 60_000}}),
        )
        .await;
    let past = t
        .publish("e", json!({"x": 2, "extra": {"expire_at": now - 1}}))
        .await;
    let fresh = t.publish("e", json!({"x": 3})).await;
    for id in [&old, &past] {
        let r = t.result(id, LONG).await;
        assert_eq!(r.state, TaskState::Expired, "{r:?}");
        assert_eq!(r.started_ms, None, "expired tasks do not run");
    }
    assert_eq!(t.result(&fresh, LONG).await.state, TaskState::Succeeded);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_skips_after_success_but_not_after_failure() {
    let t = start("memory", "[queues.d]\ndedup = true\nmax_retries = 0").await;
    t.deploy_guest("d", "flaky").await;
    let a = t.publish("d", json!({"mode": "ok", "delay_ms": 1})).await;
    assert_eq!(t.result(&a, LONG).await.state, TaskState::Succeeded);
    let b = t.publish("d", json!({"delay_ms": 1, "mode": "ok"})).await;
    assert_eq!(
        t.result(&b, LONG).await.state,
        TaskState::SkippedDuplicate,
        "same arguments, any key order"
    );
    let f1 = t.publish("d", json!({"mode": "fail"})).await;
    let r1 = t.result(&f1, LONG).await;
    let f2 = t.publish("d", json!({"mode": "fail"})).await;
    let r2 = t.result(&f2, LONG).await;
    assert_eq!(r1.state, TaskState::Failed, "{r1:?}");
    assert_eq!(
        r2.state,
        TaskState::Failed,
        "a failure does not mark the key: {r2:?}"
    );
    assert!(r2.started_ms.is_some());
    let k1 = t
        .publish(
            "d",
            json!({"mode": "ok", "delay_ms": 5, "extra": {"dedup_key": "k"}}),
        )
        .await;
    // Only a success marks the key, so the duplicate is published once the first has succeeded
    // (two copies in flight at once both run: nothing has succeeded yet).
    assert_eq!(t.result(&k1, LONG).await.state, TaskState::Succeeded);
    let k2 = t
        .publish(
            "d",
            json!({"mode": "ok", "delay_ms": 6, "extra": {"dedup_key": "k"}}),
        )
        .await;
    assert_eq!(
        t.result(&k2, LONG).await.state,
        TaskState::SkippedDuplicate,
        "explicit key wins"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn higher_priority_runs_first() {
    let t = start("memory", "[queues.p]\nconcurrency = 1").await;
    // Tasks of 20 ms, so start times (ms) tell the order.
    t.deploy_guest("p", "sleep").await;
    t.host.set_paused("p", true).await.expect("pause");
    let mut ids = Vec::new();
    for (i, p) in [3u8, 9, 0, 5, 9, 1, 7].into_iter().enumerate() {
        let opts = PublishOptions {
            priority: Some(p),
            ..PublishOptions::default()
        };
        ids.push((p, i, t.publish_with("p", json!({"ms": 20}), opts).await));
    }
    t.host.set_paused("p", false).await.expect("resume");
    let mut runs = Vec::new();
    for (p, i, id) in &ids {
        runs.push((t.result(id, LONG).await.started_ms.expect("ran"), *p, *i));
    }
    runs.sort();
    let order: Vec<(u8, usize)> = runs.iter().map(|&(_, p, i)| (p, i)).collect();
    let mut want = order.clone();
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(order, want, "priority descending, FIFO within a priority");
    t.stop().await;
}

/// A window that is closed now: the hour after the next one, every day (UTC).
fn closed_window() -> String {
    let h = (jiff::Timestamp::now().as_second() / 3600 + 2) % 24;
    format!("* {h:02}:00-{h:02}:59")
}

/// A window that opens at the next whole minute (the one after when that is under 5 s away, so
/// the test publishes before it opens) and stays open half an hour; and its opening, in ms.
fn window_opening_soon() -> (String, u64) {
    let now = jiff::Timestamp::now().as_second();
    let mut opens = (now / 60 + 1) * 60;
    if opens - now < 5 {
        opens += 60;
    }
    let hhmm = |s: i64| {
        let minute = (s / 60).rem_euclid(24 * 60);
        format!("{:02}:{:02}", minute / 60, minute % 60)
    };
    let window = format!("* {}-{}", hhmm(opens), hhmm(opens + 30 * 60));
    (window, u64::try_from(opens).unwrap_or(0) * 1000)
}

/// The other side of the gate: what the window held runs once it opens, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_held_by_the_window_run_when_it_opens() {
    let (window, opens_ms) = window_opening_soon();
    let t = start("memory", &format!("[queues.soon]\nwindow = \"{window}\"")).await;
    t.deploy_guest("soon", "echo_v1").await;
    let ids = t
        .publish_many("soon", (0..5).map(|i| json!({"x": i})).collect())
        .await;
    let records = t.results(&ids, Duration::from_secs(120)).await;
    for r in &records {
        assert_eq!(r.state, TaskState::Succeeded, "{r:?}");
        let started = r.started_ms.expect("ran");
        assert!(
            started >= opens_ms,
            "ran {} ms before the window {window} opened",
            opens_ms - started
        );
        assert!(
            started < opens_ms + 5000,
            "ran {} ms after the window {window} opened",
            started - opens_ms
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_wait_outside_the_allowed_window() {
    let extra = format!(
        "[queues.shut]\nwindow = \"{}\"\n[queues.open]\nwindow = \"* 00:00-24:00\"",
        closed_window()
    );
    let t = start("memory", &extra).await;
    t.deploy_guest("shut", "echo_v1").await;
    t.deploy_guest("open", "echo_v1").await;
    let waiting = t.publish("shut", json!({"x": 1})).await;
    let runs = t.publish("open", json!({"x": 1})).await;
    assert_eq!(t.result(&runs, LONG).await.state, TaskState::Succeeded);
    let none = t
        .host
        .wait_result(&waiting, Duration::from_millis(1500))
        .await
        .expect("wait");
    assert!(
        none.is_none(),
        "outside its window the task waits: {none:?}"
    );
    let row = t
        .host
        .stats()
        .await
        .expect("stats")
        .into_iter()
        .find(|s| s.queue == "shut")
        .expect("row");
    assert_eq!(row.queued, 1, "{row:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countdown_delays_the_run() {
    let t = start("memory", "[queues.later]\n").await;
    t.deploy_guest("later", "echo_v1").await;
    let opts = PublishOptions {
        countdown: Some(Duration::from_secs(2)),
        ..PublishOptions::default()
    };
    let id = t.publish_with("later", json!({"x": 1}), opts).await;
    assert_eq!(
        t.host.record(&id).await.expect("record").map(|r| r.state),
        Some(TaskState::Delayed)
    );
    let r = t.result(&id, LONG).await;
    let waited = r.started_ms.expect("ran") - r.published_ms;
    let earliest = 2000 - MAX_EARLY.as_millis() as u64;
    assert!(
        (earliest..3000).contains(&waited),
        "ran {waited} ms after publish"
    );
    t.stop().await;
}
