//! Tube names and how a message's fields ride in a job: the priority and delay mappings, and
//! the header line in front of the body of jobs this broker puts.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use wasmboost_broker::networked::wire::{Fallback, WireFields};
use wasmboost_broker::{MAX_PRIORITY, Message};

/// Suffix of a queue's dead-letter reasons tube. `;` is not allowed in queue names, so no queue
/// tube can collide with it.
pub(crate) const DEAD_SUFFIX: &str = ";dead";

/// beanstalkd priority of wasmboost priority 0: greenstalk's default, so a foreign job put with
/// defaults sorts with ours of priority 0. Each step up runs `PRI_STEP` more urgently.
pub const PRI_NORMAL: u32 = 1 << 16;
pub const PRI_STEP: u32 = 1 << 12;

/// Start of the header line of jobs this broker puts: `wasmboost/1 <json fields>\n<body>`.
const MAGIC: &[u8] = b"wasmboost/1 ";

/// beanstalkd priority (lower runs first) of a wasmboost priority (higher runs first).
pub fn to_pri(priority: u8) -> u32 {
    PRI_NORMAL - u32::from(priority.min(MAX_PRIORITY)) * PRI_STEP
}

/// wasmboost priority of a beanstalkd priority: `PRI_NORMAL` and above (less urgent) is 0, each
/// `PRI_STEP` below it one more, up to the max.
pub fn from_pri(pri: u32) -> u8 {
    let steps = PRI_NORMAL.saturating_sub(pri).div_ceil(PRI_STEP);
    u8::try_from(steps.min(u32::from(MAX_PRIORITY))).unwrap_or(MAX_PRIORITY)
}

/// Whole seconds of delay so the job is never ready before `due_ms`: rounded up, so it may be
/// up to a second late, never early (beanstalkd delays are whole seconds).
pub fn delay_secs(due_ms: Option<u64>, now_ms: u64) -> u32 {
    let ms = due_ms.map_or(0, |due| due.saturating_sub(now_ms));
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// Whole seconds of `after`, rounded up.
pub fn secs_ceil(after: Duration) -> u32 {
    let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
    u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// The job body carrying `fields` and `body`.
pub(crate) fn encode(fields: &WireFields, body: &[u8]) -> Bytes {
    let header = serde_json::to_vec(fields).unwrap_or_default();
    let mut out = BytesMut::with_capacity(MAGIC.len() + header.len() + 1 + body.len());
    out.put_slice(MAGIC);
    out.put_slice(&header);
    out.put_u8(b'\n');
    out.put_slice(body);
    out.freeze()
}

/// The fields and body of a job: ours carry a header line, a foreign producer's job is all
/// body (and so is one whose header does not parse: it is delivered whole, never dropped).
pub(crate) fn decode(job: &Bytes) -> (WireFields, Bytes) {
    if let Some(rest) = job.strip_prefix(MAGIC)
        && let Some(nl) = rest.iter().position(|&b| b == b'\n')
        && let Ok(fields) = serde_json::from_slice::<WireFields>(&rest[..nl])
    {
        let start = MAGIC.len() + nl + 1;
        return (fields, job.slice(start..));
    }
    (WireFields::default(), job.clone())
}

/// What a delivered job counts, from `stats-job`: the message as the header wrote it, plus what
/// beanstalkd counted since (each `release` is a retry, each other extra reserve a redelivery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JobStats {
    pub pri: u32,
    pub age_secs: u64,
    pub reserves: u64,
    pub releases: u64,
}

/// The message of job `id` from `queue`.
pub(crate) fn message(queue: &str, id: u64, job: &Bytes, stats: JobStats, now: u64) -> Message {
    let (fields, body) = decode(job);
    let fallback = Fallback {
        id: derived_id(queue, id),
        priority: from_pri(stats.pri),
        published_ms: now.saturating_sub(stats.age_secs.saturating_mul(1000)),
    };
    let mut m = fields.to_message(queue, body, fallback);
    let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    m.attempt = m.attempt.saturating_add(small(stats.releases));
    let extra = stats
        .reserves
        .saturating_sub(1)
        .saturating_sub(stats.releases);
    m.redeliveries = m.redeliveries.saturating_add(small(extra));
    m
}

/// A stable id for a foreign job: a UUID made of the job id and a hash of the queue, the same
/// on every redelivery.
pub(crate) fn derived_id(queue: &str, job: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv1a(queue.as_bytes()).to_be_bytes());
    bytes[8..].copy_from_slice(&job.to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// FNV-1a: specified, so stable across Rust releases (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_keep_their_order_both_ways() {
        for p in 0..=MAX_PRIORITY {
            assert_eq!(from_pri(to_pri(p)), p);
            if p > 0 {
                assert!(
                    to_pri(p) < to_pri(p - 1),
                    "higher wasmboost priority runs first"
                );
            }
        }
        assert_eq!(from_pri(1 << 31), 0, "beanstalkc's default is normal");
        assert_eq!(from_pri(PRI_NORMAL), 0, "greenstalk's default is normal");
        assert_eq!(from_pri(0), MAX_PRIORITY, "the most urgent is the max");
        assert_eq!(
            from_pri(PRI_NORMAL - 1),
            1,
            "anything more urgent is at least 1"
        );
    }

    #[test]
    fn delays_round_up() {
        assert_eq!(delay_secs(None, 5), 0);
        assert_eq!(delay_secs(Some(4), 5), 0, "due in the past: now");
        assert_eq!(delay_secs(Some(1_001), 1_000), 1, "1 ms is a whole second");
        assert_eq!(delay_secs(Some(3_000), 1_000), 2);
        assert_eq!(secs_ceil(Duration::from_millis(700)), 1);
        assert_eq!(secs_ceil(Duration::ZERO), 0);
    }

    #[test]
    fn our_jobs_round_trip_and_foreign_ones_are_all_body() {
        let m = Message {
            id: "t1".into(),
            queue: "q".into(),
            body: Bytes::from_static(b"{\"x\":1}\nline two"),
            priority: 3,
            attempt: 2,
            requeues: 1,
            redeliveries: 0,
            published_ms: 42,
        };
        let job = encode(&WireFields::of(&m), &m.body);
        let stats = JobStats {
            pri: to_pri(3),
            reserves: 1,
            ..JobStats::default()
        };
        assert_eq!(message("q", 7, &job, stats, 99), m);
        let foreign = Bytes::from_static(b"{\"x\":2}");
        let got = message("q", 7, &foreign, JobStats::default(), 5_000);
        assert_eq!((got.body, got.attempt), (foreign.clone(), 1));
        assert_eq!(got.id, derived_id("q", 7), "same job, same id");
        assert_ne!(derived_id("q", 8), got.id);
        let spoof = Bytes::from_static(b"wasmboost/1 not json\n{}");
        assert_eq!(
            decode(&spoof).1,
            spoof,
            "a bad header leaves the body whole"
        );
    }

    #[test]
    fn releases_are_retries_and_other_reserves_redeliveries() {
        let job = encode(&WireFields::default(), b"{}");
        let stats = JobStats {
            pri: PRI_NORMAL,
            age_secs: 0,
            reserves: 4,
            releases: 1,
        };
        let m = message("q", 1, &job, stats, 0);
        assert_eq!((m.attempt, m.redeliveries), (2, 2));
    }
}
