//! Building the `wasmboost queues` rows: broker counts, persisted counters, this host's meters
//! and the live hosts' heartbeats.

use std::collections::BTreeMap;

use wasmboost_broker::now_ms;

use crate::error::HostError;
use crate::shared::Shared;
use crate::stats::{QueueStats, eta_secs};
use crate::upkeep::{self, HostInfo};

/// One row per declared or deployed queue.
pub(crate) async fn all(shared: &Shared) -> Result<Vec<QueueStats>, HostError> {
    upkeep::flush_counters(shared).await;
    let hosts = live_hosts(shared).await;
    let mut rows = Vec::new();
    for queue in shared.known_queues() {
        rows.push(one(shared, &queue, &hosts).await?);
    }
    Ok(rows)
}

/// The hosts whose heartbeat has not expired, by id.
pub(crate) async fn hosts(shared: &Shared) -> Vec<HostInfo> {
    let mut hosts = live_hosts(shared).await;
    hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    hosts
}

async fn live_hosts(shared: &Shared) -> Vec<HostInfo> {
    match shared.store.live_hosts().await {
        Ok(list) => list
            .iter()
            .filter_map(|b| serde_json::from_slice::<HostInfo>(b).ok())
            .collect(),
        Err(err) => {
            tracing::warn!(error = %err, "could not list live hosts");
            Vec::new()
        }
    }
}

fn counter(counters: &BTreeMap<String, i64>, name: &str) -> u64 {
    counters
        .get(name)
        .map_or(0, |&v| u64::try_from(v).unwrap_or(0))
}

async fn one(shared: &Shared, queue: &str, hosts: &[HostInfo]) -> Result<QueueStats, HostError> {
    let counts = shared.broker.counts(queue).await?;
    let counters = shared.store.counters(queue).await?;
    let worker = shared.worker(queue);
    let now = now_ms();
    let (rate, avg) = worker.as_ref().map_or((0.0, 0.0), |q| {
        q.meter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .rate_and_avg(now)
    });
    let mut host_ids: Vec<String> = hosts
        .iter()
        .filter(|h| h.queues.iter().any(|q| q == queue))
        .map(|h| h.host_id.clone())
        .collect();
    if worker.is_some() && !host_ids.contains(&shared.host_id) {
        host_ids.push(shared.host_id.clone());
    }
    host_ids.sort();
    Ok(QueueStats {
        queue: queue.to_owned(),
        paused: shared.paused.contains(queue),
        version: worker.and_then(|q| q.bound()).map(|b| b.version.number),
        queued: counts.ready,
        delayed: counts.delayed,
        running: counts.leased,
        succeeded: counter(&counters, "succeeded"),
        failed: counter(&counters, "failed"),
        // What sits in the dead-letter queue now (replay and purge change it).
        dead_lettered: counts.dead,
        retried: counter(&counters, "retried"),
        dead_lettered_total: counter(&counters, "dead_lettered"),
        expired: counter(&counters, "expired"),
        skipped_duplicate: counter(&counters, "skipped_duplicate"),
        rate_per_sec_1m: rate,
        avg_duration_ms: avg,
        eta_drain_secs: eta_secs(counts.ready, rate),
        hosts: host_ids,
        denied: counter(&counters, "denied"),
        grants: shared
            .config
            .queues
            .get(queue)
            .and_then(|q| q.grants.clone()),
        // The grants are shown once, above.
        config: shared
            .config
            .queues
            .get(queue)
            .map(|q| crate::config::QueueConfig {
                grants: None,
                ..q.clone()
            }),
    })
}
