//! Natural batching for the group writers (`acker`, `records`): wait for one request, then take
//! whatever else is already queued, so a lone request goes out at once and a busy host sends
//! many per round trip without a timer.

use tokio::sync::mpsc::UnboundedReceiver;

/// The next batch of at most `max` requests; `None` once every sender is gone.
pub(crate) async fn next<T>(rx: &mut UnboundedReceiver<T>, max: usize) -> Option<Vec<T>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(request) => batch.push(request),
            Err(_) => break,
        }
    }
    Some(batch)
}
