//! Which module each queue runs: every queue with a deployment gets a worker (and its fetch
//! loop) on its current version, at start, after a deploy or rollback, and when another host on
//! a shared store deployed.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::HostError;
use crate::fetch;
use crate::shared::{Bound, QueueWorker, Shared};

/// Make sure every queue with a deployment has a running worker on its current module.
pub(crate) async fn sync_bindings(shared: &Arc<Shared>) -> Result<(), HostError> {
    let mut queues = shared.registry.queues().await?;
    // A queue deployed before the queue-name rule reserved its name (`..`, `wasmboost.x`)
    // cannot be served; the others must still start.
    queues.retain(|queue| match wasmboost_policy::validate_queue_name(queue) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "not serving a deployed queue whose name is no longer valid");
            false
        }
    });
    let new: BTreeSet<String> = queues.iter().cloned().collect();
    shared
        .bound
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(new);
    for queue in queues {
        rebind(shared, &queue).await?;
    }
    Ok(())
}

/// Load `queue`'s current module into its worker, starting the worker if it has none.
pub(crate) async fn rebind(shared: &Arc<Shared>, queue: &str) -> Result<(), HostError> {
    let current = shared.registry.current(queue).await?;
    shared
        .bound
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(queue.to_owned());
    let worker = ensure_worker(shared, queue);
    let unchanged = match (worker.bound(), &current) {
        (Some(old), Some((v, _))) => {
            old.version.number == v.number && old.version.sha256 == v.sha256
        }
        _ => false,
    };
    if !unchanged {
        worker.set_bound(current.map(|(version, module)| Arc::new(Bound { version, module })));
    }
    Ok(())
}

fn ensure_worker(shared: &Arc<Shared>, queue: &str) -> Arc<QueueWorker> {
    let mut workers = shared.workers.write().unwrap_or_else(|p| p.into_inner());
    if let Some(q) = workers.get(queue) {
        return Arc::clone(q);
    }
    let q = Arc::new(QueueWorker::new(queue, shared.settings(queue).clone()));
    workers.insert(queue.to_owned(), Arc::clone(&q));
    shared
        .tracker
        .spawn(fetch::run(Arc::clone(shared), Arc::clone(&q)));
    q
}
