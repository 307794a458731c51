//! Behaviour beyond the conformance suite: foreign producers, dead hosts, server restarts,
//! delays across a host restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel};
use tokio::time::Instant;
use wasmboost_broker::conformance::MAX_EARLY;
use wasmboost_broker::{Broker, NewMessage, Settlement, ms_after};
use wasmboost_broker_amqp::connect as open;

use crate::rabbit_node::{RabbitNode, shared_node};
use crate::support::{DEADLINE, drain, drain_ids, publish_retrying, raw_channel, unique};

async fn broker(url: &str) -> Arc<dyn Broker> {
    match open(url).await {
        Ok(b) => b,
        Err(e) => panic!("open the amqp broker at {url}: {e}"),
    }
}

async fn fetch_one(broker: &Arc<dyn Broker>, queue: &str) -> wasmboost_broker::Delivery {
    let mut got = broker
        .fetch(queue, 1, Duration::from_secs(60), DEADLINE)
        .await
        .expect("fetch");
    assert_eq!(got.len(), 1, "one message expected on {queue}");
    got.remove(0)
}

/// Declare the work queue the way the README tells foreign producers to.
async fn declare_like_a_foreign_producer(channel: &Channel, queue: &str) {
    let mut args = FieldTable::default();
    args.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(10));
    let dlx = LongString::from("wasmboost.dlx");
    args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(dlx));
    let key = LongString::from(queue);
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(key),
    );
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), args)
        .await
        .expect("the README's queue declaration matches the broker's");
}

async fn raw_publish(channel: &Channel, queue: &str, body: &[u8], props: BasicProperties) {
    channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            props.with_delivery_mode(2),
        )
        .await
        .expect("raw publish")
        .await
        .expect("raw publish sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_amqp_publish_is_fetched() {
    let url = shared_node().amqp_url();
    let q = unique("raw");
    let (_conn, channel) = raw_channel(&url).await;
    declare_like_a_foreign_producer(&channel, &q).await;
    let props = BasicProperties::default().with_message_id("celery-1".into());
    raw_publish(&channel, &q, br#"{"x":1}"#, props.with_priority(3)).await;
    raw_publish(&channel, &q, br#"{"x":2}"#, BasicProperties::default()).await;
    let broker = broker(&url).await;
    let first = fetch_one(&broker, &q).await;
    let m = first.message().clone();
    assert_eq!(
        (
            m.id.as_str(),
            &m.body[..],
            m.priority,
            m.attempt,
            m.queue.as_str()
        ),
        ("celery-1", &br#"{"x":1}"#[..], 3, 1, q.as_str())
    );
    first.settle(Settlement::Ack).await.expect("ack");
    let second = fetch_one(&broker, &q).await;
    let m = second.message().clone();
    assert!(m.id.starts_with("amqp-"), "an id is made up: {}", m.id);
    assert_eq!(
        (&m.body[..], m.attempt, m.redeliveries),
        (&br#"{"x":2}"#[..], 1, 0)
    );
    second.settle(Settlement::Ack).await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_body_is_handed_out_and_dead_lettered_with_reason() {
    let url = shared_node().amqp_url();
    let q = unique("nonjson");
    let broker = broker(&url).await;
    broker.counts(&q).await.expect("counts declare the queue");
    let (_conn, channel) = raw_channel(&url).await;
    let body = b"\xff\xfe definitely not json";
    raw_publish(&channel, &q, body, BasicProperties::default()).await;
    let d = fetch_one(&broker, &q).await;
    assert_eq!(
        &d.message().body[..],
        &body[..],
        "the body is handed out as is"
    );
    let id = d.message().id.clone();
    let reason = "body is not json: expected value at line 1".to_owned();
    d.settle(Settlement::DeadLetter {
        reason: reason.clone(),
    })
    .await
    .expect("dead-letter");
    let dead = broker
        .dead_letters(&q, 10)
        .await
        .expect("list dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        (dead[0].message.id.as_str(), dead[0].reason.as_str()),
        (id.as_str(), reason.as_str())
    );
    assert_eq!(&dead[0].message.body[..], &body[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsettled_messages_of_a_dead_connection_are_redelivered() {
    let url = shared_node().amqp_url();
    let q = unique("deadhost");
    let host_a = broker(&url).await;
    let ids: Vec<_> = (0..5).map(|i| format!("m{i}")).collect();
    let batch = ids.iter().map(|id| NewMessage::new(id, "{}")).collect();
    host_a.publish(&q, batch).await.expect("publish");
    let mut held = Vec::new();
    while held.len() < 3 {
        let got = host_a
            .fetch(&q, 3 - held.len(), Duration::from_secs(600), DEADLINE)
            .await
            .expect("fetch");
        held.extend(got);
    }
    // The host dies with three in flight: its connection goes, nothing is settled.
    host_a.close().await.expect("close host a");
    let host_b = broker(&url).await;
    let seen = drain(&host_b, &q, 5).await;
    let got: HashSet<_> = seen.keys().cloned().collect();
    assert_eq!(got, ids.iter().cloned().collect::<HashSet<_>>());
    let held_ids: HashSet<_> = held.iter().map(|d| d.message().id.clone()).collect();
    for (id, (m, times)) in &seen {
        assert_eq!(*times, 1, "{id} delivered {times} times to host b");
        let want = u32::from(held_ids.contains(id));
        assert_eq!((m.redeliveries, m.attempt), (want, 1), "{id}");
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_message_is_on_time_after_the_host_restarts() {
    let url = shared_node().amqp_url();
    let q = unique("delay-restart");
    let delay = Duration::from_millis(3000);
    let published = Instant::now();
    let first_host = broker(&url).await;
    let due = NewMessage {
        not_before_ms: Some(ms_after(delay)),
        ..NewMessage::new("later", "{}")
    };
    first_host.publish(&q, vec![due]).await.expect("publish");
    first_host.close().await.expect("close the first host");
    // The host is down for a while; then a new one starts.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let second_host = broker(&url).await;
    let d = fetch_one(&second_host, &q).await;
    let waited = published.elapsed();
    assert_eq!(d.message().id, "later");
    assert!(
        waited + MAX_EARLY >= delay && waited <= delay + Duration::from_secs(1),
        "due after {delay:?}, delivered after {waited:?}"
    );
    d.settle(Settlement::Ack).await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reconnects_and_keeps_every_confirmed_message() {
    let node = tokio::task::spawn_blocking(RabbitNode::start)
        .await
        .expect("start task")
        .expect("a private node for the restart");
    let q = unique("restart");
    let broker = broker(&node.amqp_url()).await;
    let before: Vec<_> = (0..300)
        .map(|i| NewMessage::new(format!("a{i}"), "{}"))
        .collect();
    broker
        .publish(&q, before)
        .await
        .expect("publish before restart");
    let due = NewMessage {
        not_before_ms: Some(ms_after(Duration::from_secs(2))),
        ..NewMessage::new("delayed", "{}")
    };
    broker
        .publish(&q, vec![due])
        .await
        .expect("publish delayed");
    let early = drain(&broker, &q, 50).await;
    let node = tokio::task::spawn_blocking(move || node.restart().map(|()| node))
        .await
        .expect("restart task")
        .expect("restart the node");
    let after: Vec<_> = (0..100)
        .map(|i| NewMessage::new(format!("b{i}"), "{}"))
        .collect();
    publish_retrying(&broker, &q, after)
        .await
        .expect("publish after restart (reconnects)");
    let confirmed: HashSet<String> = (0..300)
        .map(|i| format!("a{i}"))
        .chain((0..100).map(|i| format!("b{i}")))
        .chain(["delayed".to_owned()])
        .collect();
    let missing: HashSet<_> = confirmed
        .iter()
        .filter(|id| !early.contains_key(*id))
        .cloned()
        .collect();
    // Fails (naming how many came) unless every confirmed message is fetched.
    let rest = drain_ids(&broker, &q, &missing).await;
    assert!(missing.iter().all(|id| rest.contains_key(id)));
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_held_deliveries_do_not_cap_later_fetches() {
    // A host running thousands of tasks fetches a batch at a time while holding the rest: the
    // prefetch must follow what it holds, not the size of one fetch.
    let b = broker(&shared_node().amqp_url()).await;
    let q = unique("held");
    let total = 300;
    let batch = (0..total)
        .map(|i| NewMessage::new(format!("m{i}"), "{}"))
        .collect();
    b.publish(&q, batch).await.expect("publish");
    let deadline = Instant::now() + DEADLINE;
    let mut held = Vec::new();
    while held.len() < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} fetched while holding them",
            held.len()
        );
        let got = b
            .fetch(&q, 10, Duration::from_secs(600), Duration::from_secs(2))
            .await
            .expect("fetch");
        held.extend(got);
    }
    for d in held {
        d.settle(Settlement::Ack).await.expect("ack");
    }
    let counts = b.counts(&q).await.expect("counts");
    assert_eq!((counts.ready, counts.leased), (0, 0), "{counts:?}");
}

/// With several node URLs (`failover_urls`), a node that refuses connections is skipped: the
/// broker connects to the next one and works there.
#[tokio::test]
async fn a_refused_node_is_skipped_for_the_next_url() {
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
    };
    let urls = vec![refused, shared_node().amqp_url()];
    let broker: Arc<dyn Broker> =
        match wasmboost_broker_amqp::connect_nodes(urls, Default::default()).await {
            Ok(b) => b,
            Err(e) => panic!("the second url is used when the first refuses: {e}"),
        };
    let queue = unique("failover_urls");
    broker
        .publish(&queue, vec![NewMessage::new("m1", "{}")])
        .await
        .expect("publish through the second node");
    let delivery = fetch_one(&broker, &queue).await;
    assert_eq!(delivery.message().id, "m1");
    delivery.settle(Settlement::Ack).await.expect("ack");
}
