//! The dead-letter stream of a queue: listing (oldest first, by sequence) and replaying (a new
//! copy on the message's band with attempt 1, then the dead letter deleted by sequence).

use std::sync::Arc;

use async_nats::jetstream::stream::RawMessageErrorKind;
use wasmboost_broker::networked::wire::Fallback;
use wasmboost_broker::{BrokerError, DeadLetter};

use crate::error::op;
use crate::topology::{Queue, band_subject};
use crate::wire;

/// Up to `limit` dead letters of `q`, oldest first, with their stream sequences.
pub(crate) async fn list(
    q: &Arc<Queue>,
    limit: usize,
) -> Result<Vec<(u64, DeadLetter)>, BrokerError> {
    let client = q.js.client();
    let info = q
        .dead
        .get_info()
        .await
        .map_err(|e| op(&client, "list dead letters", e))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let mut out = Vec::new();
    if info.state.messages == 0 {
        return Ok(out);
    }
    for seq in first..=last {
        if out.len() >= limit {
            break;
        }
        let m = match q.dead.get_raw_message(seq).await {
            Ok(m) => m,
            // A gap: that one was replayed (deleted).
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => continue,
            Err(e) => return Err(op(&client, "list dead letters", e)),
        };
        let fields = wire::fields(Some(&m.headers));
        let published_ms = u64::try_from(m.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let message = fields.to_message(
            &q.name,
            m.payload.clone(),
            Fallback {
                id: wire::fallback_id(&q.name, seq),
                priority: 0,
                published_ms,
            },
        );
        out.push((
            seq,
            DeadLetter {
                message,
                reason: fields.reason.clone().unwrap_or_default(),
                dead_ms: fields.dead_ms.unwrap_or(published_ms),
            },
        ));
    }
    Ok(out)
}

/// Move the dead letters of `q` (all, or those with `ids`) back onto their band, attempt 1.
pub(crate) async fn replay(q: &Arc<Queue>, ids: Option<&[String]>) -> Result<u64, BrokerError> {
    let client = q.js.client();
    let mut moved = 0;
    for (seq, dead) in list(q, usize::MAX).await? {
        let m = dead.message;
        if ids.is_some_and(|ids| !ids.contains(&m.id)) {
            continue;
        }
        let mut fields = wasmboost_broker::networked::wire::WireFields::of(&m);
        fields.attempt = Some(1);
        let headers = wire::headers(&fields, None, &format!("{}#{seq}dlq", m.id));
        let ack =
            q.js.publish_with_headers(band_subject(&q.name, m.priority), headers, m.body)
                .await
                .map_err(|e| op(&client, "replay", e))?;
        ack.await.map_err(|e| op(&client, "replay", e))?;
        q.dead
            .delete_message(seq)
            .await
            .map_err(|e| op(&client, "replay", e))?;
        moved += 1;
    }
    Ok(moved)
}
