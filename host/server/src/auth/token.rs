//! API tokens: the `wbt_<id>_<secret>` format, scopes, and the document the state store keeps
//! (the sha256 of the secret, never the secret itself).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "wbt_";
/// Random bytes in a token id (hex-encoded: 16 characters).
const ID_BYTES: usize = 8;
/// Random bytes in a token secret (hex-encoded: 64 characters).
const SECRET_BYTES: usize = 32;

/// What a token may do. `admin` implies every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Publish messages (to every queue, or only to the token's `queues`) and read the records
    /// of tasks on those queues.
    Publish,
    /// Every `GET`: queue stats, versions, history, dead letters, task records, `/metrics`.
    Read,
    /// Change what runs: deploy, rollback, pause, resume.
    Deploy,
    /// Everything, including dead-letter replay/purge, tokens and the audit log.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Publish, Scope::Read, Scope::Deploy, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Publish => "publish",
            Scope::Read => "read",
            Scope::Deploy => "deploy",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("unknown scope {text:?}: use publish, read, deploy or admin"))
    }
}

/// What the state store keeps per token (JSON), keyed by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenDoc {
    pub id: String,
    pub scopes: Vec<Scope>,
    /// Queues a `publish` scope is limited to; empty = every queue.
    #[serde(default)]
    pub queues: Vec<String>,
    pub created_ms: u64,
    /// After this the token is refused (401); `None` = never expires.
    pub expires_ms: Option<u64>,
    /// Who created it: a token id, or `local` (bootstrap / unauthenticated loopback mode).
    pub created_by: String,
    /// sha256 of the secret, hex.
    pub hash: String,
}

/// A token as `GET /v1/tokens` shows it: the document without its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub scopes: Vec<Scope>,
    pub queues: Vec<String>,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub created_by: String,
}

impl From<&TokenDoc> for TokenInfo {
    fn from(doc: &TokenDoc) -> Self {
        TokenInfo {
            id: doc.id.clone(),
            scopes: doc.scopes.clone(),
            queues: doc.queues.clone(),
            created_ms: doc.created_ms,
            expires_ms: doc.expires_ms,
            created_by: doc.created_by.clone(),
        }
    }
}

/// A freshly minted token: the full secret text (shown once) and the document to store.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    pub doc: TokenDoc,
}

/// What a new token may do and for how long.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    pub scopes: Vec<Scope>,
    pub queues: Vec<String>,
    pub expires_ms: Option<u64>,
}

/// Make a new token with fresh random id and secret (the thread RNG is a CSPRNG seeded by the
/// operating system).
pub fn mint(grant: Grant, created_by: &str, now_ms: u64) -> Minted {
    let id = hex::encode(rand::random::<[u8; ID_BYTES]>());
    let secret = hex::encode(rand::random::<[u8; SECRET_BYTES]>());
    let mut scopes = grant.scopes;
    scopes.sort();
    scopes.dedup();
    let doc = TokenDoc {
        id: id.clone(),
        scopes,
        queues: grant.queues,
        created_ms: now_ms,
        expires_ms: grant.expires_ms,
        created_by: created_by.to_owned(),
        hash: hex::encode(hash_secret(&secret)),
    };
    Minted {
        token: format!("{TOKEN_PREFIX}{id}_{secret}"),
        doc,
    }
}

/// Split `wbt_<id>_<secret>` into id and secret; `None` if it is not shaped like a token.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == 2 * n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, ID_BYTES) && hex_of(secret, SECRET_BYTES)).then_some((id, secret))
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl TokenDoc {
    /// Whether `secret` is this token's, compared in constant time.
    pub fn verify(&self, secret: &str) -> bool {
        let Ok(stored) = hex::decode(&self.hash) else {
            return false;
        };
        constant_time_eq(&stored, &hash_secret(secret))
    }

    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|at| at <= now_ms)
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }

    /// Whether this token may publish to `queue`.
    pub fn may_publish(&self, queue: &str) -> bool {
        self.scopes.contains(&Scope::Admin)
            || (self.scopes.contains(&Scope::Publish)
                && (self.queues.is_empty() || self.queues.iter().any(|q| q == queue)))
    }
}

/// Equal slices, in time that depends only on their lengths (both are 32-byte hashes here).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_and_verify_and_others_do_not() {
        let grant = Grant {
            scopes: vec![Scope::Read, Scope::Publish, Scope::Read],
            ..Grant::default()
        };
        let minted = mint(grant, "local", 1);
        assert_eq!(minted.doc.scopes, vec![Scope::Publish, Scope::Read]);
        let (id, secret) = parse(&minted.token).expect("a minted token parses");
        assert_eq!(id, minted.doc.id);
        assert!(minted.doc.verify(secret));
        let other = mint(Grant::default(), "local", 1);
        let (_, other_secret) = parse(&other.token).expect("parses");
        assert!(!minted.doc.verify(other_secret));
        assert!(
            !minted.token.contains(&minted.doc.hash),
            "the hash is not the secret"
        );
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "wbt_",
            "wbt_abc_def",
            "xyz_0123456789abcdef_00",
            "wbt_zz_zz",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn admin_implies_every_scope_and_queue_limits_bind_publish() {
        let mut doc = mint(Grant::default(), "local", 1).doc;
        doc.scopes = vec![Scope::Publish];
        doc.queues = vec!["a".into()];
        assert!(doc.may_publish("a") && !doc.may_publish("b"));
        assert!(!doc.has(Scope::Read));
        doc.scopes = vec![Scope::Admin];
        assert!(doc.may_publish("b") && doc.has(Scope::Read) && doc.has(Scope::Deploy));
    }

    #[test]
    fn expiry_is_inclusive() {
        let mut doc = mint(Grant::default(), "local", 1).doc;
        doc.expires_ms = Some(10);
        assert!(!doc.is_expired(9));
        assert!(doc.is_expired(10));
    }
}
