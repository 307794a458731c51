//! Fetching: one script call leases what is there (promoting due delayed messages, reclaiming
//! expired leases, reading new entries by aged priority). When nothing was there and the caller
//! may wait, a blocking `XREAD` on every level's stream wakes as soon as a new entry arrives,
//! then the script runs again. No sleeps: the block is only cut short to promote a delayed
//! message when due or to look for expired leases.

use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::time::Instant;
use wasmboost_broker::{BrokerError, Delivery};

use crate::broker::{PROMOTE_LIMIT, Shared};
use crate::error::{broker_err, corrupt};
use crate::keys::LEVELS;
use crate::lease::RedisLease;
use crate::reply::{array, entry, int, string};
use crate::scripts::FETCH;

/// Most messages one fetch leases (bounds one script run and its reply).
pub const MAX_FETCH: usize = 1_000;
/// Longest lease (1 day): a longer one is almost certainly a unit mistake.
pub(crate) const MAX_LEASE_MS: u64 = 86_400_000;

/// What one run of the fetch script found.
struct Found {
    deliveries: Vec<Delivery>,
    /// Until the first delayed message is due, if any.
    next_due: Option<Duration>,
    /// Deliveries of this queue leased by any host (whose leases may end while we wait).
    pending: u64,
    /// Per level, the group's last-delivered entry id: a blocking read waits for newer ones.
    last_ids: Vec<String>,
}

pub(crate) async fn fetch(
    shared: &Arc<Shared>,
    queue: &str,
    max: usize,
    lease: Duration,
    wait: Duration,
) -> Result<Vec<Delivery>, BrokerError> {
    shared.check(queue)?;
    if max == 0 {
        return Ok(Vec::new());
    }
    let lease_ms = u64::try_from(lease.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LEASE_MS);
    let deadline = Instant::now() + wait;
    loop {
        let found = run_script(shared, queue, max.min(MAX_FETCH), lease_ms).await?;
        let now = Instant::now();
        if !found.deliveries.is_empty() || now >= deadline {
            return Ok(found.deliveries);
        }
        let mut block = deadline - now;
        if let Some(due) = found.next_due {
            block = block.min(due);
        }
        if found.pending > 0 {
            block = block.min(Duration::from_millis(shared.config.reclaim_interval_ms));
        }
        wait_for_new(shared, queue, &found.last_ids, block).await?;
    }
}

async fn run_script(
    shared: &Arc<Shared>,
    queue: &str,
    max: usize,
    lease_ms: u64,
) -> Result<Found, BrokerError> {
    let reclaim = shared.reclaim_due(queue);
    let ns = shared.keys.queue(queue);
    // The namespace as KEYS[1] too: a cluster routes the script by it (see `scripts`).
    let reply: Value = FETCH
        .key(&ns)
        .arg(&ns)
        .arg(&shared.config.group)
        .arg(&shared.consumer)
        .arg(max)
        .arg(lease_ms)
        .arg(shared.config.priority_aging_ms)
        .arg(if reclaim { "1" } else { "0" })
        .arg(PROMOTE_LIMIT)
        .invoke_async(&mut shared.conn.manager())
        .await
        .map_err(broker_err)?;
    parse(shared, queue, reply, lease_ms)
}

fn parse(
    shared: &Arc<Shared>,
    queue: &str,
    reply: Value,
    lease_ms: u64,
) -> Result<Found, BrokerError> {
    const WHAT: &str = "fetch reply";
    let mut parts = array(reply, WHAT)?.into_iter();
    let (Some(entries), Some(next_due), Some(pending), Some(last_ids)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt(WHAT, "expected four parts"));
    };
    let mut deliveries = Vec::new();
    for group in array(entries, WHAT)? {
        let mut group = array(group, WHAT)?.into_iter();
        let (Some(level), Some(read), Some(extras)) = (group.next(), group.next(), group.next())
        else {
            return Err(corrupt(WHAT, "expected level, entries, redeliveries"));
        };
        let level = u8::try_from(int(level, WHAT)?).unwrap_or(0);
        let mut extras = array(extras, WHAT)?.into_iter();
        for e in array(read, WHAT)? {
            let entry = entry(e, WHAT)?;
            let extra = extras
                .next()
                .map(|v| int(v, WHAT))
                .transpose()?
                .unwrap_or(0);
            let message = entry.to_message(queue, level, u32::try_from(extra).unwrap_or(0));
            let lease = RedisLease::new(
                Arc::clone(shared),
                queue,
                level,
                entry.id,
                &message,
                lease_ms,
            );
            deliveries.push(Delivery::new(message, Box::new(lease)));
        }
    }
    let next_due = u64::try_from(int(next_due, WHAT)?)
        .ok()
        .map(Duration::from_millis);
    let last_ids = array(last_ids, WHAT)?
        .into_iter()
        .map(|v| string(v, WHAT))
        .collect::<Result<Vec<_>, _>>()?;
    if last_ids.len() != usize::from(LEVELS) {
        return Err(corrupt(
            WHAT,
            format!("{} last ids for 10 levels", last_ids.len()),
        ));
    }
    Ok(Found {
        deliveries,
        next_due,
        pending: u64::try_from(int(pending, WHAT)?).unwrap_or(0),
        last_ids,
    })
}

/// Block until an entry newer than `last_ids` lands on any level of `queue`, or `block` ends.
async fn wait_for_new(
    shared: &Arc<Shared>,
    queue: &str,
    last_ids: &[String],
    block: Duration,
) -> Result<(), BrokerError> {
    // BLOCK 0 would mean forever.
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(1)
        .arg("BLOCK")
        .arg(block_ms)
        .arg("STREAMS");
    for level in 0..LEVELS {
        cmd.arg(shared.keys.stream(queue, level));
    }
    cmd.arg(last_ids);
    shared
        .conn
        .blocking_query(&cmd, Duration::from_millis(block_ms))
        .await
        .map(drop)
}
