//! [`TokenCache`]: the token documents of the state store, re-read at most once per
//! [`TOKEN_CACHE_TTL`], so an RPC does not pay a store round trip per request.
//!
//! The price is the revocation delay: a token revoked through *another* host sharing the
//! store is still accepted here for up to [`TOKEN_CACHE_TTL`]. A change made through this host
//! invalidates the cache at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmboost_broker::{StateError, StateStore};

use super::token::TokenDoc;

/// How long validated token documents are reused before the store is read again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Every token document the store holds, by id (unreadable documents are skipped with a
/// warning: they can only fail closed).
#[derive(Debug, Default)]
pub struct Tokens {
    pub by_id: BTreeMap<String, Arc<TokenDoc>>,
}

impl Tokens {
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct TokenCache {
    store: Arc<dyn StateStore>,
    slot: Mutex<Option<(Instant, Arc<Tokens>)>>,
}

impl TokenCache {
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        TokenCache {
            store,
            slot: Mutex::new(None),
        }
    }

    /// The token documents, from the cache when younger than [`TOKEN_CACHE_TTL`].
    pub async fn get(&self) -> Result<Arc<Tokens>, StateError> {
        if let Some((at, tokens)) = &*self.slot.lock().unwrap_or_else(PoisonError::into_inner)
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(Arc::clone(tokens));
        }
        let tokens = Arc::new(self.load().await?);
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&tokens)));
        Ok(tokens)
    }

    /// Forget the cached documents (after a token was created or revoked here).
    pub fn invalidate(&self) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn load(&self) -> Result<Tokens, StateError> {
        let mut tokens = Tokens::default();
        for (id, raw) in self.store.tokens().await? {
            match serde_json::from_slice::<TokenDoc>(&raw) {
                Ok(doc) if doc.id == id => {
                    tokens.by_id.insert(id, Arc::new(doc));
                }
                // Still counts as "a token exists", so a damaged store never reopens the host.
                _ => {
                    tracing::warn!(token_id = %id.escape_debug(), "skipping an unreadable token document");
                    tokens.by_id.insert(id.clone(), Arc::new(unusable(&id)));
                }
            }
        }
        Ok(tokens)
    }
}

/// A document no secret verifies against (its hash is not hex).
fn unusable(id: &str) -> TokenDoc {
    TokenDoc {
        id: id.to_owned(),
        scopes: Vec::new(),
        queues: Vec::new(),
        created_ms: 0,
        expires_ms: Some(0),
        created_by: String::new(),
        hash: "unreadable".to_owned(),
    }
}
