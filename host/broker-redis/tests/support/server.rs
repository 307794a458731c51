//! A real `redis-server` for tests: a free loopback port, a fresh data directory, stopped by
//! PID on drop. Shared by this crate's tests and the workspace harness (`tests/harness/redis.rs`
//! includes this file with `#[path]`), so it depends only on std and tempfile.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer PING (generous: the machine may be loaded).
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// How the server persists data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk (`--appendonly no --save ''`): a restart loses everything.
    None,
    /// Append-only file, fsync every second (`--appendonly yes --appendfsync everysec`).
    AofEverySec,
    /// Append-only file, fsync on every write (`--appendfsync always`).
    AofAlways,
}

/// A running `redis-server`, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    persistence: Persistence,
    /// Another local address to listen on besides loopback (`start_also_on`).
    also_bind: Option<String>,
    /// More arguments (`start_extra`: cluster mode, `--replicaof`).
    extra: Vec<String>,
    /// A sentinel's config file text (`start_sentinel`): run as `redis-server <file> --sentinel`.
    sentinel_conf: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Start a server without persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Persistence::None)
    }

    /// Start a server with the given persistence on a free port and a fresh directory.
    pub fn start_with(persistence: Persistence) -> RedisServer {
        RedisServer::start_bound(persistence, None)
    }

    /// Start a server without persistence that also listens on `addr`, a local address other
    /// than loopback (e.g. a test bridge's, for hosts in network namespaces); `url()` stays on
    /// loopback for the test itself.
    pub fn start_also_on(addr: &str) -> RedisServer {
        RedisServer::start_bound(Persistence::None, Some(addr.to_owned()))
    }

    /// Start a server without persistence, with more arguments (e.g. cluster mode).
    pub fn start_extra(extra: &[String]) -> RedisServer {
        RedisServer::start_full(Persistence::None, None, extra.to_vec(), None)
    }

    /// Start a sentinel (`redis-server <file> --sentinel`) whose config file holds `conf`.
    pub fn start_sentinel(conf: &str) -> RedisServer {
        RedisServer::start_full(Persistence::None, None, Vec::new(), Some(conf.to_owned()))
    }

    fn start_bound(persistence: Persistence, also_bind: Option<String>) -> RedisServer {
        RedisServer::start_full(persistence, also_bind, Vec::new(), None)
    }

    fn start_full(
        persistence: Persistence,
        also_bind: Option<String>,
        extra: Vec<String>,
        sentinel_conf: Option<String>,
    ) -> RedisServer {
        let dir = tempfile::tempdir().expect("a temp dir for redis-server data");
        let mut server = RedisServer {
            port: 0,
            dir,
            persistence,
            also_bind,
            extra,
            sentinel_conf,
            child: None,
        };
        // A free port can be taken by someone else between probing and binding: retry.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("redis-server did not start; log:\n{}", server.log());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop the server (SIGTERM: it writes its AOF) and start it again on the same port and
    /// directory, so persisted data comes back.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_DEADLINE;
        // The port is released once the old process is gone; retry binding until it is.
        while self.spawn().is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill the server at once (SIGKILL): what was not fsynced is lost.
    pub fn kill(&mut self) {
        self.signal(Signal::Kill);
    }

    /// Start it again after `kill` or `stop` (same port and directory).
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        while self.spawn().is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`RedisServer::start_again`] with more arguments from now on.
    pub fn start_again_with(&mut self, extra: &[String]) {
        self.extra.extend_from_slice(extra);
        self.start_again();
    }

    /// Stop the server gracefully (SIGTERM) and wait for it to exit.
    pub fn stop(&mut self) {
        self.signal(Signal::Term);
    }

    /// Run one command through `redis-cli` and return its output (for tests that act as a
    /// foreign producer).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) -> Result<(), ()> {
        let (aof, fsync) = match self.persistence {
            Persistence::None => ("no", "everysec"),
            Persistence::AofEverySec => ("yes", "everysec"),
            Persistence::AofAlways => ("yes", "always"),
        };
        let log = self.log_path();
        let mut bind = vec!["127.0.0.1"];
        bind.extend(self.also_bind.as_deref());
        let mut command = Command::new("redis-server");
        if let Some(conf) = &self.sentinel_conf {
            // A sentinel rewrites its file (it records what it learns): write it once.
            let file = self.dir.path().join("sentinel.conf");
            if !file.exists() {
                std::fs::write(&file, conf).expect("write the sentinel config");
            }
            command.arg(&file).arg("--sentinel");
        }
        let mut child = command
            .args(["--port", &self.port.to_string(), "--bind"])
            .args(&bind)
            .arg("--dir")
            .arg(self.dir.path())
            .args(if self.sentinel_conf.is_some() {
                Vec::new()
            } else {
                vec!["--save", "", "--appendonly", aof, "--appendfsync", fsync]
            })
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .args(&self.extra)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if ping(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            // Exited (port taken, bad args): report so the caller can retry.
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&mut self, signal: Signal) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        match signal {
            Signal::Kill => {
                let _ = child.kill();
            }
            // std has no SIGTERM and the workspace denies `unsafe` (libc::kill): use kill(1).
            Signal::Term => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let deadline = Instant::now() + READY_DEADLINE;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.signal(Signal::Kill);
    }
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// True when a server on `port` answers PING with PONG (and is not still loading its data).
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    let ok = BufReader::new(&mut s).read_line(&mut line).is_ok();
    ok && line.starts_with("+PONG")
}
