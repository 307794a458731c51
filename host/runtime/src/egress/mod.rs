//! Outbound HTTP for 0.2.0 components (`wasi:http/outgoing-handler`), sent by the host itself so
//! it cannot be turned against the host's network:
//!
//! 1. the URL must match the queue's allow-list ([`rule`]): scheme, host, port, path prefix;
//! 2. the name is resolved once, here; each address must be public ([`address`]) unless the
//!    matching rule names that literal address; the connection goes to the checked address
//!    (no second lookup, so no DNS rebinding between check and connect);
//! 3. the host never follows a redirect: a 3xx goes back to the guest, and the guest's next
//!    request passes steps 1 and 2 again;
//! 4. requests per invocation, response bytes per invocation ([`body`]) and time per request
//!    are capped, and nothing outlives the task's deadline (the whole exchange runs on tokio;
//!    no thread waits on it).
//!
//! Every refusal is a `wasi:http` error code the guest can handle (`HTTP-request-denied`,
//! `destination-IP-prohibited`, `connection-limit-reached`, `HTTP-response-body-size`) and is
//! counted in the invocation's `denied`.

pub(crate) mod address;
mod body;
pub mod rule;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use http::uri::Scheme;
use http_body_util::BodyExt;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::grants::HttpGrant;
use body::{ByteBudget, CappedBody};
use rule::Target;

/// The response and the future that drives its connection, as `wasmtime-wasi-http` wants them.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// The per-invocation egress state behind the `wasi:http` hooks.
pub(crate) struct Egress {
    inner: Arc<Shared>,
}

struct Shared {
    grant: Option<HttpGrant>,
    requests: AtomicU32,
    bytes: Arc<ByteBudget>,
    denied: Arc<AtomicU32>,
    deadline: Instant,
}

impl Egress {
    /// `grant` is the queue's (or `None`: refuse every request); refusals add to `denied`; no
    /// request outlives `deadline`.
    pub(crate) fn new(grant: Option<HttpGrant>, denied: Arc<AtomicU32>, deadline: Instant) -> Self {
        let cap = grant.as_ref().map_or(0, |g| g.max_response_bytes);
        Egress {
            inner: Arc::new(Shared {
                grant,
                requests: AtomicU32::new(0),
                bytes: Arc::new(ByteBudget::new(cap)),
                denied,
                deadline,
            }),
        }
    }
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let shared = self.inner.clone();
        Box::new(async move {
            let result = shared.send(request, options).await;
            if let Err(err) = &result
                && is_denial(err)
            {
                shared.denied.fetch_add(1, Ordering::Relaxed);
            }
            result
        })
    }
}

/// The refusals that count as denied calls (as opposed to network failures).
fn is_denial(err: &Error) -> bool {
    matches!(
        err,
        Error::HttpRequestDenied
            | Error::DestinationIpProhibited
            | Error::ConnectionLimitReached
            | Error::HttpResponseBodySize(_)
    )
}

impl Shared {
    async fn send(
        self: &Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Sent, Error> {
        let grant = self.grant.as_ref().ok_or(Error::HttpRequestDenied)?;
        if self.requests.fetch_add(1, Ordering::Relaxed) >= grant.max_requests {
            return Err(Error::ConnectionLimitReached);
        }
        let (target, allows_literal) = self.check(grant, request.uri())?;
        let request_deadline = self.request_deadline(grant, options);
        let addr = resolve(&target, allows_literal, request_deadline).await?;
        let https = target.https;
        let server_name = tls::server_name(&target.host)?;
        // The request line carries only path and query; the host header names the authority.
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
        let exchange = async {
            let tcp = TcpStream::connect(addr).await.map_err(Error::Connect)?;
            let (mut sender, conn) = if https {
                let stream = tls::connector()?
                    .connect(server_name, tcp)
                    .await
                    .map_err(Error::Tls)?;
                handshake(Box::new(stream)).await?
            } else {
                handshake(Box::new(tcp)).await?
            };
            let driver = wasmtime_wasi::runtime::spawn(conn);
            let response = sender.send_request(request).await.map_err(Error::from)?;
            Ok::<_, Error>((response, driver))
        };
        let (response, driver) = tokio::time::timeout_at(request_deadline.into(), exchange)
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        // A declared length over what is left is refused before any byte is read: the guest
        // gets the typed code (an error in the middle of a body reaches it only as an I/O
        // error, which the SDK maps by its text).
        let declared = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.bytes.remaining()) {
            return Err(Error::HttpResponseBodySize(Some(self.bytes.cap())));
        }
        let counter = self.clone();
        // Past the cap in the middle of a body: counted here, as the error does not pass
        // through `send_request`.
        let on_cap = Box::new(move || {
            counter.denied.fetch_add(1, Ordering::Relaxed);
        });
        let budget = self.bytes.clone();
        let response = response.map(|incoming| {
            CappedBody::new(incoming, budget, request_deadline.into(), on_cap).boxed_unsync()
        });
        let io = async move { driver.await.map_err(Error::from) };
        Ok((response, Box::new(io)))
    }

    /// The allow-list check: the target and whether its rule names a literal address.
    fn check(&self, grant: &HttpGrant, uri: &http::Uri) -> Result<(OwnedTarget, bool), Error> {
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return Err(Error::HttpRequestDenied),
        };
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let target = Target {
            https,
            host: &host,
            port,
            path,
        };
        let rule = grant
            .allow
            .iter()
            .find(|rule| rule.matches(&target))
            .ok_or(Error::HttpRequestDenied)?;
        let literal = matches!(rule.host, rule::HostPattern::Addr(_));
        Ok((OwnedTarget { https, host, port }, literal))
    }

    /// When this request must be done: its own timeout, never past the task's deadline.
    fn request_deadline(&self, grant: &HttpGrant, options: Option<RequestOptions>) -> Instant {
        let asked = options
            .and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
            .map_or(grant.timeout, |t| t.min(grant.timeout));
        (Instant::now() + asked).min(self.deadline)
    }
}

/// The parts of a checked URL needed to connect.
struct OwnedTarget {
    https: bool,
    host: String,
    port: u16,
}

/// Resolves once and picks the first acceptable address: public, or the literal address the
/// matching rule names. A name with no acceptable address is `destination-IP-prohibited`.
async fn resolve(
    target: &OwnedTarget,
    allows_literal: bool,
    deadline: Instant,
) -> Result<SocketAddr, Error> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        // A literal in the URL matched a rule; it is allowed only if that rule is the literal.
        return match address::non_public(ip) {
            Some(_) if !allows_literal => Err(Error::DestinationIpProhibited),
            _ => Ok(SocketAddr::new(ip, target.port)),
        };
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addrs = tokio::time::timeout_at(deadline.into(), lookup)
        .await
        .map_err(|_| Error::DnsTimeout)?
        .map_err(|err| Error::DnsError {
            rcode: Some(err.to_string()),
            info_code: None,
        })?;
    let mut refused = false;
    for addr in addrs {
        if address::non_public(addr.ip()).is_none() {
            return Ok(addr);
        }
        refused = true;
    }
    Err(if refused {
        Error::DestinationIpProhibited
    } else {
        Error::DestinationNotFound
    })
}

type Stream = Box<dyn StreamIo>;
trait StreamIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> StreamIo for T {}

async fn handshake(
    stream: Stream,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<WasiBody>,
        hyper::client::conn::http1::Connection<TokioIo<Stream>, WasiBody>,
    ),
    Error,
> {
    hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(entries: &[&str]) -> HttpGrant {
        HttpGrant {
            allow: entries
                .iter()
                .map(|e| rule::HttpRule::parse(e).unwrap_or_else(|err| panic!("{err}")))
                .collect(),
            max_requests: 2,
            max_response_bytes: 10,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    fn target(host: &str, port: u16) -> OwnedTarget {
        OwnedTarget {
            https: false,
            host: host.into(),
            port,
        }
    }

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_prohibited_unless_named_literally() {
        let err = resolve(&target("localhost", 80), false, far()).await;
        assert!(
            matches!(err, Err(Error::DestinationIpProhibited)),
            "{err:?}"
        );
        let err = resolve(&target("127.0.0.1", 80), false, far()).await;
        assert!(
            matches!(err, Err(Error::DestinationIpProhibited)),
            "{err:?}"
        );
        let ok = resolve(&target("127.0.0.1", 80), true, far()).await;
        assert!(matches!(ok, Ok(addr) if addr.ip().is_loopback()), "{ok:?}");
    }

    #[test]
    fn the_allow_list_decides_and_says_whether_the_rule_is_literal() {
        let shared = Shared {
            grant: None,
            requests: AtomicU32::new(0),
            bytes: Arc::new(ByteBudget::new(0)),
            denied: Arc::default(),
            deadline: far(),
        };
        let g = grant(&["http://127.0.0.1:8080", "https://example.org"]);
        let uri = |s: &str| s.parse::<http::Uri>().unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            shared.check(&g, &uri("http://127.0.0.1:8080/x")),
            Ok((_, true))
        ));
        assert!(matches!(
            shared.check(&g, &uri("https://example.org/")),
            Ok((_, false))
        ));
        for denied in [
            "http://127.0.0.1:8081/",
            "http://example.org/",
            "https://example.org:8443/",
            "https://evil.org/",
        ] {
            assert!(
                matches!(
                    shared.check(&g, &uri(denied)),
                    Err(Error::HttpRequestDenied)
                ),
                "{denied}"
            );
        }
    }
}
