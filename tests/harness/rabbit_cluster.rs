//! A 3-node RabbitMQ cluster on local ports ([`RabbitCluster::start`]): each node with its own
//! node name, AMQP and distribution ports, data, log and home directories in one temp dir, all
//! registered with one `epmd` of our own and sharing one Erlang cookie. The nodes boot in
//! parallel; the second and third then join the first (`rabbitmqctl stop_app / join_cluster /
//! start_app`), and the cluster is ready once every node lists all three as running. Std only;
//! nodes are killed by process group on drop, and a watchdog shell kills them (and the epmd) if
//! the test process dies first.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::node::{amqp_handshake, free_port, kill_group};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";
/// Nodes in the cluster: a quorum queue on 3 survives the loss of one.
pub const NODES: usize = 3;
/// How long booting and joining may take on a loaded 2-core machine.
const READY_DEADLINE: Duration = Duration::from_secs(120);

/// One node of the cluster.
#[derive(Debug)]
pub struct ClusterNode {
    /// `wbqq<i>-<pid>-<epmd port>@localhost`.
    pub name: String,
    port: u16,
    dist_port: u16,
    dir: PathBuf,
    server: Option<Child>,
}

/// Three clustered `rabbitmq-server` nodes.
#[derive(Debug)]
pub struct RabbitCluster {
    pub nodes: Vec<ClusterNode>,
    epmd_port: u16,
    epmd: Child,
    _tmp: tempfile::TempDir,
}

fn err(what: String) -> std::io::Error {
    std::io::Error::other(what)
}

impl RabbitCluster {
    /// Boot the three nodes in parallel, join them into one cluster and wait until every node
    /// sees all three running. An `Err` says why the cluster could not form (the caller skips).
    pub fn start() -> std::io::Result<RabbitCluster> {
        if !Path::new(SERVER).exists() {
            return Err(err(format!("{SERVER} not found")));
        }
        let tmp = tempfile::Builder::new().prefix("wbrabbitc").tempdir()?;
        let epmd_port = free_port()?;
        let epmd = Command::new("epmd")
            .args(["-port", &epmd_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut nodes = Vec::with_capacity(NODES);
        for i in 0..NODES {
            let dir = tmp.path().join(format!("n{i}"));
            std::fs::create_dir_all(&dir)?;
            nodes.push(ClusterNode {
                name: format!("wbqq{i}-{}-{epmd_port}@localhost", std::process::id()),
                port: free_port()?,
                dist_port: free_port()?,
                dir,
                server: None,
            });
        }
        let mut cluster = RabbitCluster {
            nodes,
            epmd_port,
            epmd,
            _tmp: tmp,
        };
        cluster.spawn_watchdog()?;
        cluster.boot_all()?;
        cluster.join()?;
        Ok(cluster)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` of node `i`.
    pub fn amqp_url(&self, i: usize) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.nodes[i].port)
    }

    /// Which node `i` the name `node` is (`rabbitmqctl` prints names).
    pub fn index_of(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == node)
    }

    /// Kill node `i` hard (SIGKILL to its process group, like a crash).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.nodes[i].server.take() {
            kill_group(server.id());
            let _ = server.wait();
        }
    }

    /// `rabbitmqctl -n <node i> <args>`.
    pub fn ctl(&self, i: usize, args: &[&str]) -> std::io::Result<Output> {
        let node = &self.nodes[i];
        Command::new(CTL)
            .args(["-n", &node.name])
            .args(args)
            .env("HOME", &node.dir)
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .stdin(Stdio::null())
            .output()
    }

    /// The name of the node leading quorum queue `queue`, asked of node `via`.
    pub fn leader_of(&self, via: usize, queue: &str) -> Option<String> {
        let out = self
            .ctl(
                via,
                &[
                    "list_queues",
                    "name",
                    "leader",
                    "--quiet",
                    "--no-table-headers",
                ],
            )
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|line| {
                let mut cols = line.split_whitespace();
                (cols.next() == Some(queue)).then(|| cols.next().map(str::to_owned))?
            })
    }

    /// Every queue with its type, leader, members and online members, as node `via` lists
    /// them (for failure messages).
    pub fn queues(&self, via: usize) -> String {
        let args = [
            "list_queues",
            "name",
            "type",
            "leader",
            "members",
            "online",
            "messages",
        ];
        match self.ctl(via, &args) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => format!("rabbitmqctl: {e}"),
        }
    }

    /// The last `n` warnings and errors in node `i`'s log (for failure messages).
    pub fn log_tail(&self, i: usize, n: usize) -> String {
        let node = &self.nodes[i];
        let path = node.dir.join("log").join(format!("{}.log", node.name));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("[warning]") || l.contains("[error]"))
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn boot_all(&mut self) -> std::io::Result<()> {
        let epmd_port = self.epmd_port;
        for node in &mut self.nodes {
            node.spawn(epmd_port)?;
        }
        let deadline = Instant::now() + READY_DEADLINE;
        for node in &mut self.nodes {
            node.wait_amqp(deadline)?;
        }
        Ok(())
    }

    /// Join nodes 1 and 2 to node 0, one after the other, then wait until all see 3 running.
    fn join(&self) -> std::io::Result<()> {
        let first = self.nodes[0].name.clone();
        for i in 1..NODES {
            for args in [
                vec!["stop_app"],
                vec!["join_cluster", first.as_str()],
                vec!["start_app"],
            ] {
                let out = self.ctl(i, &args)?;
                if !out.status.success() {
                    return Err(err(format!(
                        "rabbitmqctl -n {} {args:?}: {}{}",
                        self.nodes[i].name,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    )));
                }
            }
        }
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let all_running = (0..NODES).all(|i| self.running_nodes(i) == NODES);
            if all_running {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "the nodes did not form one cluster in {READY_DEADLINE:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many nodes node `i` lists as running in its cluster.
    fn running_nodes(&self, i: usize) -> usize {
        let Ok(out) = self.ctl(i, &["eval", "length(rabbit_nodes:all_running())."]) else {
            return 0;
        };
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// When this process is gone, kill every node's process group (whatever `pgid` files hold)
    /// and our epmd.
    fn spawn_watchdog(&self) -> std::io::Result<()> {
        let groups: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "kill -KILL -$(cat '{}/pgid' 2>/dev/null) 2>/dev/null",
                    n.dir.display()
                )
            })
            .collect();
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; {kills}; kill {epmd} 2>/dev/null",
            parent = std::process::id(),
            kills = groups.join("; "),
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

impl ClusterNode {
    /// Start `rabbitmq-server` for this node (returns at once; see `wait_amqp`).
    fn spawn(&mut self, epmd_port: u16) -> std::io::Result<()> {
        let dir = &self.dir;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            "disk_free_limit.absolute = 10MB\n",
        )?;
        // One cookie for every node and every rabbitmqctl (each has this dir as its HOME).
        let cookie = dir.join(".erlang.cookie");
        std::fs::write(&cookie, "WASMBOOSTTESTCLUSTERCOOKIE")?;
        std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400))?;
        let log = std::fs::File::create(dir.join("stdout.log"))?;
        let child = Command::new(SERVER)
            .env("HOME", dir)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        std::fs::write(dir.join("pgid"), child.id().to_string())?;
        self.server = Some(child);
        Ok(())
    }

    /// Poll until the node answers the AMQP handshake.
    fn wait_amqp(&mut self, deadline: Instant) -> std::io::Result<()> {
        loop {
            if amqp_handshake(self.port).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.server.as_mut().map(Child::try_wait) {
                return Err(err(format!(
                    "{} exited with {status} while booting; see {}",
                    self.name,
                    self.dir.join("stdout.log").display()
                )));
            }
            if Instant::now() > deadline {
                return Err(err(format!(
                    "{} did not boot in {READY_DEADLINE:?}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RabbitCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}
