//! The key layout marker and the migration of layout-1 data on connect.
//!
//! Every connect reads `<prefix>:g:layout`. `"2"`: nothing to do. Absent or `"1-2"` (a
//! migration was interrupted): the host takes `<prefix>:g:migrating` (`SET NX PX`, refreshed
//! while it works; other hosts wait for the marker, and take over if the lock expires) and
//! renames every layout-1 key to its layout-2 name, in two passes that can each be run again:
//!
//! 1. queue keys `<prefix>:<queue>:<suffix>` → `<prefix>:q:{<queue>}:<suffix>`. A key counts
//!    as a queue key only when its suffix is one layout 1 wrote *and* its type (and for strings
//!    the first byte) is the one that suffix holds, which tells queue `task`'s `binding` (JSON)
//!    from the record of task `binding` (flag byte `T`/`R`). Then the marker becomes `"1-2"`.
//! 2. the rest: `task:<id>` → `t:<id>`, `module:<sha>` → `m:<sha>`, `host:<id>` → `h:<id>`,
//!    `bound`/`paused`/`hosts` → `g:...`; after pass 1 every remaining `task:` key is a record.
//!
//! Renames go through a script that skips keys already gone, so a pass interrupted and run again
//! moves only what is left. `RENAME` keeps a stream's consumer group and pending entries and a
//! key's TTL: messages in flight, records and heartbeats carry over as they were. Layout-1 hosts
//! must be stopped first (they would keep writing layout-1 keys); see the README's "Upgrading".
//!
//! A Redis Cluster never held layout-1 data (its queue scripts spanned slots), so there the
//! marker is simply set: a migration's `SCAN` and multi-key renames would not work there anyway.

use std::time::Duration;

use redis::{RedisError, Script};

use crate::error::ConnectError;
use crate::handle::Handle;
use crate::keys::{Keys, LAYOUT};

/// The marker while pass 2 is under way.
const HALFWAY: &str = "1-2";
/// Keys per `SCAN` round and per rename script.
const SCAN_COUNT: usize = 500;
/// The migration lock lapses this long after its holder's last sign of life.
const LOCK_MS: u64 = 30_000;
/// How often a host waiting for another host's migration looks again.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// Rename pairs `old new` (ARGV) whose old key still exists; returns how many moved.
static RENAME: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(include_str!("lua/rename.lua")));

/// Make sure the data under `keys`' prefix is in [`LAYOUT`], migrating layout-1 data.
pub(crate) async fn ensure(mut con: Handle, keys: &Keys) -> Result<(), ConnectError> {
    let mut waited = false;
    loop {
        let marker: Option<String> = redis::cmd("GET")
            .arg(keys.layout())
            .query_async(&mut con)
            .await
            .map_err(failed)?;
        match marker.as_deref() {
            Some(LAYOUT) => return Ok(()),
            None | Some(HALFWAY) if keys.is_cluster() => {
                return set_marker(&mut con, keys, LAYOUT).await;
            }
            None | Some(HALFWAY) => {}
            Some(other) => {
                return Err(ConnectError::Layout(format!(
                    "the data under redis prefix {:?} uses key layout {other:?}; this \
                     wasmboost reads layout {LAYOUT}: run the wasmboost that wrote it",
                    keys.prefix()
                )));
            }
        }
        let token = uuid::Uuid::now_v7().to_string();
        let locked: Option<String> = redis::cmd("SET")
            .arg(keys.migration_lock())
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_MS)
            .query_async(&mut con)
            .await
            .map_err(failed)?;
        if locked.is_some() {
            let result = migrate(&mut con, keys, marker.is_none()).await;
            unlock(&mut con, keys, &token).await;
            return result;
        }
        if !waited {
            tracing::info!(
                prefix = keys.prefix(),
                "waiting for another host to migrate the redis key layout"
            );
            waited = true;
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

fn failed(source: RedisError) -> ConnectError {
    ConnectError::Migrate { source }
}

async fn unlock(con: &mut Handle, keys: &Keys, token: &str) {
    let release = Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    );
    // Best effort: a lock left behind lapses after LOCK_MS.
    let _ = release
        .key(keys.migration_lock())
        .arg(token)
        .invoke_async::<i64>(con)
        .await;
}

async fn migrate(con: &mut Handle, keys: &Keys, from_start: bool) -> Result<(), ConnectError> {
    let prefix = keys.prefix();
    let mut moved = 0;
    if from_start {
        moved += pass(con, keys, &format!("{prefix}:*"), |key, kind, head| {
            queue_key(keys, key, kind, head)
        })
        .await?;
        set_marker(con, keys, HALFWAY).await?;
    }
    for pattern in ["task:*", "module:*", "host:*", "bound", "paused", "hosts"] {
        moved += pass(con, keys, &format!("{prefix}:{pattern}"), |key, _, _| {
            global_key(keys, key)
        })
        .await?;
    }
    set_marker(con, keys, LAYOUT).await?;
    if moved > 0 {
        tracing::info!(prefix, moved, "migrated redis keys to key layout {LAYOUT}");
    }
    Ok(())
}

async fn set_marker(con: &mut Handle, keys: &Keys, value: &str) -> Result<(), ConnectError> {
    redis::cmd("SET")
        .arg(keys.layout())
        .arg(value)
        .query_async::<()>(con)
        .await
        .map_err(failed)
}

/// Rename every key matching `pattern` that `target` maps to a new name (given the key, its
/// type and the first byte of a string value). Returns how many moved.
async fn pass(
    con: &mut Handle,
    keys: &Keys,
    pattern: &str,
    target: impl Fn(&[u8], &str, Option<u8>) -> Option<Vec<u8>>,
) -> Result<u64, ConnectError> {
    let mut cursor = "0".to_owned();
    let mut moved = 0;
    loop {
        let (next, found): (String, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(con)
            .await
            .map_err(failed)?;
        moved += rename_batch(con, keys, &found, &target).await?;
        if next == "0" {
            return Ok(moved);
        }
        cursor = next;
    }
}

async fn rename_batch(
    con: &mut Handle,
    keys: &Keys,
    found: &[Vec<u8>],
    target: &impl Fn(&[u8], &str, Option<u8>) -> Option<Vec<u8>>,
) -> Result<u64, ConnectError> {
    if found.is_empty() {
        return Ok(0);
    }
    let mut types = redis::pipe();
    for key in found {
        types.cmd("TYPE").arg(key);
    }
    let kinds: Vec<String> = types.query_async(con).await.map_err(failed)?;
    let strings: Vec<&Vec<u8>> = found
        .iter()
        .zip(&kinds)
        .filter(|(_, kind)| kind.as_str() == "string")
        .map(|(key, _)| key)
        .collect();
    let mut heads = redis::pipe();
    for key in &strings {
        heads.cmd("GETRANGE").arg(key.as_slice()).arg(0).arg(0);
    }
    let firsts: Vec<Vec<u8>> = if strings.is_empty() {
        Vec::new()
    } else {
        heads.query_async(con).await.map_err(failed)?
    };
    let mut firsts = firsts.into_iter();
    let mut script = RENAME.prepare_invoke();
    let mut pairs = 0;
    for (key, kind) in found.iter().zip(&kinds) {
        let head = if kind == "string" {
            firsts.next().and_then(|f| f.first().copied())
        } else {
            None
        };
        if let Some(new) = target(key, kind, head) {
            script.arg(key.as_slice()).arg(new);
            pairs += 1;
        }
    }
    // Still ours: a lock that lapsed mid-migration would let a second host start a pass.
    redis::cmd("PEXPIRE")
        .arg(keys.migration_lock())
        .arg(LOCK_MS)
        .query_async::<()>(con)
        .await
        .map_err(failed)?;
    if pairs == 0 {
        return Ok(0);
    }
    script.invoke_async(con).await.map_err(failed)
}

/// Layout-1 queue names: `[A-Za-z0-9_.-]{1,128}` (the rule before reserved names existed).
fn is_v1_queue(name: &[u8]) -> bool {
    (1..=128).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The layout-2 name of a layout-1 queue key, judged by name, type and first byte.
pub(crate) fn queue_key(keys: &Keys, key: &[u8], kind: &str, head: Option<u8>) -> Option<Vec<u8>> {
    let rest = key.strip_prefix(format!("{}:", keys.prefix()).as_bytes())?;
    let colon = rest.iter().position(|b| *b == b':')?;
    let (queue, suffix) = (&rest[..colon], &rest[colon + 1..]);
    if !is_v1_queue(queue) || !suffix_fits(suffix, kind, head) {
        return None;
    }
    let queue = std::str::from_utf8(queue).ok()?;
    let mut new = keys.queue(queue).into_bytes();
    new.extend_from_slice(suffix);
    Some(new)
}

/// Whether a layout-1 queue key with this suffix holds this type (and first byte).
fn suffix_fits(suffix: &[u8], kind: &str, head: Option<u8>) -> bool {
    let is_record = matches!(head, Some(b'T' | b'R'));
    match suffix {
        b"stream" | b"parked" | b"dead" => kind == "stream",
        [b's', b't', b'r', b'e', b'a', b'm', b':', level] if (b'1'..=b'9').contains(level) => {
            kind == "stream"
        }
        b"delayed" => kind == "zset",
        b"reclaim" | b"counters" => kind == "hash",
        b"binding" => kind == "string" && head == Some(b'{'),
        b"rate" => kind == "string" && head.is_some_and(|b| b.is_ascii_digit() || b == b'-'),
        _ => suffix.starts_with(b"dedup:") && kind == "string" && !is_record,
    }
}

/// The layout-2 name of a layout-1 global key (records, modules, heartbeats, sets).
pub(crate) fn global_key(keys: &Keys, key: &[u8]) -> Option<Vec<u8>> {
    let rest = key.strip_prefix(format!("{}:", keys.prefix()).as_bytes())?;
    let renamed = |new_prefix: String, id: &[u8]| {
        let mut new = new_prefix.into_bytes();
        new.extend_from_slice(id);
        new
    };
    if let Some(id) = rest.strip_prefix(b"task:") {
        return Some(renamed(keys.task(""), id));
    }
    if let Some(sha) = rest.strip_prefix(b"module:") {
        return Some(renamed(keys.module(""), sha));
    }
    if let Some(id) = rest.strip_prefix(b"host:") {
        return Some(renamed(keys.host(""), id));
    }
    match rest {
        b"bound" => Some(keys.bound().into_bytes()),
        b"paused" => Some(keys.paused().into_bytes()),
        b"hosts" => Some(keys.hosts().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(key: &str, kind: &str, head: Option<u8>) -> Option<String> {
        queue_key(&Keys::new("wb"), key.as_bytes(), kind, head)
            .map(|k| String::from_utf8(k).unwrap_or_default())
    }

    #[test]
    fn queue_keys_move_into_the_queue_namespace() {
        assert_eq!(
            q("wb:add:stream", "stream", None).as_deref(),
            Some("wb:q:{add}:stream")
        );
        assert_eq!(
            q("wb:add:stream:7", "stream", None).as_deref(),
            Some("wb:q:{add}:stream:7")
        );
        assert_eq!(
            q("wb:a.b:delayed", "zset", None).as_deref(),
            Some("wb:q:{a.b}:delayed")
        );
        assert_eq!(
            q("wb:add:reclaim", "hash", None).as_deref(),
            Some("wb:q:{add}:reclaim")
        );
        assert_eq!(
            q("wb:add:binding", "string", Some(b'{')).as_deref(),
            Some("wb:q:{add}:binding")
        );
        assert_eq!(
            q("wb:add:rate", "string", Some(b'1')).as_deref(),
            Some("wb:q:{add}:rate")
        );
        assert_eq!(
            q("wb:add:dedup:k:1", "string", Some(b'1')).as_deref(),
            Some("wb:q:{add}:dedup:k:1")
        );
    }

    #[test]
    fn records_and_globals_are_not_taken_for_queue_keys() {
        // The record of task `binding` / `stream` / `dedup:x` in layout 1.
        assert_eq!(q("wb:task:binding", "string", Some(b'T')), None);
        assert_eq!(q("wb:task:stream", "string", Some(b'R')), None);
        assert_eq!(q("wb:task:dedup:x", "string", Some(b'T')), None);
        assert_eq!(q("wb:module:0123abcd", "string", Some(0)), None);
        assert_eq!(q("wb:bound", "set", None), None);
        assert_eq!(q("wb:add:stream:10", "stream", None), None);
        assert_eq!(q("other:add:stream", "stream", None), None);
        // Layout-2 keys are never moved again.
        assert_eq!(q("wb:q:{add}:stream", "stream", None), None);
        assert_eq!(q("wb:t:binding", "string", Some(b'T')), None);
        assert_eq!(q("wb:g:paused", "set", None), None);
        // But queue `task`'s own keys are.
        assert_eq!(
            q("wb:task:stream", "stream", None).as_deref(),
            Some("wb:q:{task}:stream")
        );
        assert_eq!(
            q("wb:task:binding", "string", Some(b'{')).as_deref(),
            Some("wb:q:{task}:binding")
        );
    }

    #[test]
    fn global_keys_get_their_type_letter() {
        let g = |key: &str| {
            global_key(&Keys::new("wb"), key.as_bytes())
                .map(|k| String::from_utf8(k).unwrap_or_default())
        };
        assert_eq!(g("wb:task:t-1").as_deref(), Some("wb:t:t-1"));
        assert_eq!(g("wb:task:a:b").as_deref(), Some("wb:t:a:b"));
        assert_eq!(g("wb:module:ab12").as_deref(), Some("wb:m:ab12"));
        assert_eq!(g("wb:host:h1").as_deref(), Some("wb:h:h1"));
        assert_eq!(g("wb:bound").as_deref(), Some("wb:g:bound"));
        assert_eq!(g("wb:paused").as_deref(), Some("wb:g:paused"));
        assert_eq!(g("wb:hosts").as_deref(), Some("wb:g:hosts"));
        assert_eq!(g("wb:g:layout"), None);
        assert_eq!(g("wb:t:x"), None);
    }
}
