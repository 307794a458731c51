//! The dead-letter stream of a queue (`<prefix>:q:{<queue>}:dead`): list, replay, purge. Each entry
//! is the message's fields plus `reason` and `dead_ms`.

use std::collections::HashSet;
use std::sync::Arc;

use wasmboost_broker::{BrokerError, DeadLetter, MAX_PRIORITY};

use crate::broker::Shared;
use crate::error::broker_err;
use crate::fields::{DEAD_MS, Entry, PRIORITY, REASON};
use crate::reply::{entries, int};
use crate::scripts::REPLAY;

/// Dead letters examined per round trip while replaying.
const REPLAY_CHUNK: usize = 500;

fn to_dead_letter(queue: &str, e: &Entry) -> DeadLetter {
    let level = std::str::from_utf8(e.get(PRIORITY).unwrap_or_default())
        .ok()
        .and_then(|p| p.parse::<u8>().ok())
        .unwrap_or(0)
        .min(MAX_PRIORITY);
    let text = |name| String::from_utf8_lossy(e.get(name).unwrap_or_default()).into_owned();
    DeadLetter {
        message: e.to_message(queue, level, 0),
        reason: text(REASON),
        dead_ms: text(DEAD_MS).parse().unwrap_or(0),
    }
}

async fn range(
    s: &Shared,
    queue: &str,
    after: &str,
    end: &str,
    limit: usize,
) -> Result<Vec<Entry>, BrokerError> {
    let reply = redis::cmd("XRANGE")
        .arg(s.keys.dead(queue))
        .arg(after)
        .arg(end)
        .arg("COUNT")
        .arg(limit)
        .query_async(&mut s.conn.manager())
        .await
        .map_err(broker_err)?;
    entries(reply, "dead letters")
}

pub(crate) async fn list(
    s: &Arc<Shared>,
    queue: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, BrokerError> {
    s.check(queue)?;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let found = range(s, queue, "-", "+", limit).await?;
    Ok(found.iter().map(|e| to_dead_letter(queue, e)).collect())
}

pub(crate) async fn replay(
    s: &Arc<Shared>,
    queue: &str,
    ids: Option<&[String]>,
) -> Result<u64, BrokerError> {
    s.check(queue)?;
    let wanted: Option<HashSet<&str>> = ids.map(|ids| ids.iter().map(String::as_str).collect());
    // Stop at the newest dead letter present now: what dies again during the replay stays dead.
    let newest = range_rev_first(s, queue).await?;
    let Some(end) = newest else { return Ok(0) };
    let (mut after, mut moved) = ("-".to_owned(), 0u64);
    loop {
        let chunk = range(s, queue, &after, &end, REPLAY_CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        after = format!("({}", last.id);
        let picked: Vec<&str> = chunk
            .iter()
            .filter(|e| {
                let id = to_dead_letter(queue, e).message.id;
                wanted.as_ref().is_none_or(|w| w.contains(id.as_str()))
            })
            .map(|e| e.id.as_str())
            .collect();
        if !picked.is_empty() {
            let ns = s.keys.queue(queue);
            let n = REPLAY
                .key(&ns)
                .arg(&ns)
                .arg(&picked)
                .invoke_async(&mut s.conn.manager())
                .await
                .map_err(broker_err)?;
            moved += u64::try_from(int(n, "replay reply")?).unwrap_or(0);
        }
        if chunk.len() < REPLAY_CHUNK {
            break;
        }
    }
    Ok(moved)
}

async fn range_rev_first(s: &Shared, queue: &str) -> Result<Option<String>, BrokerError> {
    let reply = redis::cmd("XREVRANGE")
        .arg(s.keys.dead(queue))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut s.conn.manager())
        .await
        .map_err(broker_err)?;
    Ok(entries(reply, "newest dead letter")?.pop().map(|e| e.id))
}

pub(crate) async fn purge(s: &Arc<Shared>, queue: &str) -> Result<u64, BrokerError> {
    s.check(queue)?;
    let key = s.keys.dead(queue);
    let (n, _): (u64, i64) = redis::pipe()
        .atomic()
        .cmd("XLEN")
        .arg(&key)
        .cmd("DEL")
        .arg(&key)
        .query_async(&mut s.conn.manager())
        .await
        .map_err(broker_err)?;
    Ok(n)
}
