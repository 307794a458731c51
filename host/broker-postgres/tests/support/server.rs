//! A real PostgreSQL 15 for tests: `initdb` into a fresh temp dir, `postgres` on a free
//! loopback port with its unix socket in that dir, started by PID and stopped on drop;
//! readiness is polled (`pg_isready`), never slept for. PostgreSQL refuses to run as root, so
//! when the tests run as root both run as `nobody` (the data dir is handed to that user).
//! Depends only on std and tempfile, so the workspace harness can include it with `#[path]`.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Debian package's binaries (`apt-get install postgresql`).
pub const BIN_DIR: &str = "/usr/lib/postgresql/15/bin";
/// The superuser `initdb` creates; trust authentication on loopback.
pub const USER: &str = "postgres";
/// How long a starting server may take to answer (generous: the machine may be loaded).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// `nobody`'s uid and gid on Debian: who runs the server when the tests run as root.
const NOBODY: (u32, u32) = (65_534, 65_534);

/// A running PostgreSQL, stopped (immediate shutdown) when dropped.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PostgresServer {
    /// `initdb` a fresh cluster and start it on a free port.
    pub fn start() -> PostgresServer {
        let dir = tempfile::tempdir().expect("a temp dir for the postgres cluster");
        let root = as_root();
        if root {
            // `nobody` must reach the dir and own the cluster.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("open the temp dir to the server user");
        }
        let home = dir.path().join("pg");
        std::fs::create_dir(&home).expect("create the cluster dir");
        if root {
            std::os::unix::fs::chown(&home, Some(NOBODY.0), Some(NOBODY.1))
                .expect("hand the cluster dir to nobody");
        }
        let status = command("initdb")
            .arg("-D")
            .arg(home.join("data"))
            .args([
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs (apt-get install postgresql)");
        assert!(status.success(), "initdb failed: {status}");
        let mut server = PostgresServer {
            port: 0,
            dir,
            child: None,
        };
        // A free port can be taken by someone else between probing and binding: retry.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!("postgres did not start on 127.0.0.1");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for database `db` (the `postgres` superuser, no password).
    pub fn url_for(&self, db: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A connection URL for the default database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("pg").join("data")
    }

    /// Stop with SIGQUIT (immediate shutdown: no checkpoint, crash recovery at the next
    /// start), as a crash would leave it, and wait for the postmaster to exit.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Start again on the same port and data dir (after `crash`).
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        while self.spawn().is_err() {
            assert!(Instant::now() < deadline, "postgres did not restart");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(&mut self) -> Result<(), ()> {
        let socket_dir = self.dir.path().join("pg");
        let mut child = command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&socket_dir)
            // fsync off: tests crash the server process, never the machine.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=300", "-c", "log_min_messages=fatal"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres runs (apt-get install postgresql)");
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if ready(self.port) {
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

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.crash();
    }
}

/// True when this process runs as root (PostgreSQL would refuse to).
fn as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A PostgreSQL binary, run as `nobody` when we are root.
fn command(name: &str) -> Command {
    let mut cmd = Command::new(Path::new(BIN_DIR).join(name));
    if as_root() {
        cmd.uid(NOBODY.0).gid(NOBODY.1);
    }
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// True when the server on `port` accepts connections.
fn ready(port: u16) -> bool {
    Command::new(Path::new(BIN_DIR).join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER])
        .status()
        .is_ok_and(|s| s.success())
}
