//! The accept loop: plain TCP or TLS, HTTP/1.1 with a header read timeout, the peer address as
//! `ConnectInfo` for the bootstrap check, and graceful shutdown (stop accepting, let open
//! requests finish).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How connections are served.
#[derive(Debug, Clone)]
pub struct Transport {
    pub header_timeout: Duration,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Accept on `listener` until `shutdown` resolves, then wait for open connections to finish
/// their requests.
pub async fn run(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = transport.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::debug!("accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // RPC round trips are a few hundred bytes each way: Nagle would add up to 40 ms.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
        let watcher = graceful.watcher();
        let (router, acceptor, header_timeout) =
            (router.clone(), acceptor.clone(), transport.header_timeout);
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(tcp, peer, router, header_timeout, watcher).await,
                Some(acceptor) => {
                    // A client that never finishes its handshake is cut off like a slow header.
                    match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, peer, router, header_timeout, watcher).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    header_timeout: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!(%peer, "connection ended: {err}");
    }
}
