//! Dead-letter queue operations. AMQP has no way to read a queue without taking messages, so a
//! listing takes them on a private channel without acking and closes it: RabbitMQ puts them back
//! in their original order.

use lapin::options::{BasicAckOptions, BasicGetOptions, QueuePurgeOptions};
use lapin::{Channel, message::BasicGetMessage};
use wasmboost_broker::{BrokerError, DeadLetter};

use crate::codec::{self, Envelope};
use crate::session::{Outgoing, Session, map_err};
use crate::topology;

async fn get(channel: &Channel, dlq: &str) -> Result<Option<BasicGetMessage>, BrokerError> {
    channel
        .basic_get(dlq.into(), BasicGetOptions { no_ack: false })
        .await
        .map_err(|e| map_err(&format!("reading {dlq:?}"), &e))
}

async fn close(channel: Channel) {
    // Closing returns every unacked message to the queue; a failure means the connection is gone,
    // which returns them too.
    if let Err(e) = channel.close(200, "done".into()).await {
        tracing::debug!(error = %e, "closing a dead-letter channel");
    }
}

pub(crate) async fn list(
    session: &Session,
    queue: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, BrokerError> {
    let dlq = topology::dlq(queue);
    let channel = session.channel().await?;
    let mut out = Vec::new();
    let result = async {
        while out.len() < limit {
            let Some(got) = get(&channel, &dlq).await? else {
                break;
            };
            let d = got.delivery;
            out.push(codec::decode_dead(queue, &d.properties, d.data));
        }
        Ok::<_, BrokerError>(())
    }
    .await;
    close(channel).await;
    result.map(|()| out)
}

/// Move the dead letters (all, or those with `ids`) back onto the work queue with attempt 1.
pub(crate) async fn replay(
    session: &Session,
    queue: &str,
    ids: Option<&[String]>,
) -> Result<u64, BrokerError> {
    let dlq = topology::dlq(queue);
    let channel = session.channel().await?;
    let result = async {
        let mut moved = 0;
        while let Some(got) = get(&channel, &dlq).await? {
            let d = got.delivery;
            let mut envelope = Envelope::decode(queue, &d.properties, d.data, false);
            if ids.is_some_and(|ids| !ids.contains(&envelope.message.id)) {
                continue; // left unacked: back in place when the channel closes
            }
            let m = &mut envelope.message;
            (m.attempt, m.requeues, m.redeliveries) = (1, 0, 0);
            envelope.not_before_ms = None;
            let out = Outgoing {
                exchange: String::new(),
                routing_key: queue.to_owned(),
                body: envelope.message.body.clone(),
                properties: envelope.properties(&[]),
                id: envelope.message.id.clone(),
            };
            session.publish_confirmed(vec![out]).await?;
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| map_err("acking a replayed dead letter", &e))?;
            moved += 1;
        }
        Ok::<_, BrokerError>(moved)
    }
    .await;
    close(channel).await;
    result
}

pub(crate) async fn purge(session: &Session, queue: &str) -> Result<u64, BrokerError> {
    let dlq = topology::dlq(queue);
    let n = session
        .publisher()
        .queue_purge(dlq.as_str().into(), QueuePurgeOptions::default())
        .await
        .map_err(|e| map_err(&format!("purging {dlq:?}"), &e))?;
    Ok(u64::from(n))
}
