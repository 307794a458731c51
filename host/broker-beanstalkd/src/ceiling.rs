//! The raw ceiling of a beanstalkd server with this crate's own client (codec and connection),
//! for `scripts/bench-beanstalkd.sh`: jobs put, reserved and deleted with nothing of the broker
//! around them (no header, no stats, no leases), so the broker's drain can be compared with what
//! the same client gets from the same server.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::conn::Conn;
use crate::proto::{Command, ProtoError, Reply};

/// Cycle `n` jobs of `body` through `tube`, `depth` at a time: put `depth` jobs, reserve them,
/// delete them, each step one pipelined write (`depth` 1 is the plain put/reserve/delete loop,
/// one round trip per command). How long it took.
pub async fn cycle(
    addr: &str,
    tube: &str,
    n: usize,
    depth: usize,
    body: Bytes,
) -> Result<Duration, String> {
    let err = |e: ProtoError| e.to_string();
    let mut conn = Conn::open(addr).await.map_err(|e| e.to_string())?;
    conn.watch_only(tube).await.map_err(err)?;
    conn.call(vec![Command::Use(tube.to_owned())])
        .await
        .map_err(err)?;
    let depth = depth.max(1);
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let k = depth.min(n - done);
        let puts = (0..k)
            .map(|_| Command::Put {
                pri: 0,
                delay: 0,
                ttr: 60,
                body: body.clone(),
            })
            .collect();
        conn.call(puts).await.map_err(err)?;
        let reserved = conn
            .call(vec![Command::ReserveWithTimeout(1); k])
            .await
            .map_err(err)?;
        let deletes = reserved
            .into_iter()
            .map(|r| match r {
                Reply::Reserved { id, .. } => Ok(Command::Delete(id)),
                other => Err(format!("reserve answered {other:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        conn.call(deletes).await.map_err(err)?;
        done += k;
    }
    Ok(started.elapsed())
}
