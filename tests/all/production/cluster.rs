//! Hosts on their own addresses: each `wasmboost serve` in its own network namespace of a
//! [`Subnet`], on a Redis that listens on the subnet's service address, its API on the host's
//! address (non-loopback, so `--insecure`: the subnet exists only inside this machine).

use wasmboost_tests::host::{HostOptions, HostProcess};
use wasmboost_tests::netns::Subnet;
use wasmboost_tests::redis::RedisServer;

/// A subnet, its Redis, and the hosts started so far (index = namespace).
#[derive(Debug)]
pub struct Cluster {
    // Field order is drop order: hosts stop before Redis and the subnet go away.
    pub hosts: Vec<HostProcess>,
    pub redis: RedisServer,
    pub subnet: Subnet,
    toml: String,
}

impl Cluster {
    /// A subnet with room for `size` hosts and a Redis on it; no host started yet. `None` (after
    /// printing why) where network namespaces are not available.
    pub fn create(size: usize, extra_toml: &str) -> Option<Cluster> {
        let subnet = match Subnet::create(size) {
            Ok(subnet) => subnet,
            Err(why) => {
                eprintln!("SKIPPED: no network namespaces on this machine: {why}");
                return None;
            }
        };
        let redis = RedisServer::start_also_on(&subnet.service_ip());
        let toml = format!(
            "[host]\nshutdown_grace = \"10s\"\n[broker]\ntype = \"redis\"\n\
             url = \"redis://{}:{}\"\nreclaim_interval_ms = 500\n{extra_toml}",
            subnet.service_ip(),
            redis.port()
        );
        Some(Cluster {
            hosts: Vec::new(),
            redis,
            subnet,
            toml,
        })
    }

    /// Start the next `n` hosts at once, each in its namespace; returns their indexes.
    pub fn start(&mut self, n: usize) -> std::ops::Range<usize> {
        let first = self.hosts.len();
        let options: Vec<HostOptions> = (first..first + n)
            .map(|i| {
                HostOptions::default()
                    .config(self.toml.clone())
                    .wrap(&self.subnet.exec(i))
                    .listen(format!("{}:0", self.subnet.host_ip(i)))
                    .arg("--insecure")
            })
            .collect();
        let started: Vec<HostProcess> = std::thread::scope(|s| {
            let starting: Vec<_> = options
                .into_iter()
                .map(|o| s.spawn(move || o.start()))
                .collect();
            starting
                .into_iter()
                .map(|h| h.join().expect("a host starts"))
                .collect()
        });
        self.hosts.extend(started);
        first..first + n
    }

    /// Every host, for the Redis test helpers.
    pub fn all(&self) -> Vec<&HostProcess> {
        self.hosts.iter().collect()
    }
}
