//! A real Sentinel deployment for tests: a master, one replica (`--replicaof`) and three
//! sentinels (`redis-server <file> --sentinel`, quorum 2), each on a free loopback port, with
//! short timeouts so a killed master is replaced within seconds (`down-after-milliseconds` 1000,
//! `failover-timeout` 5000). Std only, like `server.rs`; stopped on drop.

use std::time::{Duration, Instant};

use super::server::RedisServer;

/// The master name the sentinels monitor.
pub const MASTER: &str = "wbmaster";
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// Master, replica and sentinels.
#[derive(Debug)]
pub struct RedisSentinels {
    pub master: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<RedisServer>,
}

impl RedisSentinels {
    /// Start them all and wait until the replica is in sync and every sentinel sees the replica
    /// and the two other sentinels (so a failover can be agreed on at once).
    pub fn start() -> RedisSentinels {
        let master = RedisServer::start();
        let replicaof = [
            "--replicaof".to_owned(),
            "127.0.0.1".to_owned(),
            master.port().to_string(),
        ];
        let replica = RedisServer::start_extra(&replicaof);
        let conf = format!(
            "sentinel monitor {MASTER} 127.0.0.1 {port} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 5000\n\
             sentinel parallel-syncs {MASTER} 1\n",
            port = master.port()
        );
        let sentinels = (0..3).map(|_| RedisServer::start_sentinel(&conf)).collect();
        let all = RedisSentinels {
            master,
            replica,
            sentinels,
        };
        all.wait_ready();
        all
    }

    /// `redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<MASTER>`.
    pub fn url(&self) -> String {
        let addrs: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port()))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", addrs.join(","))
    }

    /// Start the killed old master again, empty (no persistence here): the sentinels make it
    /// the new master's replica. Priority 0 keeps them from ever promoting it: a replica still
    /// in its first sync holds nothing, and on a loaded machine a second, spurious failover
    /// could otherwise pick it (with persistence a restarted node keeps its data).
    pub fn restart_old_master(&mut self) {
        let never_promote = ["--replica-priority".to_owned(), "0".to_owned()];
        self.master.start_again_with(&never_promote);
    }

    /// The port the first sentinel names as the master now.
    pub fn master_port(&self) -> Option<u16> {
        let out = self.sentinels[0].cli(&["SENTINEL", "get-master-addr-by-name", MASTER]);
        out.lines().nth(1)?.trim().parse().ok()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + READY_DEADLINE;
        let ready = || {
            let link = self.replica.cli(&["INFO", "replication"]);
            link.contains("master_link_status:up")
                && self.sentinels.iter().all(|s| {
                    let info = s.cli(&["SENTINEL", "master", MASTER]);
                    let field = |name: &str| {
                        let mut lines = info.lines();
                        while let Some(line) = lines.next() {
                            if line.trim() == name {
                                return lines.next().map(|v| v.trim().to_owned());
                            }
                        }
                        None
                    };
                    field("num-slaves").as_deref() == Some("1")
                        && field("num-other-sentinels").as_deref() == Some("2")
                })
        };
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "sentinels not ready: {}",
                self.sentinels[0].cli(&["SENTINEL", "master", MASTER])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
