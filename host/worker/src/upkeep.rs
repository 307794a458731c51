//! Background chores of a running host, once a second: flush counter deltas to the state store,
//! send a heartbeat, and (for stores shared by several hosts) pick up pause flags and
//! deployments made elsewhere.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bindings;
use crate::shared::Shared;

/// How often the chores run.
pub const TICK: Duration = Duration::from_secs(1);
/// Heartbeats every this many ticks...
const HEARTBEAT_EVERY: u32 = 5;
/// ...and live this long, so a host is listed until about 3 beats were missed.
const HEARTBEAT_TTL: Duration = Duration::from_secs(15);

/// What a heartbeat says about a host (`GET /v1/hosts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub host_id: String,
    /// Queues the host runs.
    pub queues: Vec<String>,
    pub started_ms: u64,
    /// When this heartbeat was sent, ms since the Unix epoch (0 from hosts older than this
    /// field).
    #[serde(default)]
    pub beat_ms: u64,
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut ticks: u32 = 0;
    loop {
        tokio::select! {
            () = shared.stop.cancelled() => break,
            () = tokio::time::sleep(TICK) => {}
        }
        flush_counters(&shared).await;
        if ticks.is_multiple_of(HEARTBEAT_EVERY) {
            heartbeat(&shared, HEARTBEAT_TTL).await;
        }
        if shared.store.is_shared() {
            refresh_shared(&shared).await;
        }
        ticks = ticks.wrapping_add(1);
    }
}

/// Write every queue's pending counter deltas.
pub(crate) async fn flush_counters(shared: &Shared) {
    for q in shared.all_workers() {
        let pairs = q.take_deltas().pairs();
        if pairs.is_empty() {
            continue;
        }
        if let Err(err) = shared.store.add_counters(&q.name, &pairs).await {
            tracing::warn!(queue = %q.name, error = %err, "could not write counters; keeping them for the next try");
            q.count(&pairs);
        }
    }
}

/// At shutdown, once no task runs here: a heartbeat that expires at once, so the dashboard and
/// `queues` stop listing this host now rather than when its last beat would have run out.
pub(crate) async fn deregister(shared: &Shared) {
    heartbeat(shared, Duration::ZERO).await;
}

async fn heartbeat(shared: &Shared, ttl: Duration) {
    let info = HostInfo {
        host_id: shared.host_id.clone(),
        queues: shared
            .all_workers()
            .iter()
            .map(|q| q.name.to_string())
            .collect(),
        started_ms: shared.started_ms,
        beat_ms: wasmboost_broker::now_ms(),
    };
    // Plain strings and numbers: serializing cannot fail.
    let bytes = serde_json::to_vec(&info).unwrap_or_default();
    if let Err(err) = shared
        .store
        .heartbeat(&shared.host_id, bytes.into(), ttl)
        .await
    {
        tracing::warn!(error = %err, "heartbeat failed");
    }
}

/// Another host may have paused a queue or deployed a module.
async fn refresh_shared(shared: &Arc<Shared>) {
    match shared.store.paused_queues().await {
        Ok(paused) => shared.paused.replace(paused),
        Err(err) => tracing::warn!(error = %err, "could not read pause flags"),
    }
    if let Err(err) = bindings::sync_bindings(shared).await {
        tracing::warn!(error = %err, "could not refresh deployments");
    }
}
