//! A server that stops answering with its sockets still open (a hung server, a network that
//! drops packets): every call on the pool is bounded by `op_timeout_ms` and fails as
//! `Unavailable`, then recovers once the server answers again; and no caller ever waits on
//! another caller's reconnect, even when that caller's future is kept but not polled (the
//! worker's select loop does that to a task's cancel watch while it renews the lease).
//! A proxy between the store and a real PostgreSQL plays the silent network.

#[path = "support/server.rs"]
#[allow(
    dead_code,
    reason = "shared by several test binaries, each using part of it"
)]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use server::PostgresServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout};
use wasmboost_broker::{StateError, StateStore};
use wasmboost_broker_postgres::{PostgresConfig, PostgresStore};

const ID: &str = "01a22a00-0000-7000-8000-000000000001";

/// A TCP proxy to the server that can go silent: forwarding stops on open connections and new
/// ones are accepted but never answered; `cut` also closes every open connection.
struct Proxy {
    port: u16,
    silent: Arc<AtomicBool>,
    links: Arc<std::sync::Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let silent = Arc::new(AtomicBool::new(false));
        let links = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let (s, l) = (Arc::clone(&silent), Arc::clone(&links));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let silent = Arc::clone(&s);
                let link = link(client, upstream, silent);
                l.lock().expect("links").spawn(link);
            }
        });
        Proxy {
            port,
            silent,
            links,
        }
    }

    fn url(&self) -> String {
        format!(
            "postgresql://{}@127.0.0.1:{}/postgres",
            server::USER,
            self.port
        )
    }

    fn silence(&self, on: bool) {
        self.silent.store(on, Ordering::SeqCst);
    }

    /// Close every open connection (the client sees them end) and stay silent.
    fn cut(&self) {
        self.silence(true);
        self.links.lock().expect("links").abort_all();
    }
}

/// Forward both ways until either side closes; while silent, hold both sockets and forward
/// nothing.
async fn link(client: TcpStream, upstream: u16, silent: Arc<AtomicBool>) {
    if silent.load(Ordering::SeqCst) {
        let _held = client;
        return std::future::pending().await;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::select! {
        () = pump(cr, sw, Arc::clone(&silent)) => {}
        () = pump(sr, cw, silent) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.load(Ordering::SeqCst) {
            // Swallow it and everything after, keeping the sockets open.
            let _held = (from, to);
            return std::future::pending().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn store(proxy: &Proxy, op_timeout_ms: u64) -> PostgresStore {
    let config = PostgresConfig {
        pool_size: 1,
        op_timeout_ms,
        ..PostgresConfig::with_url(proxy.url())
    };
    let store = PostgresStore::connect(&config)
        .await
        .expect("connect through the proxy");
    assert!(store.get_record(ID).await.expect("a read").is_none());
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_without_an_answer_fails_in_time_and_the_pool_recovers() {
    let server = PostgresServer::start();
    let proxy = Proxy::start(server.port()).await;
    let store = store(&proxy, 1_000).await;
    proxy.silence(true);
    let started = Instant::now();
    let read = timeout(Duration::from_secs(30), store.get_record(ID))
        .await
        .expect("a read on a silent connection must not wait forever");
    match read {
        Err(StateError::Unavailable(why)) => assert!(why.contains("no answer"), "{why}"),
        other => panic!("a read nobody answered must be unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by op_timeout_ms 1000, took {:?}",
        started.elapsed()
    );
    // A reconnect nobody answers is bounded too.
    let reconnect = timeout(Duration::from_secs(30), store.get_record(ID)).await;
    assert!(
        matches!(reconnect, Ok(Err(StateError::Unavailable(_)))),
        "{reconnect:?}"
    );
    proxy.silence(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.get_record(ID).await.is_err() {
        assert!(Instant::now() < deadline, "the pool did not recover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_caller_waits_on_a_reconnect_it_did_not_start() {
    let server = PostgresServer::start();
    let proxy = Proxy::start(server.port()).await;
    // Long enough that a caller stuck behind the reconnect would show.
    let store = store(&proxy, 60_000).await;
    proxy.cut();
    // Until the store saw its connection end (an error) or is reconnecting (no answer).
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(Ok(_)) = timeout(Duration::from_secs(1), store.get_record(ID)).await {
        assert!(
            Instant::now() < deadline,
            "the cut connection still answers"
        );
    }
    // A caller polled once, then kept without being polled (as a select loop keeps a branch
    // while it awaits another): it may be the one reconnecting now.
    let mut kept = Box::pin(store.get_record(ID));
    let first = futures::poll!(kept.as_mut());
    assert!(
        !matches!(first, Poll::Ready(Ok(_))),
        "the silent server answered"
    );
    // Any other caller answers at once: unavailable, not stuck behind the kept one.
    let other = timeout(Duration::from_secs(5), store.get_record(ID)).await;
    assert!(
        matches!(other, Ok(Err(StateError::Unavailable(_)))),
        "another caller waited on a reconnect it did not start: {other:?}"
    );
    drop(kept);
}
