//! One reserved job: `touch` renews it, `delete` acks it (group-committed), `release` with a
//! delay retries it, `bury` dead-letters it (its reason goes to the queue's reasons tube) and a
//! requeue puts a copy with one more requeue and deletes the original.
//!
//! Late settles (see `wasmboost_broker::Lease`): `touch`, `release` and `bury` work only on a
//! job reserved by this very connection, so beanstalkd itself fences them (`NOT_FOUND` →
//! `LeaseLost`). `delete` is different: it also deletes a job that is ready, delayed or buried,
//! so a late ack could erase another holder's retry or dead letter. An ack made after half the
//! TTR therefore touches first and deletes only if the touch proved the job is still ours. A
//! lease whose connection broke is lost at once: beanstalkd put its job back.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::networked::wire::WireFields;
use wasmboost_broker::{BrokerError, Lease, Message, Settlement, now_ms};

use crate::broker::{Shared, put_on};
use crate::conn::Held;
use crate::error::unexpected;
use crate::pool::ReserveLink;
use crate::proto::{Command, Reply};
use crate::tube;

/// One reservation of a job, as a fetch made it.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub link: Arc<ReserveLink>,
    pub generation: u64,
    pub job: u64,
    pub token: u64,
    pub pri: u32,
    pub ttr: Duration,
}

pub(crate) struct BeanstalkLease {
    shared: Arc<Shared>,
    link: Arc<ReserveLink>,
    generation: u64,
    job: u64,
    /// This reservation of the job on its connection (see `pool`).
    token: u64,
    /// The job's beanstalkd priority, kept on release and bury.
    pri: u32,
    ttr: Duration,
    message: Message,
}

impl BeanstalkLease {
    pub(crate) fn new(shared: Arc<Shared>, reservation: Reservation, message: Message) -> Self {
        let Reservation {
            link,
            generation,
            job,
            token,
            pri,
            ttr,
        } = reservation;
        BeanstalkLease {
            shared,
            link,
            generation,
            job,
            token,
            pri,
            ttr,
            message,
        }
    }

    fn lost(&self) -> BrokerError {
        BrokerError::LeaseLost {
            queue: self.message.queue.clone(),
            id: self.message.id.clone(),
        }
    }

    /// The connection that reserved the job, if it did not break since and did not reserve
    /// the job again (locked, so no reserve changes that while the caller acts).
    async fn held(&self) -> Result<Held<'_>, BrokerError> {
        let held = self.link.link.lock_generation(self.generation).await;
        match held {
            Some(held) if self.link.owns(self.job, self.token) => Ok(held),
            _ => Err(self.lost()),
        }
    }

    async fn touch(&self, held: &mut Held<'_>, lease: Option<Duration>) -> Result<(), BrokerError> {
        match held.one(Command::Touch(self.job)).await? {
            Reply::Touched => {
                self.link.touched(self.job, self.token, lease);
                Ok(())
            }
            Reply::NotFound => Err(self.lost()),
            other => Err(unexpected(&format!("touch {}", self.job), &other)),
        }
    }

    /// Close enough to the TTR that beanstalkd may have put the job back before a delete
    /// arrives (the keeper touches at half the TTR, so a kept job is never late).
    fn late(&self) -> bool {
        self.link.time_left(self.job, self.token) < self.ttr / 4
    }

    async fn ack(&self) -> Result<(), BrokerError> {
        if self.late() {
            let mut held = self.held().await?;
            self.touch(&mut held, None).await?;
        } else if !self.link.owns(self.job, self.token) {
            return Err(self.lost());
        }
        match self.link.delete(self.generation, self.job).await {
            Err(BrokerError::LeaseLost { .. }) => Err(self.lost()),
            other => other,
        }
    }

    async fn retry(&self, after: Duration) -> Result<(), BrokerError> {
        let mut held = self.held().await?;
        let release = Command::Release {
            id: self.job,
            pri: self.pri,
            delay: tube::secs_ceil(after),
        };
        match held.one(release).await? {
            Reply::Released => Ok(()),
            Reply::NotFound => Err(self.lost()),
            other => Err(unexpected(&format!("release {}", self.job), &other)),
        }
    }

    /// A copy with one more requeue (a release would count an attempt), then the original goes.
    async fn requeue(&self) -> Result<(), BrokerError> {
        let mut held = self.held().await?;
        self.touch(&mut held, None).await?;
        let mut m = self.message.clone();
        m.requeues = m.requeues.saturating_add(1);
        let body = tube::encode(&WireFields::of(&m), &m.body);
        let tube_name = self.shared.tube(&m.queue);
        let ttr = self.shared.config.ttr_secs;
        put_on(&mut held, &tube_name, ttr, vec![(self.pri, 0, body)]).await?;
        match held.one(Command::Delete(self.job)).await? {
            Reply::Deleted => Ok(()),
            other => Err(unexpected(&format!("delete {}", self.job), &other)),
        }
    }

    /// The reason first (so a listed dead letter always has one), then the bury; a bury that
    /// comes too late takes its reason back.
    async fn dead_letter(&self, reason: String) -> Result<(), BrokerError> {
        let record = crate::dead::Record {
            job: self.job,
            id: self.message.id.clone(),
            reason,
            dead_ms: now_ms(),
        };
        let queue = &self.message.queue;
        let record_id = crate::dead::put_record(&self.shared, queue, &record).await?;
        let buried = match self.held().await {
            Ok(mut held) => match held
                .one(Command::Bury {
                    id: self.job,
                    pri: self.pri,
                })
                .await?
            {
                Reply::Buried(None) => Ok(()),
                Reply::NotFound => Err(self.lost()),
                other => Err(unexpected(&format!("bury {}", self.job), &other)),
            },
            Err(e) => Err(e),
        };
        if buried.as_ref().is_err_and(BrokerError::is_lease_lost) {
            crate::dead::delete_record(&self.shared, record_id).await;
        }
        buried
    }
}

#[async_trait]
impl Lease for BeanstalkLease {
    async fn renew(&self, lease: Duration) -> Result<(), BrokerError> {
        let mut held = self.held().await?;
        self.touch(&mut held, Some(lease)).await
    }

    async fn settle(self: Box<Self>, settlement: Settlement) -> Result<(), BrokerError> {
        let result = match settlement {
            Settlement::Ack => self.ack().await,
            Settlement::Retry { after } => self.retry(after).await,
            Settlement::Requeue => self.requeue().await,
            Settlement::DeadLetter { reason } => self.dead_letter(reason).await,
        };
        // Settled or lost, this connection no longer holds it (an outage leaves it to its TTR).
        if !matches!(result, Err(BrokerError::Unavailable(_))) {
            self.link.forget(self.job, self.token);
        }
        result
    }
}
