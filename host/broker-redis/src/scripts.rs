//! The Lua scripts, each run atomically by Redis. Queue scripts share `lua/prelude.lua`
//! (key names, field access, promotion of due delayed messages). `redis::Script` runs them by
//! EVALSHA and loads them again after a server restart forgot them.
//!
//! Every script touches the keys of one cluster slot only: a queue script those of one queue
//! (all under its hash tag), the others the keys they are given. A queue script gets the
//! queue's namespace (`<prefix>:q:{<queue>}:`) as ARGV[1], and as KEYS[1] as well, which it
//! never reads: a cluster routes a script to the node of its first key, and Redis checks that
//! the keys a script touches are that node's.

use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn queue_script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// Lease messages: promote due ones, reclaim expired leases, read new ones by priority.
pub(crate) static FETCH: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/fetch.lua")));
/// Ack a batch of one stream's entries and trim the settled ones.
pub(crate) static ACK: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/ack.lua")));
/// Retry, requeue or dead-letter one delivery, if this consumer still holds it.
pub(crate) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/settle.lua")));
/// Extend one lease, if this consumer still holds it.
pub(crate) static RENEW: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/renew.lua")));
/// Publish one delayed message (park it, schedule it).
pub(crate) static DELAY: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/delay.lua")));
/// Count a queue's messages by state.
pub(crate) static COUNTS: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/counts.lua")));
/// Move dead letters back onto the queue.
pub(crate) static REPLAY: LazyLock<Script> =
    LazyLock::new(|| queue_script(include_str!("lua/replay.lua")));
/// Store a task record and count its ending in one step, or store a progress mark unless the
/// record has ended (see the script's header).
pub(crate) static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_LUA));
/// Its source, for `SCRIPT LOAD` inside a pipeline.
pub(crate) const RECORD_LUA: &str = include_str!("lua/record.lua");
/// On a cluster: count a record's deltas in its queue's slot, once per ending.
pub(crate) static COUNT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/count.lua")));
/// Reserve a slot of a global rate (GCRA).
pub(crate) static RATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/rate.lua")));
/// Acquire or renew a leader lease with a fencing token.
pub(crate) static LEAD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/lead.lua")));
/// Claim a schedule tick under the leader's fencing token.
pub(crate) static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/claim.lua")));
/// One operation on a queue's task key-value namespace.
pub(crate) static KV: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/kv.lua")));
