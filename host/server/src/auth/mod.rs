//! Who may call what.
//!
//! - [`token`]: the token format, scopes and the stored document (a hash, never the secret).
//! - [`need`]: what each route needs, in one table (unlisted routes need `admin`).
//! - `cache`: token documents cached for [`TOKEN_CACHE_TTL`] (the revocation delay).
//!
//! While the state store holds no token, a host whose listener is on loopback (or that was
//! started with `--insecure`) runs unauthenticated: every caller is [`Caller::Local`]. Once any
//! token exists (even an expired one), every route but `/healthz` needs
//! `Authorization: Bearer wbt_…`. A host on a non-loopback address without tokens answers 401
//! to everything except the bootstrap: `POST /v1/tokens` from a loopback peer.

pub mod need;
pub mod token;

mod cache;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use wasmboost_broker::{StateStore, now_ms};

pub use cache::{TOKEN_CACHE_TTL, Tokens};
pub use need::Need;
pub use token::{Scope, TokenDoc, TokenInfo};

use crate::error::ApiError;
use crate::routes::App;

/// The route that mints tokens: reachable from a loopback peer while no token exists.
pub const TOKENS_ROUTE: &str = "/v1/tokens";

/// Who is calling, as the auth layer established it (a request extension on every route).
#[derive(Debug, Clone)]
pub enum Caller {
    /// No token exists and the host allows unauthenticated use (loopback or `--insecure`).
    Local,
    /// A valid, unexpired token.
    Token(Arc<TokenDoc>),
}

impl Caller {
    /// For the audit log: the token id, or `local`.
    pub fn who(&self) -> &str {
        match self {
            Caller::Local => "local",
            Caller::Token(doc) => &doc.id,
        }
    }

    /// Whether this caller may see the record of a task on `queue`.
    pub fn may_read_task(&self, queue: &str) -> bool {
        match self {
            Caller::Local => true,
            Caller::Token(doc) => doc.has(Scope::Read) || doc.may_publish(queue),
        }
    }

    /// Whether this caller may publish to every one of `queues` (submit or cancel a workflow).
    pub fn may_publish_all(&self, queues: &[String]) -> bool {
        match self {
            Caller::Local => true,
            Caller::Token(doc) => queues.iter().all(|q| doc.may_publish(q)),
        }
    }

    /// Whether this caller holds `read` (sees every queue's tasks).
    pub fn may_read_all(&self) -> bool {
        match self {
            Caller::Local => true,
            Caller::Token(doc) => doc.has(Scope::Read),
        }
    }

    /// Whether this caller may cancel a task on `queue` (`None`: a task without a record,
    /// whose queue is unknown, which only `admin` may cancel).
    pub fn may_cancel_task(&self, queue: Option<&str>) -> bool {
        match (self, queue) {
            (Caller::Local, _) => true,
            (Caller::Token(doc), Some(queue)) => doc.may_publish(queue),
            (Caller::Token(doc), None) => doc.has(Scope::Admin),
        }
    }
}

/// The token check shared by every route.
#[derive(Debug)]
pub struct Auth {
    cache: cache::TokenCache,
    /// Unauthenticated use is allowed while no token exists (loopback listener or `--insecure`).
    open_without_tokens: bool,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl Auth {
    pub fn new(store: Arc<dyn StateStore>, open_without_tokens: bool) -> Self {
        Auth {
            cache: cache::TokenCache::new(store),
            open_without_tokens,
        }
    }

    /// The current token documents (cached).
    pub async fn tokens(&self) -> Result<Arc<Tokens>, ApiError> {
        self.cache.get().await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "state_error",
                format!("cannot read the API tokens: {e}"),
            )
        })
    }

    /// Forget cached documents after a change made through this host.
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }

    /// Establish the caller of a request and check it against `need`. `mints` says the
    /// request is `POST /v1/tokens`, which a loopback peer may make while no token exists.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        mints: bool,
        need: &Need,
    ) -> Result<Caller, ApiError> {
        if *need == Need::Nothing {
            return Ok(Caller::Local);
        }
        let tokens = self.tokens().await?;
        if tokens.is_empty() {
            let bootstrap = mints && peer.is_some_and(|p| p.ip().is_loopback());
            if self.open_without_tokens || bootstrap {
                return Ok(Caller::Local);
            }
            return Err(unauthorized(
                "this host listens beyond loopback and has no API token yet: create the first \
                 one on the host itself with `wasmboost token create --scope admin`",
            ));
        }
        let doc = authenticate(&tokens, headers)?;
        authorize(&doc, need)?;
        Ok(Caller::Token(doc))
    }
}

/// The valid, unexpired token the request carries.
fn authenticate(tokens: &Tokens, headers: &HeaderMap) -> Result<Arc<TokenDoc>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "this host requires an API token: send `Authorization: Bearer wbt_…` \
             (CLI: --token or WASMBOOST_TOKEN)",
        ));
    };
    let bearer = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let invalid = || unauthorized("invalid API token (unknown, revoked or malformed)");
    let (id, secret) = bearer.and_then(token::parse).ok_or_else(invalid)?;
    let doc = tokens.by_id.get(id).ok_or_else(invalid)?;
    if !doc.verify(secret) {
        return Err(invalid());
    }
    if doc.is_expired(now_ms()) {
        let at = doc.expires_ms.unwrap_or_default();
        let when = jiff::Timestamp::from_millisecond(i64::try_from(at).unwrap_or(i64::MAX))
            .map_or_else(|_| format!("{at} ms"), |t| t.to_string());
        return Err(unauthorized(format!("API token {id} expired at {when}")));
    }
    Ok(Arc::clone(doc))
}

fn scopes_of(doc: &TokenDoc) -> String {
    let names: Vec<&str> = doc.scopes.iter().map(|s| s.as_str()).collect();
    names.join(", ")
}

fn authorize(doc: &TokenDoc, need: &Need) -> Result<(), ApiError> {
    match need {
        Need::Nothing => Ok(()),
        Need::Scope(scope) if doc.has(*scope) => Ok(()),
        Need::Scope(scope) => Err(forbidden(format!(
            "token {} (scopes: {}) lacks scope {scope} for this route",
            doc.id,
            scopes_of(doc)
        ))),
        Need::Publish(queue) if doc.may_publish(queue) => Ok(()),
        Need::Publish(queue) if doc.has(Scope::Publish) => Err(forbidden(format!(
            "token {} may publish only to queues [{}], not to {queue:?}",
            doc.id,
            doc.queues.join(", ")
        ))),
        Need::Publish(_) => Err(forbidden(format!(
            "token {} (scopes: {}) lacks scope publish",
            doc.id,
            scopes_of(doc)
        ))),
        Need::TaskRecord if doc.has(Scope::Read) || doc.has(Scope::Publish) => Ok(()),
        Need::Token => Ok(()),
        Need::TaskRecord => Err(forbidden(format!(
            "token {} (scopes: {}) needs scope read or publish to see task records",
            doc.id,
            scopes_of(doc)
        ))),
        Need::CancelTask if doc.has(Scope::Publish) => Ok(()),
        Need::CancelTask => Err(forbidden(format!(
            "token {} (scopes: {}) needs scope publish to cancel tasks",
            doc.id,
            scopes_of(doc)
        ))),
        Need::Workflow if doc.has(Scope::Publish) || doc.has(Scope::Read) => Ok(()),
        Need::Workflow => Err(forbidden(format!(
            "token {} (scopes: {}) needs scope publish or read for workflows",
            doc.id,
            scopes_of(doc)
        ))),
    }
}

/// Middleware on every route: establish the [`Caller`], check the route's [`Need`], and hand
/// the caller to the handler as a request extension.
pub async fn layer(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let params = RawPathParams::from_request_parts(&mut parts, &app)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let queue = params
        .iter()
        .find(|(name, _)| *name == "queue")
        .map(|(_, value)| value.to_owned());
    let need = need::of(&parts.method, &route, queue.as_deref());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mints = route == TOKENS_ROUTE && parts.method == axum::http::Method::POST;
    let caller = app.auth.check(&parts.headers, peer, mints, &need).await?;
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}
