//! What the beanstalkd broker promises beyond the shared suite, against a real `beanstalkd`:
//! dead letters are buried with their reason and replay; delays are never early; priorities map
//! onto beanstalkd's; a `kill -9` of beanstalkd with a binlog loses nothing confirmed and the
//! broker reconnects by itself; a foreign producer's JSON body (Python `greenstalk`) is
//! delivered as a first attempt.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

#[path = "support/greenstalk.rs"]
mod greenstalk;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use server::{BeanstalkdServer, raw, tube_stat};
use tokio::time::Instant;
use wasmboost_broker::{Broker, Delivery, NewMessage, Settlement, ms_after};
use wasmboost_broker_beanstalkd::tube::{PRI_NORMAL, to_pri};
use wasmboost_broker_beanstalkd::{BeanstalkBroker, BeanstalkConfig};

const LEASE: Duration = Duration::from_secs(60);

async fn broker(server: &BeanstalkdServer) -> Arc<BeanstalkBroker> {
    let config = BeanstalkConfig {
        reconnect_min_ms: 20,
        reconnect_max_ms: 200,
        ..BeanstalkConfig::with_addr(server.addr())
    };
    Arc::new(BeanstalkBroker::connect(config).await.expect("connect"))
}

fn msg(id: &str) -> NewMessage {
    NewMessage::new(id, format!("{{\"id\":\"{id}\"}}"))
}

async fn fetch_one(broker: &BeanstalkBroker, queue: &str, wait: Duration) -> Option<Delivery> {
    let mut got = broker.fetch(queue, 1, LEASE, wait).await.expect("fetch");
    got.pop()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_buried_with_their_reason_and_replay() {
    let server = BeanstalkdServer::start();
    let b = broker(&server).await;
    b.publish("dlq", vec![msg("poison")])
        .await
        .expect("publish");
    let d = fetch_one(&b, "dlq", Duration::from_secs(5))
        .await
        .expect("a job");
    let reason = "task trapped: out of fuel".to_owned();
    d.settle(Settlement::DeadLetter {
        reason: reason.clone(),
    })
    .await
    .expect("dead-letter");
    // Natively buried in the queue's own tube, where beanstalkd tools see it.
    assert_eq!(
        tube_stat(&server.addr(), "wasmboost.dlq", "current-jobs-buried"),
        1
    );
    assert!(
        fetch_one(&b, "dlq", Duration::ZERO).await.is_none(),
        "buried jobs are not delivered"
    );
    let dead = b.dead_letters("dlq", 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].message.id.as_str(), dead[0].reason.as_str()),
        ("poison", reason.as_str())
    );
    // The listing left the reasons in place.
    assert_eq!(
        b.dead_letters("dlq", 10).await.expect("list again").len(),
        1
    );
    assert_eq!(b.replay_dead_letters("dlq", None).await.expect("replay"), 1);
    let d = fetch_one(&b, "dlq", Duration::from_secs(5))
        .await
        .expect("replayed");
    assert_eq!(
        (d.message().id.as_str(), d.message().attempt),
        ("poison", 1)
    );
    d.settle(Settlement::Ack).await.expect("ack");
    assert!(b.dead_letters("dlq", 10).await.expect("list").is_empty());
    assert_eq!(
        tube_stat(&server.addr(), "wasmboost.dlq", "current-jobs-buried"),
        0
    );
}

/// Delays are whole seconds in beanstalkd and rounded up here, so a job is never visible before
/// its due time on this host's clock: the only way to be early is the millisecond truncation of
/// `now_ms` (under 1 ms) — so the bound is 5 ms for scheduling noise. It may be late by under a
/// second (the rounding) plus the reserve's latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_are_never_early() {
    let server = BeanstalkdServer::start();
    let b = broker(&server).await;
    let early = Duration::from_millis(5);
    let late = Duration::from_millis(1_500);
    for (i, delay_ms) in [300u64, 1_250, 2_000].into_iter().enumerate() {
        let delay = Duration::from_millis(delay_ms);
        let published = Instant::now();
        let m = NewMessage {
            not_before_ms: Some(ms_after(delay)),
            ..msg(&format!("d{i}"))
        };
        b.publish("delays", vec![m]).await.expect("publish");
        let d = fetch_one(&b, "delays", Duration::from_secs(5))
            .await
            .expect("due");
        let took = published.elapsed();
        assert!(
            took + early >= delay,
            "{delay:?} delay delivered after {took:?}"
        );
        assert!(
            took <= delay + late,
            "{delay:?} delay delivered only after {took:?}"
        );
        // A retry's delay is a native `release` delay, rounded the same way.
        let retried = Instant::now();
        d.settle(Settlement::Retry { after: delay })
            .await
            .expect("retry");
        let d = fetch_one(&b, "delays", Duration::from_secs(5))
            .await
            .expect("retried");
        let took = retried.elapsed();
        assert!(
            took + early >= delay,
            "{delay:?} retry delivered after {took:?}"
        );
        assert_eq!(d.message().attempt, 2, "a release counts an attempt");
        d.settle(Settlement::Ack).await.expect("ack");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_map_onto_beanstalkd_and_foreign_jobs_sort_with_ours() {
    let server = BeanstalkdServer::start();
    let b = broker(&server).await;
    let with = |id: &str, priority| NewMessage {
        priority,
        ..msg(id)
    };
    b.publish("prio", vec![with("ours-0", 0), with("ours-9", 9)])
        .await
        .expect("publish");
    // A foreign producer's default priority (greenstalk's 65536) is our 0, FIFO after ours-0;
    // its most urgent (0) reads as our 9 and, being more urgent in beanstalkd, runs first.
    let tube = "wasmboost.prio";
    let addr = server.addr();
    for (pri, body) in [(PRI_NORMAL, "foreign-normal"), (0, "foreign-urgent")] {
        let put = format!("put {pri} 0 60 {}", body.len());
        let reply = raw_use_put(&addr, tube, &put, body.as_bytes());
        assert!(reply.starts_with("INSERTED"), "{reply}");
    }
    let (_, yaml) = raw(&addr, &format!("stats-tube {tube}"), None);
    assert!(String::from_utf8_lossy(&yaml).contains("current-jobs-ready: 4"));
    let mut order = Vec::new();
    for _ in 0..4 {
        let d = fetch_one(&b, "prio", Duration::from_secs(5))
            .await
            .expect("job");
        let body = String::from_utf8_lossy(&d.message().body).into_owned();
        order.push((body, d.message().priority));
        d.settle(Settlement::Ack).await.expect("ack");
    }
    let got: Vec<(&str, u8)> = order.iter().map(|(b, p)| (b.as_str(), *p)).collect();
    assert_eq!(
        got,
        [
            ("foreign-urgent", 9),
            ("{\"id\":\"ours-9\"}", 9),
            ("{\"id\":\"ours-0\"}", 0),
            ("foreign-normal", 0),
        ]
    );
    assert!(
        to_pri(9) < to_pri(0),
        "lower beanstalkd priority runs first"
    );
}

/// `use` then `put` on one connection (`use` is per connection; `raw` opens one per command):
/// the reply to the put.
fn raw_use_put(addr: &str, tube: &str, put: &str, body: &[u8]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let mut out = format!("use {tube}\r\n{put}\r\n").into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    s.write_all(&out).expect("send");
    let mut r = BufReader::new(s);
    let (mut using, mut reply) = (String::new(), String::new());
    r.read_line(&mut using).expect("USING");
    r.read_line(&mut reply).expect("INSERTED");
    reply.trim_end().to_owned()
}

/// `kill -9` of beanstalkd (binlog on) while the broker publishes and fetches: every published
/// job that was not acked comes back after the restart, no acked one does, and the broker
/// reconnects by itself (with backoff) without being rebuilt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beanstalkd_kill_9_with_binlog_loses_nothing_confirmed() {
    let mut server = BeanstalkdServer::start();
    let b = broker(&server).await;
    let ids: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    b.publish("restart", ids.iter().map(|id| msg(id)).collect())
        .await
        .expect("publish");
    let mut acked = BTreeSet::new();
    while acked.len() < 100 {
        for d in b
            .fetch("restart", 25, LEASE, Duration::from_secs(5))
            .await
            .expect("fetch")
        {
            acked.insert(d.message().id.clone());
            d.settle(Settlement::Ack).await.expect("ack");
        }
    }
    // Held, not settled, when the server dies: beanstalkd's binlog has them as ready again.
    let held = b
        .fetch("restart", 20, LEASE, Duration::from_secs(5))
        .await
        .expect("fetch");
    assert_eq!(held.len(), 20);
    server.kill();
    let err = b.publish("restart", vec![msg("during")]).await;
    assert!(
        err.as_ref().is_err_and(|e| e.is_transient()),
        "a dead server is Unavailable: {err:?}"
    );
    server.start_again();
    for d in held {
        let settled = d.settle(Settlement::Ack).await;
        assert!(
            settled.is_err(),
            "a lease from before the restart cannot be settled"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = BTreeSet::new();
    while back.len() < 200 {
        assert!(
            Instant::now() < deadline,
            "only {} of 200 came back",
            back.len()
        );
        match b.fetch("restart", 50, LEASE, Duration::from_secs(1)).await {
            Ok(got) => {
                for d in got {
                    let id = d.message().id.clone();
                    assert!(
                        !acked.contains(&id),
                        "{id} was acked before the kill, yet came back"
                    );
                    assert!(back.insert(id.clone()), "{id} twice");
                    d.settle(Settlement::Ack).await.expect("ack after restart");
                }
            }
            // Reconnecting (backoff): the worker retries the same way.
            Err(e) => assert!(
                e.is_transient(),
                "only transient errors while reconnecting: {e}"
            ),
        }
    }
    let expected: BTreeSet<String> = ids.into_iter().filter(|id| !acked.contains(id)).collect();
    assert_eq!(
        back, expected,
        "exactly the unacked jobs survived the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greenstalk_producer_json_body_is_delivered() {
    let server = BeanstalkdServer::start();
    let Some(python) = greenstalk::python() else {
        eprintln!(
            "SKIPPED a_greenstalk_producer_json_body_is_delivered: {}",
            greenstalk::WHY_SKIPPED
        );
        return;
    };
    let b = broker(&server).await;
    let body = r#"{"x": 1, "y": 2}"#;
    greenstalk::put(&python, server.port(), "wasmboost.add", body);
    let d = fetch_one(&b, "add", Duration::from_secs(5))
        .await
        .expect("the foreign job");
    let m = d.message().clone();
    assert_eq!(m.body, body.as_bytes(), "the body arrives as put");
    assert_eq!((m.attempt, m.requeues, m.priority), (1, 0, 0));
    uuid::Uuid::parse_str(&m.id).expect("a derived task id is a UUID");
    // The same job keeps its id when delivered again.
    d.settle(Settlement::Retry {
        after: Duration::ZERO,
    })
    .await
    .expect("retry");
    let again = fetch_one(&b, "add", Duration::from_secs(5))
        .await
        .expect("again");
    assert_eq!(
        (again.message().id.as_str(), again.message().attempt),
        (m.id.as_str(), 2)
    );
    again.settle(Settlement::Ack).await.expect("ack");
}

/// A delivery dropped unsettled comes back one TTR after its lease ended, every time.
/// beanstalkd 1.12 alone does not guarantee that: it can drop its timer for a connection that
/// sends nothing, leaving the job reserved until the connection's next command (the broker's
/// keeper pokes the connection once the TTR has run out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_delivery_comes_back_after_its_ttr_every_time() {
    let server = BeanstalkdServer::start();
    let config = BeanstalkConfig {
        ttr_secs: 1,
        ..BeanstalkConfig::with_addr(server.addr())
    };
    let b = BeanstalkBroker::connect(config).await.expect("connect");
    let lease = Duration::from_millis(200);
    for round in 0..6 {
        b.publish("dropped", vec![msg(&format!("r{round}"))])
            .await
            .expect("publish");
        let first = b
            .fetch("dropped", 1, lease, Duration::from_secs(5))
            .await
            .expect("fetch");
        assert_eq!(first.len(), 1);
        let dropped_at = Instant::now();
        drop(first);
        let again = fetch_one(&b, "dropped", Duration::from_secs(10)).await;
        let took = dropped_at.elapsed();
        let again = again.unwrap_or_else(|| panic!("round {round}: not delivered again in 10 s"));
        assert!(
            took < Duration::from_millis(2_500),
            "round {round}: back after {took:?}, TTR 1 s"
        );
        assert_eq!(again.message().redeliveries, 1);
        again.settle(Settlement::Ack).await.expect("ack");
    }
}
