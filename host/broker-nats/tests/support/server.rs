//! A real `nats-server -js` for tests: a free loopback port, a fresh JetStream store directory,
//! started by PID and stopped on drop; readiness is polled (the monitoring port's `/healthz`
//! answers ok once JetStream is up), never slept for. Shared by this crate's tests and the
//! workspace harness (`tests/harness/nats.rs` includes this file with `#[path]`), so it
//! depends only on std and tempfile.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer (generous: the machine may be loaded).
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running `nats-server` with JetStream, stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct NatsServer {
    port: u16,
    monitor: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Start a server on free ports with a fresh store directory.
    pub fn start() -> NatsServer {
        let dir = tempfile::tempdir().expect("a temp dir for the jetstream store");
        let mut server = NatsServer {
            port: 0,
            monitor: 0,
            dir,
            child: None,
        };
        // A free port can be taken by someone else between probing and binding: retry.
        for _ in 0..5 {
            server.port = free_port();
            server.monitor = free_port();
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("nats-server did not start; log:\n{}", server.log());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kill the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again after `kill` (same ports and store directory).
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        while self.spawn().is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not restart:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill it and start it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), ()> {
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor.to_string(), "-js", "-sd"])
            .arg(self.dir.path().join("js"))
            .arg("-l")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (apt-get install nats-server)");
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if healthy(self.monitor) {
                self.child = Some(child);
                return Ok(());
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// True when the monitoring endpoint says the server (with JetStream) is ready.
fn healthy(monitor: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, monitor)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.contains("ok")
}
