//! Which Redis deployment a `url` names: one server (`redis://`, `rediss://`, `unix://`), a
//! Redis Cluster (`redis+cluster://`) or a master watched by Sentinel (`redis+sentinel://`).
//! The scheme says it, so a host never guesses a topology from what a server answers; the
//! grammar lives here once and `RedisConfig::validate` checks it before anything connects.
//!
//! - `redis+cluster://[user:password@]host:port[,host:port...]`: seed nodes (any reachable
//!   one is enough; the others are learned from the cluster). `rediss+cluster://` for TLS.
//! - `redis+sentinel://[user:password@]host:port[,host:port...]/<master>[/<db>]`: the
//!   sentinels, then the master name they monitor (`sentinel monitor <master> ...`). The
//!   credentials and db are the data nodes'; the sentinels are asked without them.

/// The deployment a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server: the URL as the redis crate reads it.
    Single(String),
    /// Cluster seed nodes, each as a `redis://` URL.
    Cluster(Vec<String>),
    /// Sentinels and the master they watch.
    Sentinel(SentinelSpec),
}

/// Where the sentinels are and how to reach the master they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentinelSpec {
    /// Each sentinel as a `redis://host:port` URL.
    pub(crate) sentinels: Vec<String>,
    /// The monitored master's name.
    pub(crate) master: String,
    /// `redis://` or `rediss://`, then `user:password@` or nothing: put before `host:port`.
    node_prefix: String,
    /// `/<db>` or nothing: put after `host:port`.
    node_suffix: String,
}

impl SentinelSpec {
    /// The URL of the data node at `host:port` (the master a sentinel named).
    pub(crate) fn node_url(&self, host: &str, port: u16) -> String {
        format!("{}{host}:{port}{}", self.node_prefix, self.node_suffix)
    }
}

const CLUSTER: &str = "+cluster://";
const SENTINEL: &str = "+sentinel://";

impl Topology {
    /// Parse `url`; the error names what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<Topology, String> {
        if let Some((scheme, rest)) = split_scheme(url, CLUSTER) {
            let (auth, hosts, path) = split_authority(url, rest)?;
            if !matches!(path, "" | "/" | "/0") {
                return Err(format!(
                    "redis url {url:?}: a cluster has only database 0, got path {path:?}"
                ));
            }
            let nodes = hosts
                .iter()
                .map(|h| format!("{scheme}://{auth}{h}"))
                .collect();
            return Ok(Topology::Cluster(nodes));
        }
        if let Some((scheme, rest)) = split_scheme(url, SENTINEL) {
            let (auth, hosts, path) = split_authority(url, rest)?;
            let mut parts = path.trim_start_matches('/').splitn(2, '/');
            let master = parts.next().unwrap_or_default();
            if master.is_empty() {
                return Err(format!(
                    "redis url {url:?}: name the master after the sentinels, \
                     redis+sentinel://host:port,host:port/<master>"
                ));
            }
            let node_suffix = match parts.next().filter(|db| !db.is_empty()) {
                Some(db) if db.parse::<u32>().is_ok() => format!("/{db}"),
                Some(db) => return Err(format!("redis url {url:?}: database {db:?} is no number")),
                None => String::new(),
            };
            let sentinels = hosts.iter().map(|h| format!("redis://{h}")).collect();
            return Ok(Topology::Sentinel(SentinelSpec {
                sentinels,
                master: master.to_owned(),
                node_prefix: format!("{scheme}://{auth}"),
                node_suffix,
            }));
        }
        if url.contains(',') && url.contains("://") && !url.starts_with("unix") {
            return Err(format!(
                "redis url {url:?} lists several hosts: use redis+cluster:// for a cluster \
                 or redis+sentinel://.../<master> for sentinels"
            ));
        }
        Ok(Topology::Single(url.to_owned()))
    }
}

/// `("redis" | "rediss", rest)` when `url` starts with `redis<kind>` or `rediss<kind>`.
fn split_scheme<'a>(url: &'a str, kind: &str) -> Option<(&'static str, &'a str)> {
    if let Some(rest) = url.strip_prefix("redis").and_then(|r| r.strip_prefix(kind)) {
        return Some(("redis", rest));
    }
    let rest = url.strip_prefix("rediss")?.strip_prefix(kind)?;
    Some(("rediss", rest))
}

/// `(user:password@ or "", [host:port...], path)` of what follows `scheme://`.
fn split_authority<'a>(
    url: &str,
    rest: &'a str,
) -> Result<(&'a str, Vec<&'a str>, &'a str), String> {
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let (auth, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
    for host in &hosts {
        let port_ok = host
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(format!(
                "redis url {url:?}: {host:?} is not host:port (every node needs its port)"
            ));
        }
    }
    Ok((auth, hosts, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_is_one_server() {
        let t = Topology::parse("redis://127.0.0.1:6379/2").expect("plain");
        assert_eq!(t, Topology::Single("redis://127.0.0.1:6379/2".to_owned()));
    }

    #[test]
    fn cluster_seeds_keep_their_credentials() {
        let t = Topology::parse("redis+cluster://u:p@a:7000,b:7001").expect("cluster");
        assert_eq!(
            t,
            Topology::Cluster(vec![
                "redis://u:p@a:7000".into(),
                "redis://u:p@b:7001".into()
            ])
        );
        let tls = Topology::parse("rediss+cluster://a:7000/").expect("tls cluster");
        assert_eq!(tls, Topology::Cluster(vec!["rediss://a:7000".into()]));
    }

    #[test]
    fn sentinels_name_their_master() {
        let Ok(Topology::Sentinel(s)) =
            Topology::parse("redis+sentinel://:pw@s1:26379,s2:26380/main/3")
        else {
            panic!("a sentinel url");
        };
        assert_eq!(s.sentinels, ["redis://s1:26379", "redis://s2:26380"]);
        assert_eq!(s.master, "main");
        assert_eq!(s.node_url("10.0.0.5", 6379), "redis://:pw@10.0.0.5:6379/3");
    }

    #[test]
    fn bad_urls_name_the_cause() {
        for (url, cause) in [
            ("redis+sentinel://s1:26379", "name the master"),
            ("redis+sentinel://s1:26379/", "name the master"),
            ("redis+sentinel://s1:26379/m/x", "\"x\" is no number"),
            ("redis+cluster://a:7000,b", "\"b\" is not host:port"),
            ("redis+cluster://a:0", "\"a:0\" is not host:port"),
            ("redis+cluster://a:7000/1", "only database 0"),
            ("redis://a:1,b:2", "use redis+cluster://"),
        ] {
            let err = Topology::parse(url).expect_err(url);
            assert!(err.contains(cause), "{url}: {err}");
        }
    }
}
