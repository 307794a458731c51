//! Hosts on their own network addresses: a private /24 made of a Linux bridge in the test's own
//! namespace and one network namespace per host, joined to the bridge by a veth pair. Services
//! the hosts use (Redis) listen on the bridge's second address; the test reaches each host's API
//! at the host's address. [`Subnet::partition`] cuts one host off from that service address
//! only (a blackhole route inside its namespace: established connections go silent, new ones
//! fail), so the test can still watch the host while it is cut off.
//!
//! Everything is created by [`Subnet::create`] and removed on drop. Where the kernel or the
//! sandbox refuses (no `ip`, no `CAP_NET_ADMIN`, no veth/bridge support), `create` returns the
//! reason and the test prints `SKIPPED: ...` and returns.

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The second octet of every test subnet (`10.213.<n>.0/24`), chosen to be unlikely in use.
const OCTET: u8 = 213;

/// A bridge and one namespace per host. Dropping it deletes them (and the veths with them).
#[derive(Debug)]
pub struct Subnet {
    third: u8,
    bridge: String,
    namespaces: Vec<String>,
    /// The veth end inside each namespace.
    inner: Vec<String>,
}

impl Subnet {
    /// A fresh subnet with `hosts` namespaces; `Err` names why the machine cannot have one.
    pub fn create(hosts: usize) -> Result<Subnet, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // Tests in this process create subnets at once: one picks its octet and takes it first.
        static CREATING: Mutex<()> = Mutex::new(());
        let _creating = CREATING.lock().unwrap_or_else(|e| e.into_inner());
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        // Names unique per process and subnet (interface names have at most 15 bytes).
        let tag = format!("{}{k}", std::process::id() % 100_000);
        let third = free_third()?;
        let mut subnet = Subnet {
            third,
            bridge: format!("wb{tag}b"),
            namespaces: Vec::new(),
            inner: Vec::new(),
        };
        let (gateway, service) = (subnet.gateway(), subnet.service_ip());
        let bridge = subnet.bridge.clone();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge])?;
        ip(&["addr", "add", &format!("{service}/24"), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..hosts {
            let ns = format!("wb{tag}n{i}");
            let (outer, inner) = (format!("wb{tag}o{i}"), format!("wb{tag}i{i}"));
            ip(&["netns", "add", &ns])?;
            subnet.namespaces.push(ns.clone());
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            subnet.inner.push(inner.clone());
            ip(&["link", "set", &outer, "master", &bridge])?;
            ip(&["link", "set", &outer, "up"])?;
            let addr = format!("{}/24", subnet.host_ip(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(subnet)
    }

    /// The bridge's address: the test's own side (the source of its requests to hosts).
    pub fn gateway(&self) -> String {
        format!("10.{OCTET}.{}.1", self.third)
    }

    /// The bridge's second address, for services the hosts use (see [`Subnet::partition`]).
    pub fn service_ip(&self) -> String {
        format!("10.{OCTET}.{}.254", self.third)
    }

    /// Address of host `i` inside its namespace.
    pub fn host_ip(&self, i: usize) -> String {
        format!("10.{OCTET}.{}.{}", self.third, i + 2)
    }

    /// The command prefix that runs a program in host `i`'s namespace.
    pub fn exec(&self, i: usize) -> Vec<String> {
        vec![
            "ip".to_owned(),
            "netns".to_owned(),
            "exec".to_owned(),
            self.namespaces[i].clone(),
        ]
    }

    /// Cut host `i` off from the service address (the broker); its API stays reachable.
    pub fn partition(&self, i: usize) {
        let service = format!("{}/32", self.service_ip());
        ip(&[
            "-n",
            &self.namespaces[i],
            "route",
            "add",
            "blackhole",
            &service,
        ])
        .unwrap_or_else(|e| panic!("partitioning host {i}: {e}"));
    }

    /// Undo [`Subnet::partition`].
    pub fn heal(&self, i: usize) {
        let service = format!("{}/32", self.service_ip());
        ip(&[
            "-n",
            &self.namespaces[i],
            "route",
            "del",
            "blackhole",
            &service,
        ])
        .unwrap_or_else(|e| panic!("healing host {i}: {e}"));
    }
}

impl Drop for Subnet {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth inside it and so its peer on the bridge.
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

/// Run `ip <args>`; `Err` with its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// A third octet whose `10.213.<n>.0/24` no interface of this namespace uses (another test, a
/// run that crashed before its drop, or the machine's own network).
fn free_third() -> Result<u8, String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    let used = String::from_utf8_lossy(&out.stdout).into_owned();
    let start = u8::try_from(std::process::id() % 200).unwrap_or(0);
    (0..250u8)
        .map(|n| start.wrapping_add(n) % 250 + 1)
        .find(|n| !used.contains(&format!(" 10.{OCTET}.{n}.")))
        .ok_or_else(|| format!("every 10.{OCTET}.x.0/24 test subnet is in use"))
}
