//! One entry of a queue's HTTP allow-list, `scheme://host[:port][/path-prefix]`, and whether a
//! request's URL matches it. The grammar is defined here once; the config validates with
//! [`HttpRule::parse`].
//!
//! - scheme: `http` or `https`; port: the scheme's default (80, 443) when absent.
//! - host: a DNS name (`example.org`, matched exactly, case-insensitively), a subdomain
//!   wildcard (`*.example.org`: `a.example.org`, `a.b.example.org`, not `example.org`), or a
//!   literal address (`127.0.0.1`, `[::1]`), which is also the only way to reach a loopback,
//!   private, link-local or metadata address (see [`super::address`]).
//! - path prefix: matched on whole segments (`/api` allows `/api` and `/api/x`, not `/apix`);
//!   a request with a `.`/`..` segment or an encoded `.` or `/` is refused under a prefix, so
//!   it cannot climb out of it on the server.

use std::fmt;
use std::net::IpAddr;

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("http allow-list entry {entry:?}: {reason}")]
pub struct RuleError {
    entry: String,
    reason: &'static str,
}

/// The host part of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// Exactly this name (lowercase, no trailing dot).
    Name(String),
    /// Any subdomain of this name (the part after `*.`).
    Subdomains(String),
    /// Exactly this address, written as a literal.
    Addr(IpAddr),
}

/// A parsed allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    pub https: bool,
    pub host: HostPattern,
    pub port: u16,
    /// Starts with `/`, no trailing `/` (except the root, which is stored as `None`).
    pub path_prefix: Option<String>,
}

/// The parts of a request URL the allow-list looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub https: bool,
    /// As in the URL, IPv6 without brackets.
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
}

impl HttpRule {
    /// Parses one entry; the error names it.
    pub fn parse(entry: &str) -> Result<HttpRule, RuleError> {
        let fail = |reason| RuleError {
            entry: entry.to_owned(),
            reason,
        };
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| fail("must start with http:// or https://"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(fail("the scheme must be http or https")),
        };
        if rest.contains(['@', '?', '#', '\\']) || rest.chars().any(char::is_whitespace) {
            return Err(fail(
                "must not contain user info, a query, a fragment or spaces",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (host, port) = split_authority(authority).ok_or_else(|| fail("bad host or port"))?;
        let port = match port {
            Some(port) => port,
            None if https => 443,
            None => 80,
        };
        let host = parse_host(host).ok_or_else(|| fail("bad host"))?;
        let path_prefix = match path.trim_end_matches('/') {
            "" => None,
            prefix if has_dot_segment(prefix) => {
                return Err(fail("the path must not contain . or .. segments"));
            }
            prefix => Some(prefix.to_owned()),
        };
        Ok(HttpRule {
            https,
            host,
            port,
            path_prefix,
        })
    }

    /// Whether a request to `target` is allowed by this entry.
    pub fn matches(&self, target: &Target<'_>) -> bool {
        self.https == target.https
            && self.port == target.port
            && self.host_matches(target.host)
            && self.path_matches(target.path)
    }

    /// Whether this entry names `ip` literally (the only way a non-public address is allowed).
    pub fn names_address(&self, ip: IpAddr) -> bool {
        matches!(self.host, HostPattern::Addr(addr) if canonical(addr) == canonical(ip))
    }

    fn host_matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            HostPattern::Name(name) => host == *name,
            HostPattern::Subdomains(parent) => host
                .strip_suffix(parent.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostPattern::Addr(addr) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| canonical(ip) == canonical(*addr)),
        }
    }

    fn path_matches(&self, path: &str) -> bool {
        let Some(prefix) = &self.path_prefix else {
            return true;
        };
        if has_dot_segment(path) {
            return false;
        }
        path.strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
    }
}

impl fmt::Display for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://")?;
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Subdomains(parent) => write!(f, "*.{parent}")?,
            HostPattern::Addr(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Addr(IpAddr::V4(ip)) => write!(f, "{ip}")?,
        }
        write!(f, ":{}", self.port)?;
        f.write_str(self.path_prefix.as_deref().unwrap_or(""))
    }
}

/// `host[:port]` or `[v6][:port]`; `None` when malformed.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(text) => Some(text.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    (!host.is_empty()).then_some((host, port))
}

fn parse_host(host: &str) -> Option<HostPattern> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(HostPattern::Addr(ip));
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(parent) = lower.strip_prefix("*.") {
        // A wildcard names subdomains of a real name: at least one dot and one letter, so
        // `*.1` or `*.com` cannot stand for a whole address range or top-level domain.
        let named = parent.contains('.') && parent.bytes().any(|b| b.is_ascii_alphabetic());
        return (is_dns_name(parent) && named).then(|| HostPattern::Subdomains(parent.to_owned()));
    }
    is_dns_name(&lower).then_some(HostPattern::Name(lower))
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A `.` or `..` segment, or a percent-encoded `.`, `/` or `\` anywhere in the path.
fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(https: bool, host: &'a str, port: u16, path: &'a str) -> Target<'a> {
        Target {
            https,
            host,
            port,
            path,
        }
    }

    fn rule(entry: &str) -> HttpRule {
        HttpRule::parse(entry).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn parses_the_documented_forms() {
        let r = rule("https://Example.org");
        assert_eq!(r.host, HostPattern::Name("example.org".into()));
        assert_eq!(
            (r.https, r.port, r.path_prefix.as_deref()),
            (true, 443, None)
        );
        let r = rule("http://127.0.0.1:8080/api/");
        assert_eq!(
            r.host,
            HostPattern::Addr("127.0.0.1".parse().unwrap_or_else(|_| unreachable!()))
        );
        assert_eq!((r.port, r.path_prefix.as_deref()), (8080, Some("/api")));
        assert!(matches!(
            rule("http://[::1]:9000").host,
            HostPattern::Addr(IpAddr::V6(_))
        ));
        assert_eq!(
            rule("https://*.example.org").host,
            HostPattern::Subdomains("example.org".into())
        );
    }

    #[test]
    fn refuses_malformed_entries() {
        for bad in [
            "example.org",
            "ftp://example.org",
            "https://user@example.org",
            "https://example.org?q=1",
            "https://example.org:0",
            "https://example.org:99999",
            "https://*.com",
            "https://*.1.2",
            "https://exa mple.org",
            "https://ex_ample.org",
            "https://example.org/a/../b",
            "https://",
            "http://[::1",
        ] {
            let err = HttpRule::parse(bad).expect_err(bad);
            assert_eq!(err.entry, bad, "the error names the entry: {err}");
        }
    }

    #[test]
    fn matches_scheme_host_port_exactly() {
        let r = rule("https://example.org");
        assert!(r.matches(&target(true, "example.org", 443, "/")));
        assert!(r.matches(&target(true, "EXAMPLE.org.", 443, "/x")));
        assert!(!r.matches(&target(false, "example.org", 80, "/")));
        assert!(!r.matches(&target(true, "example.org", 8443, "/")));
        assert!(!r.matches(&target(true, "evil-example.org", 443, "/")));
        assert!(!r.matches(&target(true, "example.org.evil.com", 443, "/")));
        assert!(!r.matches(&target(true, "a.example.org", 443, "/")));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let r = rule("https://*.example.org");
        assert!(r.matches(&target(true, "a.example.org", 443, "/")));
        assert!(r.matches(&target(true, "a.b.example.org", 443, "/")));
        assert!(!r.matches(&target(true, "example.org", 443, "/")));
        assert!(!r.matches(&target(true, "aexample.org", 443, "/")));
    }

    #[test]
    fn path_prefixes_match_whole_segments_and_refuse_climbing() {
        let r = rule("https://example.org/api");
        assert!(r.matches(&target(true, "example.org", 443, "/api")));
        assert!(r.matches(&target(true, "example.org", 443, "/api/v1?x=1")));
        assert!(!r.matches(&target(true, "example.org", 443, "/apix")));
        assert!(!r.matches(&target(true, "example.org", 443, "/api/../admin")));
        assert!(!r.matches(&target(true, "example.org", 443, "/api/%2e%2e/admin")));
        assert!(!r.matches(&target(true, "example.org", 443, "/api%2F..%2Fadmin")));
    }

    #[test]
    fn literal_addresses_match_only_themselves() {
        let r = rule("http://127.0.0.1:8080");
        assert!(r.matches(&target(false, "127.0.0.1", 8080, "/")));
        assert!(r.matches(&target(false, "::ffff:127.0.0.1", 8080, "/")));
        assert!(!r.matches(&target(false, "localhost", 8080, "/")));
        assert!(!r.matches(&target(false, "127.0.0.2", 8080, "/")));
        assert!(r.names_address("127.0.0.1".parse().unwrap_or_else(|_| unreachable!())));
        assert!(
            !rule("https://example.org")
                .names_address("127.0.0.1".parse().unwrap_or_else(|_| unreachable!()))
        );
    }

    #[test]
    fn display_round_trips() {
        for entry in [
            "https://example.org:443",
            "http://[::1]:8080/api",
            "https://*.example.org:443",
        ] {
            assert_eq!(rule(entry).to_string(), entry);
        }
    }
}
