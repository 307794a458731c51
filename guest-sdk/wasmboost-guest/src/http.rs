//! Blocking outbound HTTP over the standard `wasi:http/outgoing-handler`, reaching only what
//! the queue's `grants.http` allow-list names.
//!
//! ```ignore
//! use wasmboost_guest::http;
//! let page = http::get("https://example.org/")?.text()?;
//! let created = http::post_json("https://api.example.org/items", &serde_json::json!({"a": 1}))?;
//! let resp = http::Request::get("https://api.example.org/me")
//!     .header("authorization", &format!("Bearer {key}"))
//!     .send()?;
//! assert_eq!(resp.status(), 200);
//! ```
//!
//! Redirects are not followed: a 3xx comes back as a response, and following it is a new
//! request that the host checks against the allow-list again. Errors say whether the host's
//! grants refused the request ([`HttpError::is_denied`]) and carry the `wasi:http` error code.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

/// Largest chunk written to the request body stream at once (the host's minimum guarantee).
const WRITE_CHUNK: usize = 4096;
/// Largest chunk read from the response body at once.
const READ_CHUNK: u64 = 64 * 1024;

/// Why a request did not produce a response (or its body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    code: String,
    denied: bool,
    url: String,
}

impl HttpError {
    fn new(url: &str, code: &ErrorCode) -> Self {
        let denied = matches!(
            code,
            ErrorCode::HttpRequestDenied
                | ErrorCode::DestinationIpProhibited
                | ErrorCode::ConnectionLimitReached
                | ErrorCode::HttpResponseBodySize(_)
        );
        HttpError {
            code: code_name(code),
            denied,
            url: url.to_owned(),
        }
    }

    fn other(url: &str, code: &str) -> Self {
        HttpError {
            code: code.to_owned(),
            denied: false,
            url: url.to_owned(),
        }
    }

    /// The `wasi:http` error code, e.g. `HTTP-request-denied`, `destination-IP-prohibited`,
    /// `connection-limit-reached`, `HTTP-response-body-size`, `connection-timeout`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Whether the queue's grants refused the request (not on the allow-list, a non-public
    /// address, over the request count or the response-byte cap).
    pub fn is_denied(&self) -> bool {
        self.denied
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.denied {
            write!(
                f,
                "http request to {} refused by the queue's grants ({})",
                self.url, self.code
            )
        } else {
            write!(f, "http request to {} failed ({})", self.url, self.code)
        }
    }
}

impl std::error::Error for HttpError {}

/// The WIT name of an error code.
fn code_name(code: &ErrorCode) -> String {
    let name = match code {
        ErrorCode::DnsTimeout => "DNS-timeout",
        ErrorCode::DnsError(_) => "DNS-error",
        ErrorCode::DestinationNotFound => "destination-not-found",
        ErrorCode::DestinationUnavailable => "destination-unavailable",
        ErrorCode::DestinationIpProhibited => "destination-IP-prohibited",
        ErrorCode::DestinationIpUnroutable => "destination-IP-unroutable",
        ErrorCode::ConnectionRefused => "connection-refused",
        ErrorCode::ConnectionTerminated => "connection-terminated",
        ErrorCode::ConnectionTimeout => "connection-timeout",
        ErrorCode::ConnectionReadTimeout => "connection-read-timeout",
        ErrorCode::ConnectionLimitReached => "connection-limit-reached",
        ErrorCode::TlsProtocolError => "TLS-protocol-error",
        ErrorCode::TlsCertificateError => "TLS-certificate-error",
        ErrorCode::HttpRequestDenied => "HTTP-request-denied",
        ErrorCode::HttpRequestUriInvalid => "HTTP-request-URI-invalid",
        ErrorCode::HttpResponseIncomplete => "HTTP-response-incomplete",
        ErrorCode::HttpResponseBodySize(_) => "HTTP-response-body-size",
        ErrorCode::HttpResponseTimeout => "HTTP-response-timeout",
        ErrorCode::HttpProtocolError => "HTTP-protocol-error",
        ErrorCode::InternalError(_) => "internal-error",
        other => return format!("{other:?}"),
    };
    name.to_owned()
}

/// A response with its whole body read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The body bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 is replaced).
    pub fn text(&self) -> Result<String, HttpError> {
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: &str) -> Request {
        Request::new(Method::Get, url)
    }

    /// A `POST` to `url`.
    pub fn post(url: &str) -> Request {
        Request::new(Method::Post, url)
    }

    fn new(method: Method, url: &str) -> Request {
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        let url = self.url.clone();
        let parts =
            Url::parse(&url).ok_or_else(|| HttpError::other(&url, "HTTP-request-URI-invalid"))?;
        let request = self.outgoing(&parts)?;
        let future =
            outgoing_handler::handle(request, None).map_err(|c| HttpError::new(&url, &c))?;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(HttpError::new(&url, &code)),
            _ => return Err(HttpError::other(&url, "internal-error")),
        };
        let status = response.status();
        let headers = response.headers().entries();
        let body = response
            .consume()
            .map_err(|()| HttpError::other(&url, "internal-error"))?;
        let body = read_body(&url, body)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn outgoing(&self, url: &Url<'_>) -> Result<OutgoingRequest, HttpError> {
        let bad = |what: &str| HttpError::other(&self.url, what);
        let headers = Fields::new();
        for (name, value) in &self.headers {
            headers
                .append(name, value.as_bytes())
                .map_err(|_| bad("HTTP-request-header-invalid"))?;
        }
        let request = OutgoingRequest::new(headers);
        let scheme = if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        request
            .set_method(&self.method)
            .map_err(|()| bad("HTTP-request-method-invalid"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| bad("HTTP-request-URI-invalid"))?;
        request
            .set_authority(Some(url.authority))
            .map_err(|()| bad("HTTP-request-URI-invalid"))?;
        request
            .set_path_with_query(Some(&url.path))
            .map_err(|()| bad("HTTP-request-URI-invalid"))?;
        let body = request.body().map_err(|()| bad("internal-error"))?;
        write_body(&self.url, &body, &self.body)?;
        OutgoingBody::finish(body, None).map_err(|c| HttpError::new(&self.url, &c))?;
        Ok(request)
    }
}

fn write_body(url: &str, body: &OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| HttpError::other(url, "internal-error"))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|err| stream_error(url, err))?;
    }
    Ok(())
}

fn read_body(url: &str, body: IncomingBody) -> Result<Vec<u8>, HttpError> {
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| HttpError::other(url, "internal-error"))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(err) => return Err(stream_error(url, err)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

fn stream_error(url: &str, err: StreamError) -> HttpError {
    match err {
        StreamError::LastOperationFailed(io) => match wasip2::http::types::http_error_code(&io) {
            Some(code) => HttpError::new(url, &code),
            // The host's byte cap, hit in the middle of a body, reaches the stream without its
            // code (wasmtime-wasi-http 48 keeps only the text there).
            None if io.to_debug_string().contains("response body size") => {
                HttpError::new(url, &ErrorCode::HttpResponseBodySize(None))
            }
            None => HttpError::other(url, "connection-terminated"),
        },
        StreamError::Closed => HttpError::other(url, "connection-terminated"),
    }
}

/// `GET url` and read the response.
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::get(url).send()
}

/// `POST url` with `value` as a JSON body and read the response.
pub fn post_json<T: Serialize + ?Sized>(url: &str, value: &T) -> Result<Response, HttpError> {
    let body = serde_json::to_vec(value)
        .map_err(|_| HttpError::other(url, "HTTP-request-body-invalid"))?;
    Request::post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
}

/// The parts of an `http(s)://authority/path?query` URL the request needs.
struct Url<'a> {
    https: bool,
    authority: &'a str,
    path: String,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Option<Url<'a>> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Some(Url {
            https,
            authority,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_parts() {
        let u = Url::parse("https://example.org:8443/a/b?x=1#frag").expect("valid");
        assert_eq!(
            (u.https, u.authority, u.path),
            (true, "example.org:8443", "/a/b?x=1")
        );
        let u = Url::parse("http://127.0.0.1:8080").expect("valid");
        assert_eq!(
            (u.https, u.authority, u.path),
            (false, "127.0.0.1:8080", "/")
        );
        assert!(Url::parse("ftp://x").is_none());
        assert!(Url::parse("http://user@x/").is_none());
    }
}
