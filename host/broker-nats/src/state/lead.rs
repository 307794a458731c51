//! Shared coordination on the `sched` and `rate` buckets: the leader lease with fencing tokens,
//! tick claims, and the global rate (GCRA).
//!
//! **Tokens:** a new tenure's token is the replaced entry's revision + 1. Revisions of a bucket
//! only grow and the write is a CAS on that revision, so every new token is greater than every
//! earlier one (an earlier token is at most the revision of the entry that stored it).
//!
//! **Tick claims** read the lease, then CAS the schedule's last tick: two keys, not one atomic
//! step (JetStream 2.9 has no multi-key transaction). A leader fenced out between the two reads
//! can still claim one tick; the tick's own CAS keeps it to one claim per tick.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wasmboost_broker::{StateError, ms_after, now_ms};

use super::kv::{Kv, key};

/// One lease's holder.
#[derive(Debug, Serialize, Deserialize)]
struct Tenure {
    holder: String,
    token: u64,
    expires_ms: u64,
}

fn read<T: for<'de> Deserialize<'de>>(raw: &Bytes) -> Option<T> {
    serde_json::from_slice(raw).ok()
}

fn json<T: Serialize>(v: &T) -> Bytes {
    // Plain structs of strings and numbers always serialise.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

pub(crate) async fn lead(
    sched: &Kv,
    lease: &str,
    holder: &str,
    ttl: Duration,
) -> Result<Option<u64>, StateError> {
    let k = key(&["lease", lease]);
    loop {
        let current = sched.get(&k).await?;
        let held = current.as_ref().and_then(|(raw, _)| read::<Tenure>(raw));
        let token = match &held {
            Some(t) if t.expires_ms > now_ms() && t.holder != holder => return Ok(None),
            Some(t) if t.expires_ms > now_ms() => t.token,
            _ => current.as_ref().map_or(1, |(_, rev)| rev + 1),
        };
        let tenure = Tenure {
            holder: holder.to_owned(),
            token,
            expires_ms: ms_after(ttl),
        };
        if sched
            .cas(&k, json(&tenure), current.map(|(_, rev)| rev))
            .await?
        {
            return Ok(Some(token));
        }
    }
}

pub(crate) async fn claim_tick(
    sched: &Kv,
    lease: &str,
    token: u64,
    schedule: &str,
    tick_ms: u64,
) -> Result<bool, StateError> {
    let held = sched.get(&key(&["lease", lease])).await?;
    let current = held.and_then(|(raw, _)| read::<Tenure>(&raw));
    if !current.is_some_and(|t| t.token == token && t.expires_ms > now_ms()) {
        return Ok(false);
    }
    let k = key(&["tick", schedule]);
    sched
        .update(&k, |last| {
            let last: Option<u64> = last.and_then(read);
            if last.is_some_and(|l| l >= tick_ms) {
                (None, false)
            } else {
                (Some(json(&tick_ms)), true)
            }
        })
        .await
}

pub(crate) async fn last_tick(sched: &Kv, schedule: &str) -> Result<Option<u64>, StateError> {
    let got = sched.get(&key(&["tick", schedule])).await?;
    Ok(got.and_then(|(raw, _)| read(&raw)))
}

/// GCRA: the theoretical arrival time of the next slot, in ms (fractional), per queue.
pub(crate) async fn reserve_rate(
    rate: &Kv,
    queue: &str,
    per_second: f64,
) -> Result<Duration, StateError> {
    if !(per_second.is_finite() && per_second > 0.0) {
        return Err(StateError::Backend(format!(
            "rate {per_second} per second must be a positive number"
        )));
    }
    let interval = 1000.0 / per_second;
    rate.update(&key(&[queue]), |tat| {
        #[expect(clippy::cast_precision_loss, reason = "ms since 1970 fit f64 exactly")]
        let now = now_ms() as f64;
        let tat: f64 = tat.and_then(read).unwrap_or(now).max(now);
        let wait = Duration::from_secs_f64((tat - now) / 1000.0);
        (Some(json(&(tat + interval))), wait)
    })
    .await
}
