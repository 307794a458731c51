//! Message expiry: a queue's `msg_ttl` (counted from the publish time) and a message's own
//! `extra.expire_at`. An expired message is not run; the worker acks it and records it expired.

use std::time::Duration;

/// Whether a message published at `published_ms` has expired at `now_ms` (all ms since the Unix
/// epoch), under the queue's `msg_ttl` and the message's `expire_at_ms`. Either limit suffices;
/// a message is expired from the instant its limit is reached.
pub fn is_expired(
    published_ms: u64,
    msg_ttl: Option<Duration>,
    expire_at_ms: Option<u64>,
    now_ms: u64,
) -> bool {
    let ttl_end = msg_ttl.map(|ttl| {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        published_ms.saturating_add(ttl_ms)
    });
    [ttl_end, expire_at_ms]
        .into_iter()
        .flatten()
        .any(|end| now_ms >= end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000_000;

    #[test]
    fn no_limits_never_expire() {
        assert!(!is_expired(T, None, None, u64::MAX));
    }

    #[test]
    fn ttl_counts_from_publish() {
        let ttl = Some(Duration::from_secs(60));
        assert!(!is_expired(T, ttl, None, T + 59_999));
        assert!(is_expired(T, ttl, None, T + 60_000));
    }

    #[test]
    fn expire_at_is_absolute() {
        assert!(!is_expired(T, None, Some(T + 10), T + 9));
        assert!(is_expired(T, None, Some(T + 10), T + 10));
    }

    #[test]
    fn the_earlier_limit_wins() {
        let ttl = Some(Duration::from_secs(3600));
        assert!(is_expired(T, ttl, Some(T + 5), T + 6));
        assert!(is_expired(
            T,
            Some(Duration::from_millis(5)),
            Some(T + 3600),
            T + 6
        ));
    }

    #[test]
    fn huge_ttl_does_not_overflow() {
        assert!(!is_expired(
            u64::MAX - 1,
            Some(Duration::MAX),
            None,
            u64::MAX - 1
        ));
    }
}
