//! The PostgreSQL broker's own guarantees, beyond the shared conformance suite: versioned
//! migrations (applied once, a newer schema refused), the plain-SQL producer
//! `wasmboost.publish`, `NOTIFY` waking an idle fetch before its recheck timer, and a server
//! crash and restart under a running broker (nothing confirmed lost, the broker reconnects).

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::time::Duration;

use server::PostgresServer;
use tokio::time::Instant;
use tokio_postgres::NoTls;
use wasmboost_broker::{Broker, NewMessage, Settlement};
use wasmboost_broker_postgres::{ConnectError, PostgresBroker, PostgresConfig, schema};

const LEASE: Duration = Duration::from_secs(30);

async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect with tokio-postgres");
    tokio::spawn(conn);
    client
}

async fn broker(url: &str) -> PostgresBroker {
    PostgresBroker::connect(PostgresConfig::with_url(url))
        .await
        .expect("connect the broker")
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let server = PostgresServer::start();
    let admin = sql(&server.url()).await;
    admin
        .batch_execute("CREATE DATABASE mig")
        .await
        .expect("create a database");
    let url = server.url_for("mig");
    drop(broker(&url).await);
    // A second start (another host) applies nothing again.
    drop(broker(&url).await);
    let db = sql(&url).await;
    let versions: Vec<i32> = db
        .query(
            "SELECT version FROM wasmboost.schema_version ORDER BY version",
            &[],
        )
        .await
        .expect("read versions")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<i32> = (1..=schema::latest()).collect();
    assert_eq!(versions, want, "every migration recorded exactly once");
    let newer = schema::latest() + 1;
    db.execute(
        "INSERT INTO wasmboost.schema_version (version) VALUES ($1)",
        &[&newer],
    )
    .await
    .expect("pretend a newer binary migrated");
    match PostgresBroker::connect(PostgresConfig::with_url(&url)).await {
        Err(ConnectError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (newer, schema::latest()));
        }
        other => panic!("a newer schema must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_producer_publishes_and_validates() {
    let server = PostgresServer::start();
    let broker = broker(&server.url()).await;
    let db = sql(&server.url()).await;
    let id: String = db
        .query_one(r#"SELECT wasmboost.publish('add', '{"x":1,"y":2}')"#, &[])
        .await
        .expect("publish through SQL")
        .get(0);
    let mut got = broker
        .fetch("add", 10, LEASE, Duration::from_secs(5))
        .await
        .expect("fetch");
    assert_eq!(got.len(), 1, "the SQL-published job is fetched");
    let d = got.remove(0);
    let m = d.message();
    assert_eq!(
        (m.id.as_str(), &m.body[..], m.attempt, m.priority),
        (id.as_str(), &br#"{"x":1,"y":2}"#[..], 1, 0)
    );
    d.settle(Settlement::Ack).await.expect("ack");
    // Priority and delay arguments.
    db.query_one(
        r#"SELECT wasmboost.publish('add', '{"n":1}', 0, 0), wasmboost.publish('add', '{"n":9}', 9, 0)"#,
        &[],
    )
    .await
    .expect("publish with priorities");
    let got = broker
        .fetch("add", 10, LEASE, Duration::from_secs(5))
        .await
        .expect("fetch");
    let bodies: Vec<_> = got.iter().map(|d| d.message().body.clone()).collect();
    assert_eq!(
        bodies,
        [&br#"{"n":9}"#[..], &br#"{"n":1}"#[..]],
        "priority 9 first"
    );
    for d in got {
        d.settle(Settlement::Ack).await.expect("ack");
    }
    for (call, names) in [
        (
            r#"SELECT wasmboost.publish('no/slash', '{}')"#,
            "invalid queue name",
        ),
        (
            r#"SELECT wasmboost.publish('wasmboost.x', '{}')"#,
            "invalid queue name",
        ),
        (
            r#"SELECT wasmboost.publish('add', '[1,2]')"#,
            "must be a JSON object",
        ),
        (r#"SELECT wasmboost.publish('add', 'not json')"#, "json"),
        (
            r#"SELECT wasmboost.publish('add', '{}', 10)"#,
            "invalid priority 10",
        ),
        (
            r#"SELECT wasmboost.publish('add', '{}', 0, -1)"#,
            "invalid delay_ms -1",
        ),
    ] {
        let e = db.query_one(call, &[]).await.expect_err(call);
        let text = e
            .as_db_error()
            .map(|d| d.message().to_owned())
            .unwrap_or_default();
        assert!(
            text.contains(names),
            "{call}: {text:?} should say {names:?}"
        );
    }
    let counts = broker.counts("add").await.expect("counts");
    assert_eq!(
        counts.ready + counts.delayed,
        0,
        "refused calls stored nothing"
    );
}

/// An idle fetch wakes on the publish's NOTIFY, not on its recheck timer (set to a minute here).
#[tokio::test(flavor = "multi_thread")]
async fn notify_wakes_an_idle_fetch() {
    let server = PostgresServer::start();
    let config = PostgresConfig {
        idle_recheck_ms: 60_000,
        ..PostgresConfig::with_url(server.url())
    };
    let waiting = std::sync::Arc::new(PostgresBroker::connect(config).await.expect("connect"));
    let producer = broker(&server.url()).await;
    let fetcher = {
        let waiting = std::sync::Arc::clone(&waiting);
        tokio::spawn(async move {
            waiting
                .fetch("wake", 1, LEASE, Duration::from_secs(30))
                .await
        })
    };
    // Let the fetch go idle (it returns promptly either way).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let published = Instant::now();
    producer
        .publish("wake", vec![NewMessage::new("w", &b"{}"[..])])
        .await
        .expect("publish");
    let got = fetcher.await.expect("fetch task").expect("fetch");
    let took = published.elapsed();
    assert_eq!(got.len(), 1);
    assert!(
        took < Duration::from_secs(2),
        "woke {took:?} after the publish"
    );
    for d in got {
        d.settle(Settlement::Ack).await.expect("ack");
    }
}

/// Crash the server with jobs stored and one leased: after the restart the broker reconnects
/// by itself and every confirmed job is still there.
#[tokio::test(flavor = "multi_thread")]
async fn survives_a_server_crash_and_reconnects() {
    let mut server = PostgresServer::start();
    let broker = broker(&server.url()).await;
    let messages = (0..50)
        .map(|i| NewMessage::new(format!("m{i}"), format!("{{\"i\":{i}}}")))
        .collect();
    broker.publish("crash", messages).await.expect("publish");
    let short = Duration::from_secs(1);
    let leased = broker.fetch("crash", 1, short, short).await.expect("fetch");
    assert_eq!(leased.len(), 1);
    server.crash();
    assert!(
        broker
            .counts("crash")
            .await
            .is_err_and(|e| e.is_transient()),
        "a down server is a transient error"
    );
    server.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 50 {
        assert!(
            Instant::now() < deadline,
            "only {} of 50 came back",
            seen.len()
        );
        match broker.fetch("crash", 100, LEASE, short).await {
            Ok(batch) => {
                for d in batch {
                    seen.insert(d.message().id.clone());
                    d.settle(Settlement::Ack).await.expect("ack");
                }
            }
            Err(e) => {
                assert!(
                    e.is_transient(),
                    "only transient errors while reconnecting: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // The job leased before the crash came back after its lease (a redelivery).
    drop(leased);
}
