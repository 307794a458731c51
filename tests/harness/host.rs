//! Harness: the real `wasmboost` binary.
//!
//! - [`wasmboost_bin`]: the binary, built once per test process (`cargo build --workspace
//!   --all-targets`, honouring `CARGO_TARGET_DIR`; `WASMBOOST_BIN` overrides).
//! - [`HostProcess`]: `wasmboost serve` on a free loopback port with a temporary data dir (or
//!   one you give), ready when `/healthz` answers; `kill9`, `restart`, graceful `stop` (or
//!   `sigterm` then `wait_exit`, to watch the drain), killed on drop.
//! - [`cli`] / [`HostProcess::cli`]: run a client subcommand and capture its output (with the
//!   host's API token, once [`HostProcess::set_token`] gave it one).
//! - [`http`] / [`http_with`] / [`try_http`]: one raw HTTP/1.1 request, for tests of the API itself; the
//!   `Content-Type` is the one the route takes unless the test says otherwise.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What `serve` prints on stderr once it listens; the address follows it.
pub const LISTEN_MARKER: &str = "wasmboost listening on ";

/// How long a host may take from spawn to answering `/healthz` on a busy 2-core machine.
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long a graceful stop may take (the host's own grace period plus slack).
const STOP_DEADLINE: Duration = Duration::from_secs(90);
/// Stderr lines kept for failure messages.
const LOG_LINES: usize = 400;

/// Path of the `wasmboost` binary, built on first use.
pub fn wasmboost_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("WASMBOOST_BIN") {
            return PathBuf::from(bin);
        }
        let root = workspace_root();
        let status = crate::guests::cargo()
            // The workspace's feature set (as `cargo test --workspace` builds it): a `-p` build
            // would resolve features per package and compile wasmtime a second time.
            .args(["build", "--quiet", "--workspace", "--all-targets"])
            .current_dir(&root)
            .status()
            .expect("cargo runs (it is running these tests)");
        assert!(
            status.success(),
            "cargo build --workspace --all-targets failed: {status}"
        );
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let bin = target.join("debug").join("wasmboost");
        assert!(
            bin.is_file(),
            "no binary at {} after the build",
            bin.display()
        );
        bin
    })
    .clone()
}

/// The workspace root (the parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in a workspace folder")
        .to_path_buf()
}

/// Run `wasmboost <args>` to completion (no server address set: pass `--addr` or use
/// [`HostProcess::cli`]).
pub fn cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(wasmboost_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the wasmboost binary runs")
}

/// How to start a host.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Contents of a `wasmboost.toml` passed with `--config`.
    pub config: Option<String>,
    /// Use this data dir instead of a fresh temporary one (kept across restarts either way).
    pub data_dir: Option<PathBuf>,
    /// Extra arguments after `serve` (e.g. `["--broker", "memory"]`).
    pub args: Vec<String>,
    /// Extra environment variables (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// A command the binary runs under (e.g. `ip netns exec <ns>`, which execs it: the PID
    /// stays the host's, so signals reach it).
    pub wrap: Vec<String>,
    /// Address for `--listen` (default `127.0.0.1:0`; the port is kept across restarts).
    pub listen: Option<String>,
}

impl HostOptions {
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = Some(toml.into());
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Run the binary under `command` (see [`HostOptions::wrap`]).
    pub fn wrap(mut self, command: &[String]) -> Self {
        self.wrap = command.to_vec();
        self
    }

    /// Listen on `addr` (`ip:port`, port 0 for a free one).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = Some(addr.into());
        self
    }

    /// Spawn the host and wait until it answers.
    pub fn start(self) -> HostProcess {
        HostProcess::start_with(self)
    }
}

/// A running `wasmboost serve`.
#[derive(Debug)]
pub struct HostProcess {
    options: HostOptions,
    /// Owns the temporary data dir (and config file) so it outlives restarts.
    _temp: tempfile::TempDir,
    data_dir: PathBuf,
    config_path: Option<PathBuf>,
    child: Option<Child>,
    addr: String,
    /// API token sent by `cli` and `http` (`WASMBOOST_TOKEN`, `Authorization: Bearer`).
    token: Option<String>,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl HostProcess {
    /// A host with default config on a fresh data dir.
    pub fn start() -> HostProcess {
        HostOptions::default().start()
    }

    pub fn start_with(options: HostOptions) -> HostProcess {
        let temp = tempfile::tempdir().expect("a temporary directory can be created");
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let config_path = options.config.as_ref().map(|text| {
            let path = temp.path().join("wasmboost.toml");
            std::fs::write(&path, text).expect("the temporary directory is writable");
            path
        });
        let mut host = HostProcess {
            options,
            _temp: temp,
            data_dir,
            config_path,
            child: None,
            addr: String::new(),
            token: None,
            log: Arc::new(Mutex::new(VecDeque::new())),
        };
        let listen = host
            .options
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        host.spawn(&listen);
        host
    }

    /// `http://127.0.0.1:PORT` of the control API.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// PID of the running process (panics when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the host is running").id()
    }

    /// The last lines the host wrote on stderr (for assertion messages).
    pub fn log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Send this API token from now on (`cli` and `http`); `None` to stop.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// Run `wasmboost <args>` against this host (with its token, if it has one).
    pub fn cli<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(wasmboost_bin());
        command
            .args(args)
            .env("WASMBOOST_ADDR", &self.addr)
            .env_remove("WASMBOOST_SERVER")
            .env_remove("WASMBOOST_TOKEN")
            .env_remove("WASMBOOST_PROFILE");
        if let Some(token) = &self.token {
            command.env("WASMBOOST_TOKEN", token);
        }
        command
            .stdin(Stdio::null())
            .output()
            .expect("the wasmboost binary runs")
    }

    /// One request to this host's API (with its token, if it has one); returns the status and
    /// body.
    pub fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        http_with(&self.addr, method, path, &headers, body)
    }

    /// Set (`Some`) or remove (`None`) an environment variable for the next
    /// [`restart`](Self::restart) (e.g. drop a crash point once it has fired).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.options.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.options.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// SIGKILL: no shutdown, no flush. The data dir stays for [`restart`](Self::restart).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("the host process can be killed");
            child.wait().expect("the killed host can be reaped");
        }
    }

    /// SIGTERM and wait for the exit (graceful shutdown); returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit()
    }

    /// Send SIGTERM without waiting: the host drains while the test watches (then
    /// [`wait_exit`](Self::wait_exit)).
    pub fn sigterm(&self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Wait for the host to exit after a signal; returns the exit status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the host is running");
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("the host can be waited on") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "host did not stop within {STOP_DEADLINE:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same data dir (after `kill9` or `stop`), on the same port when it is
    /// still free.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let listen = self
            .addr
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_owned();
        if !self.try_spawn(&listen) {
            let any_port = match listen.rsplit_once(':') {
                Some((ip, _)) => format!("{ip}:0"),
                None => "127.0.0.1:0".to_owned(),
            };
            self.spawn(&any_port);
        }
    }

    fn spawn(&mut self, listen: &str) {
        assert!(
            self.try_spawn(listen),
            "wasmboost serve did not start; log:\n{}",
            self.log()
        );
    }

    /// Spawn `serve`, wait for its address and `/healthz`. False if it exited before listening.
    fn try_spawn(&mut self, listen: &str) -> bool {
        let mut command = match self.options.wrap.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(wasmboost_bin());
                command
            }
            None => Command::new(wasmboost_bin()),
        };
        command
            .arg("serve")
            .args(["--listen", listen])
            .arg("--data-dir")
            .arg(&self.data_dir);
        if let Some(path) = &self.config_path {
            command.arg("--config").arg(path);
        }
        command
            .args(&self.options.args)
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .expect("the wasmboost binary can be spawned");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::clone(&self.log);
        std::thread::spawn(move || drain_stderr(stderr, &log, &tx));
        let addr = match rx.recv_timeout(START_DEADLINE) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        };
        self.child = Some(child);
        self.addr = addr;
        self.wait_healthy();
        true
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            // Raw requests are plain HTTP: an HTTPS host is ready once it accepts connections.
            let ready = match self.addr.strip_prefix("https://") {
                Some(host) => TcpStream::connect(host).is_ok(),
                None => try_http(&self.addr, "GET", "/healthz", b"")
                    .is_ok_and(|(status, _)| status == 200),
            };
            if ready {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "host exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "host not healthy within {START_DEADLINE:?}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Forward the host's stderr into the bounded log; send the address once it is printed.
fn drain_stderr(
    stderr: impl Read,
    log: &Mutex<VecDeque<String>>,
    address: &std::sync::mpsc::Sender<String>,
) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(rest) = line.split(LISTEN_MARKER).nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            let _ = address.send(addr.to_owned());
        }
        if std::env::var_os("WASMBOOST_TEST_LOG").is_some() {
            eprintln!("[host] {line}");
        }
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// One HTTP/1.1 request (`Connection: close`) to `addr` (`http://host:port`); panics on I/O
/// errors.
pub fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http_with(addr, method, path, &[], body)
}

/// [`http`] with extra headers. `Host` defaults to the address and `Content-Type` to what the
/// route takes ([`content_type_of`]); give either to override it, with an empty value to leave
/// it out.
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    try_http_with(addr, method, path, headers, body)
        .unwrap_or_else(|err| panic!("{method} {addr}{path} failed: {err}"))
}

/// The media type a route takes: `application/wasm` for a deploy, JSON lines for a batch,
/// JSON otherwise (the host refuses state-changing requests without one).
pub fn content_type_of(method: &str, path: &str) -> &'static str {
    let route = path.split('?').next().unwrap_or(path);
    if method == "PUT" && route.ends_with("/module") {
        "application/wasm"
    } else if route.ends_with("/messages:batch") {
        "application/x-ndjson"
    } else {
        "application/json"
    }
}

/// [`http`] that returns the I/O error (connection refused once a host is gone) instead of
/// panicking.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    try_http_with(addr, method, path, &[], body)
}

/// [`try_http`] with extra headers, as [`http_with`] takes them.
pub fn try_http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let host = addr.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !given("host") {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    if !given("content-type") {
        head.push_str(&format!(
            "Content-Type: {}\r\n",
            content_type_of(method, path)
        ));
    }
    for (name, value) in headers.iter().filter(|(_, v)| !v.is_empty()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer: {head}")))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// Join the chunks of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
