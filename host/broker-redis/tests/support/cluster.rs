//! A real 3-node Redis Cluster for tests: three `redis-server --cluster-enabled yes` on free
//! loopback ports (bus ports chosen free too), joined by `redis-cli --cluster create` (three
//! primaries, no replicas), ready once every node reports `cluster_state:ok`. Std only, like
//! `server.rs`, so the workspace harness includes it too (`#[path]`).
//!
//! [`shared_cluster`] is the one cluster of a test process (suites isolate themselves with a key
//! prefix of their own); statics are never dropped, so a watchdog shell kills its nodes when the
//! process exits.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::server::{RedisServer, free_port};

/// Creating the cluster and agreeing on the slots may take this long on a loaded machine.
const READY_DEADLINE: Duration = Duration::from_secs(60);
const NODES: usize = 3;

/// Three primaries covering every slot, stopped on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

/// The cluster shared by every test of this process, created on first use.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = RedisCluster::start();
        cluster.watch_parent();
        cluster
    })
}

impl RedisCluster {
    /// Start three nodes and join them into one cluster.
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..NODES)
            .map(|_| {
                let args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    &free_port().to_string(),
                ];
                RedisServer::start_extra(&args.map(str::to_owned))
            })
            .collect();
        let cluster = RedisCluster { nodes };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        create.args(cluster.addrs());
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = create
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        assert!(out.status.success(), "redis-cli --cluster create: {out:?}");
        cluster.wait_ready();
        cluster
    }

    /// `127.0.0.1:<port>` of each node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect()
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>`.
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.addrs().join(","))
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_DEADLINE;
        for node in &self.nodes {
            loop {
                let info = node.cli(&["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster not ready:\n{info}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kill the nodes once this process is gone (a static cluster is never dropped).
    fn watch_parent(&self) {
        let pids: Vec<String> = self
            .nodes
            .iter()
            .filter_map(RedisServer::pid)
            .map(|p| p.to_string())
            .collect();
        let dirs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("'{}'", n.dir().display()))
            .collect();
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -KILL {pids} 2>/dev/null; \
             rm -rf {dirs}",
            parent = std::process::id(),
            pids = pids.join(" "),
            dirs = dirs.join(" "),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}
