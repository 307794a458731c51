//! Pure per-queue policy logic: QPS limiter, retry/backoff decision, expiry, dedup keys, allowed windows. No I/O.
