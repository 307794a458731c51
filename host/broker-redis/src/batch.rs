//! Natural batching for the group writers (`acker`, `records`): wait for one request, then take
//! whatever else is already queued, so a lone request goes out at once and a busy host sends
//! many per round trip without a timer. The loop is the shared one of
//! `wasmboost_broker::networked::batcher`.

pub(crate) use wasmboost_broker::networked::batcher::next;
