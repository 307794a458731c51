//! Browser defence, in every mode (even unauthenticated loopback): no web page the operator
//! visits can drive the host.
//!
//! - `Host` must be a loopback name or address while the listener is on loopback, so a
//!   DNS-rebinding page (`Host: attacker.example`) is refused.
//! - A state-changing request (any method but GET/HEAD/OPTIONS) carrying an `Origin` other than
//!   the host's own is refused (`Origin: null` included).
//! - A state-changing request must say `Content-Type: application/json` (`application/wasm`
//!   for a deploy, JSON lines or JSON for a batch), even with an empty body. A page can send
//!   only `text/plain`, form or multipart bodies without a CORS preflight, and this API never
//!   answers a preflight, so a browser never sends such a request.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Media types a deploy accepts.
const WASM: &[&str] = &["application/wasm"];
/// Media types a batch publish accepts (one JSON object per line).
const JSON_LINES: &[&str] = &[
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
];
/// Media types every other state-changing route accepts.
const JSON: &[&str] = &["application/json"];

/// What the guard checks on this listener.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// Refuse a `Host` that is not a loopback name or address (the listener is on loopback).
    pub loopback_host_only: bool,
}

/// Middleware on the whole router, before authentication.
pub async fn layer(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.inspect(request.method(), request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl Guard {
    pub fn inspect(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}"));
        if self.loopback_host_only
            && let Some(host) = host
            && !is_loopback_host(host)
        {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "foreign_host",
                format!(
                    "Host {host:?} is not a loopback name: this host listens on loopback only \
                     (a request naming another host is a DNS-rebinding attempt or a misrouted proxy)"
                ),
            ));
        }
        if is_safe(method) {
            return Ok(());
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("\u{fffd}");
            if !same_origin(origin, host) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "foreign_origin",
                    format!(
                        "{method} from Origin {origin:?} refused: state-changing requests are \
                         accepted only without an Origin or from the host's own origin"
                    ),
                ));
            }
        }
        let accepted = accepted_types(method, path);
        let given = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(media_type);
        if given.as_deref().is_some_and(|t| accepted.contains(&t)) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "{method} {path} needs Content-Type {} (got {}), even with an empty body, so \
                 that no web page can send it",
                accepted.join(" or "),
                given.map_or_else(|| "none".to_owned(), |t| format!("{t:?}"))
            ),
        ))
    }
}

fn accepted_types(method: &Method, path: &str) -> &'static [&'static str] {
    if *method == Method::PUT && path.ends_with("/module") {
        WASM
    } else if path.ends_with("/messages:batch") {
        JSON_LINES
    } else {
        JSON
    }
}

/// `application/json; charset=utf-8` -> `application/json`.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `localhost`, `127.0.0.1:7878`, `[::1]:7878`, ... with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => host,
    }
}

/// Whether `origin` (`scheme://authority`) names the same authority as the `Host` header.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // `null` and anything malformed
    };
    matches!(scheme, "http" | "https") && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("valid header"));
        }
        map
    }

    const LOOPBACK: Guard = Guard {
        loopback_host_only: true,
    };

    #[test]
    fn loopback_hosts_pass_and_others_do_not() {
        for host in [
            "localhost",
            "localhost:7878",
            "127.0.0.1:7878",
            "127.9.9.9",
            "[::1]:7878",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:7878",
            "10.0.0.1:7878",
            "localhost.attacker.example",
            "[::2]:1",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn rebinding_deploy_is_refused() {
        let h = headers(&[
            ("host", "attacker.example:7878"),
            ("content-type", "application/wasm"),
        ]);
        let err = LOOPBACK
            .inspect(&Method::PUT, "/v1/queues/add/module", &h)
            .expect_err("foreign host");
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (403, "foreign_host")
        );
        let open = Guard {
            loopback_host_only: false,
        };
        assert!(
            open.inspect(&Method::PUT, "/v1/queues/add/module", &h)
                .is_ok()
        );
    }

    #[test]
    fn cross_origin_and_plain_text_posts_are_refused() {
        let h = headers(&[
            ("host", "127.0.0.1:7878"),
            ("origin", "https://evil.example"),
            ("content-type", "application/json"),
        ]);
        let err = LOOPBACK
            .inspect(&Method::POST, "/v1/queues/add/pause", &h)
            .expect_err("foreign origin");
        assert_eq!(err.code, "foreign_origin");
        let h = headers(&[("host", "127.0.0.1:7878"), ("content-type", "text/plain")]);
        let err = LOOPBACK
            .inspect(&Method::POST, "/v1/queues/add/messages", &h)
            .expect_err("text/plain");
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (415, "unsupported_media_type")
        );
        assert!(err.message.contains("text/plain"), "{}", err.message);
        let h = headers(&[("host", "127.0.0.1:7878")]);
        let err = LOOPBACK
            .inspect(&Method::DELETE, "/v1/queues/add/dlq", &h)
            .expect_err("no content type");
        assert_eq!(err.code, "unsupported_media_type");
        assert!(LOOPBACK.inspect(&Method::GET, "/v1/queues", &h).is_ok());
    }

    #[test]
    fn same_origin_and_right_types_pass() {
        let h = headers(&[
            ("host", "127.0.0.1:7878"),
            ("origin", "http://127.0.0.1:7878"),
            ("content-type", "application/json; charset=utf-8"),
        ]);
        assert!(
            LOOPBACK
                .inspect(&Method::POST, "/v1/queues/add/pause", &h)
                .is_ok()
        );
        let h = headers(&[
            ("host", "localhost"),
            ("content-type", "application/x-ndjson"),
        ]);
        assert!(
            LOOPBACK
                .inspect(&Method::POST, "/v1/queues/add/messages:batch", &h)
                .is_ok()
        );
        let err = LOOPBACK
            .inspect(&Method::POST, "/v1/queues/add/messages", &h)
            .expect_err("one message is JSON, not JSON lines");
        assert_eq!(err.code, "unsupported_media_type");
        let h = headers(&[("host", "localhost"), ("content-type", "application/json")]);
        let err = LOOPBACK
            .inspect(&Method::PUT, "/v1/queues/add/module", &h)
            .expect_err("deploy needs application/wasm");
        assert_eq!(err.code, "unsupported_media_type");
        assert!(err.message.contains("application/wasm"), "{}", err.message);
    }
}
