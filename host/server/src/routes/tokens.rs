//! `POST /v1/tokens`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}` and `GET /v1/audit` (all
//! `admin`; the first token may be created from loopback while none exists), and
//! `GET /v1/whoami` (any valid token: what it may do).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use wasmboost_broker::{now_ms, validate_queue_name};

use super::{App, Params};
use crate::audit::{self, AuditEntry};
use crate::auth::token::{self, Grant};
use crate::auth::{Caller, Scope, TokenInfo};
use crate::body::{self, Cap, SMALL_BODY_BYTES};
use crate::error::ApiError;

/// Body of `POST /v1/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub scopes: Vec<Scope>,
    /// Limit a `publish` scope to these queues (empty = every queue).
    #[serde(default)]
    pub queues: Vec<String>,
    /// Expire this many seconds after creation (absent = never).
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

/// 201 body of `POST /v1/tokens`: the secret, shown this once, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// Body of `DELETE /v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

/// Body of `GET /v1/whoami`: the caller and what it may do, so a client (the dashboard) can
/// hide what the host would refuse. The host still checks every request itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The token id, or `local` on an unauthenticated loopback host.
    pub id: String,
    pub scopes: Vec<Scope>,
    /// Queues a `publish` scope is limited to (empty = every queue).
    pub queues: Vec<String>,
    pub expires_ms: Option<u64>,
    /// False on an unauthenticated loopback host (no token exists): every caller may do all.
    pub authenticated: bool,
}

/// `?limit=` of the audit log.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    #[serde(default = "default_audit_limit")]
    pub limit: usize,
}

fn default_audit_limit() -> usize {
    100
}

fn state_error(err: wasmboost_broker::StateError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "state_error",
        format!("the state store failed: {err}"),
    )
}

fn validate(request: &CreateToken, first: bool) -> Result<(), ApiError> {
    if request.scopes.is_empty() {
        return Err(ApiError::bad_request(
            "a token needs at least one scope: publish, read, deploy or admin",
        ));
    }
    if !request.queues.is_empty() && !request.scopes.contains(&Scope::Publish) {
        return Err(ApiError::bad_request(
            "queues limit the publish scope: add scope publish or drop the queues",
        ));
    }
    for queue in &request.queues {
        validate_queue_name(queue).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if first && !request.scopes.contains(&Scope::Admin) {
        return Err(ApiError::bad_request(
            "the first token must have scope admin: once a token exists, only an admin token \
             can create more",
        ));
    }
    Ok(())
}

/// Mint a token; the answer holds its secret, which is never shown again.
pub async fn create(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let cap = Cap {
        bytes: SMALL_BODY_BYTES,
        what: "token request",
        key: "a fixed cap",
    };
    let body = body::read(body, &headers, cap, app.body_timeout).await?;
    let request: CreateToken = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid token request: {e}")))?;
    let first = app.auth.tokens().await?.is_empty();
    validate(&request, first)?;
    let now = now_ms();
    let expires_ms = request.expires_in_secs.map(|secs| {
        let ms = Duration::from_secs(secs).as_millis();
        now.saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
    });
    let grant = Grant {
        scopes: request.scopes,
        queues: request.queues,
        expires_ms,
    };
    let minted = token::mint(grant, caller.who(), now);
    let doc = serde_json::to_vec(&minted.doc)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let store = app.control.state();
    store
        .put_token(&minted.doc.id, doc.into())
        .await
        .map_err(state_error)?;
    app.auth.invalidate();
    let info = TokenInfo::from(&minted.doc);
    let scopes: Vec<&str> = info.scopes.iter().map(|s| s.as_str()).collect();
    let entry = AuditEntry::new(&caller, "token.create").detail(format!(
        "token {} scopes [{}] queues [{}]",
        info.id,
        scopes.join(", "),
        info.queues.join(", ")
    ));
    audit::record(&*store, entry).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: minted.token,
            info,
        }),
    ))
}

/// Every token, oldest first, without secrets or hashes.
pub async fn list(State(app): State<App>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    let tokens = app.auth.tokens().await?;
    let mut infos: Vec<TokenInfo> = tokens
        .by_id
        .values()
        .map(|doc| TokenInfo::from(&**doc))
        .collect();
    infos.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(Json(infos))
}

/// Delete a token: refused at once on this host, within the token cache's TTL on the others.
pub async fn revoke(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let store = app.control.state();
    if !store.delete_token(&id).await.map_err(state_error)? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_token",
            format!("no token with id {:?}", id.escape_debug().to_string()),
        ));
    }
    app.auth.invalidate();
    let entry = AuditEntry::new(&caller, "token.revoke").detail(format!("token {id}"));
    audit::record(&*store, entry).await;
    Ok(Json(Revoked { id, revoked: true }))
}

/// The newest `?limit=` (default 100) audit entries, newest first.
pub async fn audit(
    State(app): State<App>,
    Params(query): Params<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = query.limit.min(audit::AUDIT_KEEP);
    let raw = app
        .control
        .state()
        .audit(limit)
        .await
        .map_err(state_error)?;
    let entries = raw
        .iter()
        .filter_map(|bytes| serde_json::from_slice(bytes).ok())
        .collect();
    Ok(Json(entries))
}

/// What the calling token may do.
pub async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(match caller {
        Caller::Local => WhoAmI {
            id: caller.who().to_owned(),
            scopes: Scope::ALL.to_vec(),
            queues: Vec::new(),
            expires_ms: None,
            authenticated: false,
        },
        Caller::Token(doc) => WhoAmI {
            id: doc.id.clone(),
            scopes: doc.scopes.clone(),
            queues: doc.queues.clone(),
            expires_ms: doc.expires_ms,
            authenticated: true,
        },
    })
}
