//! A real `beanstalkd` for tests: a free loopback port, a fresh binlog directory (`-b`), started
//! by PID and killed on drop; readiness is polled (a `stats` round trip), never slept for.
//! Depends only on std and tempfile, so the workspace harness can include it with `#[path]`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer (generous: the machine may be loaded).
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running `beanstalkd`, killed when dropped.
#[derive(Debug)]
pub struct BeanstalkdServer {
    port: u16,
    binlog: tempfile::TempDir,
    child: Option<Child>,
}

impl BeanstalkdServer {
    /// Start a server with a binlog in a fresh directory, on a free port.
    pub fn start() -> BeanstalkdServer {
        let binlog = tempfile::tempdir().expect("a temp dir for the beanstalkd binlog");
        let mut server = BeanstalkdServer {
            port: 0,
            binlog,
            child: None,
        };
        // A free port can be taken by someone else between probing and binding: retry.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn().is_ok() {
                return server;
            }
        }
        panic!(
            "beanstalkd did not start on 127.0.0.1 (is it installed? apt-get install beanstalkd)"
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn binlog_dir(&self) -> &Path {
        self.binlog.path()
    }

    /// SIGKILL: the server gets no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port and binlog directory (after `kill`).
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        // The port is free once the old process is gone; retry binding until it is.
        while self.spawn().is_err() {
            assert!(Instant::now() < deadline, "beanstalkd did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn(&mut self) -> Result<(), ()> {
        let mut child = Command::new("beanstalkd")
            .args(["-l", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-b")
            .arg(self.binlog.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("beanstalkd runs (apt-get install beanstalkd)");
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if answers(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            // Exited (port taken, binlog locked): report so the caller can retry.
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for BeanstalkdServer {
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

/// True when a server on `port` answers `stats` with `OK`.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"stats\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    let ok = BufReader::new(&mut s).read_line(&mut line).is_ok();
    ok && line.starts_with("OK ")
}

/// A blocking client for checks and foreign puts: one command (with `data` for `put`), the reply
/// line and its data block if it has one.
pub fn raw(addr: &str, cmd: &str, data: Option<&[u8]>) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect to the test beanstalkd");
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut out = format!("{cmd}\r\n").into_bytes();
    if let Some(data) = data {
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    s.write_all(&out).expect("send to beanstalkd");
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).expect("a reply line");
    let line = line.trim_end().to_owned();
    let words: Vec<&str> = line.split(' ').collect();
    let len = match words.as_slice() {
        ["OK", n] | ["FOUND", _, n] | ["RESERVED", _, n] => n.parse::<usize>().ok(),
        _ => None,
    };
    let mut body = Vec::new();
    if let Some(n) = len {
        body.resize(n + 2, 0);
        std::io::Read::read_exact(&mut reader, &mut body).expect("the data block");
        body.truncate(n);
    }
    (line, body)
}

/// A numeric field of `stats-tube <tube>` (0 if the tube does not exist).
pub fn tube_stat(addr: &str, tube: &str, key: &str) -> u64 {
    let (_, yaml) = raw(addr, &format!("stats-tube {tube}"), None);
    String::from_utf8_lossy(&yaml)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}
