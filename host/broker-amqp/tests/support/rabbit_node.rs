//! A real `rabbitmq-server` node for tests: its own node name, epmd, ports, data and log dirs in a
//! temp dir. Std only, so both the broker crate's tests and the integration harness include it
//! (`#[path]`).
//!
//! The node runs in its own process group; a watchdog shell kills that group (and our epmd) when
//! the test process exits, since statics are never dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a boot may take on a loaded 2-core machine.
const BOOT_DEADLINE: Duration = Duration::from_secs(240);
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// One rabbitmq-server node. `shared_node()` gives the per-process one; `RabbitNode::start()` a
/// private one (for tests that restart it, which would disturb the others).
#[derive(Debug)]
pub struct RabbitNode {
    port: u16,
    dir: PathBuf,
    name: String,
    dist_port: u16,
    epmd_port: u16,
    epmd: Child,
    server: Mutex<Child>,
    /// Keeps the temp dir alive as long as the node.
    _tmp: Option<tempfile::TempDir>,
}

/// The node shared by every test of this process, started on first use.
pub fn shared_node() -> &'static RabbitNode {
    static NODE: OnceLock<RabbitNode> = OnceLock::new();
    NODE.get_or_init(|| match RabbitNode::start() {
        Ok(node) => node,
        Err(e) => panic!("cannot start rabbitmq-server for the tests: {e}"),
    })
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn io_err(what: String) -> std::io::Error {
    std::io::Error::other(what)
}

impl RabbitNode {
    /// Start a private node and wait until it accepts AMQP connections.
    pub fn start() -> std::io::Result<RabbitNode> {
        if !Path::new(SERVER).exists() {
            return Err(io_err(format!(
                "{SERVER} not found: apt-get install -y rabbitmq-server"
            )));
        }
        let tmp = tempfile::Builder::new().prefix("wbrabbit").tempdir()?;
        let dir = tmp.path().to_path_buf();
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            "disk_free_limit.absolute = 10MB\n",
        )?;
        let epmd_port = free_port()?;
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let name = format!("wbtest-{}-{}@localhost", std::process::id(), epmd_port);
        let node = RabbitNode {
            port: free_port()?,
            dir,
            name,
            dist_port: free_port()?,
            epmd_port,
            epmd,
            server: Mutex::new(Command::new("true").spawn()?),
            _tmp: Some(tmp),
        };
        node.spawn_watchdog()?;
        node.boot()?;
        Ok(node)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kill the node hard (SIGKILL to its process group, like a crash) and boot it again on the
    /// same port and data dir. Returns once it accepts connections again.
    pub fn restart(&self) -> std::io::Result<()> {
        self.kill_server();
        self.boot()
    }

    /// Kill the node hard without restarting it (see [`RabbitNode::restart`]).
    pub fn kill_server(&self) {
        let mut server = self.server.lock().unwrap_or_else(|p| p.into_inner());
        kill_group(server.id());
        let _ = server.wait();
    }

    fn boot(&self) -> std::io::Result<()> {
        let mut server = self.server.lock().unwrap_or_else(|p| p.into_inner());
        let log = std::fs::File::create(self.dir.join("stdout.log"))?;
        let child = Command::new(SERVER)
            .env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                self.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        std::fs::write(self.dir.join("pgid"), child.id().to_string())?;
        *server = child;
        let deadline = Instant::now() + BOOT_DEADLINE;
        loop {
            if amqp_handshake(self.port).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = server.try_wait() {
                return Err(io_err(format!(
                    "rabbitmq-server exited with {status} while booting; see {}",
                    self.dir.join("stdout.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(io_err(format!(
                    "rabbitmq-server on port {} not ready after {BOOT_DEADLINE:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A shell that outlives nothing: when this process is gone it kills the node's process group
    /// (whatever `pgid` holds then, so restarts are covered) and our epmd.
    fn spawn_watchdog(&self) -> std::io::Result<()> {
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
             kill -KILL -$(cat '{dir}/pgid') 2>/dev/null; kill {epmd} 2>/dev/null; \
             rm -rf '{dir}'",
            parent = std::process::id(),
            dir = self.dir.display(),
            epmd = self.epmd.id(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        Ok(())
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        self.kill_server();
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}

pub(crate) fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        // `--`: a negative pid (a process group) is not an option.
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Open a TCP connection and read the server's `connection.start` frame: the node is ready.
pub(crate) fn amqp_handshake(port: u16) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"AMQP\x00\x00\x09\x01")?;
    let mut header = [0u8; 7];
    stream.read_exact(&mut header)?;
    // A method frame (type 1) on channel 0: connection.start.
    if header[0] == 1 && header[1..3] == [0, 0] {
        Ok(())
    } else {
        Err(io_err(format!("unexpected amqp frame header {header:?}")))
    }
}
