//! Dead letters. A dead-lettered job is buried in its queue's tube (so `stats-tube` counts it and
//! beanstalkd tools show it), and its reason goes into the queue's reasons tube
//! (`<prefix><queue>;dead`) as a small JSON job naming the buried job. beanstalkd cannot list
//! buried jobs (`peek-buried` shows only the first), so listing reads the reasons tube: reserve
//! every reason on a connection of its own, `peek` the jobs they name, and close the connection,
//! which puts the reasons back in their order.
//!
//! Replay puts a fresh copy of each buried job (attempt 1, same id and body) and deletes the
//! buried one: `kick` would bring the job back with its old attempt count, and the host owns
//! that count. An operator's own `kick` still works: the job runs with the count it had.

use serde::{Deserialize, Serialize};
use wasmboost_broker::networked::wire::WireFields;
use wasmboost_broker::{BrokerError, DeadLetter, now_ms};

use crate::broker::Shared;
use crate::conn::Conn;
use crate::error::unexpected;
use crate::proto::{Command, Reply, stat, stat_u64};
use crate::tube::{self, JobStats, PRI_NORMAL};

/// Time-to-run of reason jobs while a listing holds them.
const RECORD_TTR: u32 = 120;
/// Reasons reserved per pipelined write while listing.
const CHUNK: usize = 256;

/// The reason of one dead letter, as stored in the reasons tube.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The buried job.
    pub job: u64,
    /// Its message id.
    pub id: String,
    pub reason: String,
    pub dead_ms: u64,
}

/// Store `record`; the id of its reason job.
pub(crate) async fn put_record(
    shared: &Shared,
    queue: &str,
    record: &Record,
) -> Result<u64, BrokerError> {
    let body = serde_json::to_vec(record)
        .map_err(|e| BrokerError::Backend(format!("encoding a dead-letter reason: {e}")))?;
    let mut held = shared.control.lock().await?;
    let ids = crate::broker::put_on(
        &mut held,
        &shared.dead_tube(queue),
        RECORD_TTR,
        vec![(PRI_NORMAL, 0, body.into())],
    )
    .await?;
    ids.first()
        .copied()
        .ok_or_else(|| BrokerError::Backend("beanstalkd returned no job id".into()))
}

/// Forget a reason whose bury did not happen (best effort: a listing skips it anyway, since the
/// job it names is not buried).
pub(crate) async fn delete_record(shared: &Shared, record_id: u64) {
    if let Ok(mut held) = shared.control.lock().await {
        let _ = held.one(Command::Delete(record_id)).await;
    }
}

/// One listed dead letter: its reason job, and the buried job if it still is buried.
struct Listed {
    record_id: u64,
    record: Record,
    letter: Option<DeadLetter>,
}

/// Reserve every reason of `queue` on `conn` (held until `conn` is dropped) with the jobs they
/// name, oldest first. Reasons whose job is gone are deleted on the way.
async fn reserve_all(
    shared: &Shared,
    conn: &mut Conn,
    queue: &str,
) -> Result<Vec<Listed>, BrokerError> {
    conn.watch_only(&shared.dead_tube(queue)).await?;
    let mut records = Vec::new();
    loop {
        let replies = conn
            .call(vec![Command::ReserveWithTimeout(0); CHUNK])
            .await?;
        let before = records.len();
        for reply in replies {
            if let Reply::Reserved { id, body } = reply {
                match serde_json::from_slice::<Record>(&body) {
                    Ok(record) => records.push((id, record)),
                    // Not ours: leave it to whoever put it (released when we disconnect).
                    Err(_) => continue,
                }
            }
        }
        if records.len() - before < CHUNK {
            break;
        }
    }
    let mut cmds = Vec::with_capacity(records.len() * 2);
    for (_, r) in &records {
        cmds.push(Command::Peek(r.job));
        cmds.push(Command::StatsJob(r.job));
    }
    let replies = conn.call(cmds).await?;
    let mut listed = Vec::with_capacity(records.len());
    let mut gone = Vec::new();
    let now = now_ms();
    for ((record_id, record), pair) in records.into_iter().zip(replies.chunks(2)) {
        let letter = match pair {
            [Reply::Found { id, body }, Reply::Ok(yaml)] => (stat(yaml, "state") == Some("buried"))
                .then(|| {
                    let js = JobStats {
                        pri: u32::try_from(stat_u64(yaml, "pri")).unwrap_or(u32::MAX),
                        age_secs: stat_u64(yaml, "age"),
                        reserves: 1,
                        releases: stat_u64(yaml, "releases"),
                    };
                    DeadLetter {
                        message: tube::message(queue, *id, body, js, now),
                        reason: record.reason.clone(),
                        dead_ms: record.dead_ms,
                    }
                }),
            _ => {
                gone.push(Command::Delete(record_id));
                continue;
            }
        };
        listed.push(Listed {
            record_id,
            record,
            letter,
        });
    }
    if !gone.is_empty() {
        conn.call(gone).await?;
    }
    // A job buried, replayed by hand and buried again has two reasons: the later one counts.
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Listed> = listed
        .into_iter()
        .rev()
        .filter(|l| l.letter.is_none() || seen.insert(l.record.job))
        .collect();
    out.reverse();
    Ok(out)
}

async fn open(shared: &Shared) -> Result<Conn, BrokerError> {
    Conn::open(shared.config.host_port()).await.map_err(|e| {
        BrokerError::Unavailable(format!(
            "cannot connect to beanstalkd at {}: {e}",
            shared.config.host_port()
        ))
    })
}

pub(crate) async fn list(
    shared: &Shared,
    queue: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, BrokerError> {
    let mut conn = open(shared).await?;
    let listed = reserve_all(shared, &mut conn, queue).await?;
    Ok(listed
        .into_iter()
        .filter_map(|l| l.letter)
        .take(limit)
        .collect())
}

pub(crate) async fn replay(
    shared: &Shared,
    queue: &str,
    ids: Option<&[String]>,
) -> Result<u64, BrokerError> {
    let mut conn = open(shared).await?;
    let listed = reserve_all(shared, &mut conn, queue).await?;
    let tube_name = shared.tube(queue);
    let mut moved = 0;
    for l in listed {
        let Some(letter) = l.letter else { continue };
        if ids.is_some_and(|ids| !ids.contains(&letter.message.id)) {
            continue;
        }
        let mut m = letter.message;
        m.attempt = 1;
        m.requeues = 0;
        m.redeliveries = 0;
        let body = tube::encode(&WireFields::of(&m), &m.body);
        let mut held = shared.control.lock().await?;
        crate::broker::put_on(
            &mut held,
            &tube_name,
            shared.config.ttr_secs,
            vec![(tube::to_pri(m.priority), 0, body)],
        )
        .await?;
        drop(held);
        // Put before delete: a failure in between leaves a copy, never nothing.
        let replies = conn
            .call(vec![
                Command::Delete(l.record.job),
                Command::Delete(l.record_id),
            ])
            .await?;
        if let Some(r) = replies
            .iter()
            .find(|r| !matches!(r, Reply::Deleted | Reply::NotFound))
        {
            return Err(unexpected("delete of a replayed dead letter", r));
        }
        moved += 1;
    }
    Ok(moved)
}

pub(crate) async fn purge(shared: &Shared, queue: &str) -> Result<u64, BrokerError> {
    let mut conn = open(shared).await?;
    let listed = reserve_all(shared, &mut conn, queue).await?;
    let mut cmds = Vec::new();
    let mut purged = 0;
    for l in listed {
        if l.letter.is_some() {
            cmds.push(Command::Delete(l.record.job));
            purged += 1;
        }
        cmds.push(Command::Delete(l.record_id));
    }
    if !cmds.is_empty() {
        conn.call(cmds).await?;
    }
    Ok(purged)
}
