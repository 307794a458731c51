//! [`BeanstalkBroker`]: the [`Broker`] on beanstalkd. Publishing, counting and dead-letter
//! bookkeeping go through one control connection; fetching through each queue's reserving
//! connections ([`crate::pool`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use wasmboost_broker::networked::wire::WireFields;
use wasmboost_broker::{
    Broker, BrokerError, DeadLetter, Delivery, NewMessage, QueueCounts, now_ms, validate_queue_name,
};

use crate::config::BeanstalkConfig;
use crate::conn::{Held, Link};
use crate::error::unexpected;
use crate::lease::{BeanstalkLease, Reservation};
use crate::pool::{QueuePool, ReserveLink};
use crate::proto::{Command, Reply, stat_u64};
use crate::tube::{self, JobStats};

/// Most jobs one fetch reserves (bounds one pipelined write).
pub const MAX_FETCH: usize = 1000;

/// The beanstalkd broker (see the crate docs).
#[derive(Debug)]
pub struct BeanstalkBroker {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: BeanstalkConfig,
    /// Puts, stats and dead-letter reasons.
    pub control: Link,
    pools: Mutex<HashMap<String, Arc<QueuePool>>>,
}

impl Shared {
    pub(crate) fn tube(&self, queue: &str) -> String {
        format!("{}{queue}", self.config.tube_prefix)
    }

    pub(crate) fn dead_tube(&self, queue: &str) -> String {
        format!("{}{queue}{}", self.config.tube_prefix, tube::DEAD_SUFFIX)
    }

    fn pool(&self, queue: &str) -> Arc<QueuePool> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(pools.entry(queue.to_owned()).or_insert_with(|| {
            Arc::new(QueuePool::new(
                queue,
                self.tube(queue),
                self.config.host_port(),
                self.config.reconnect(),
            ))
        }))
    }

    /// Put `jobs` (pri, delay, body) into `tube` in one pipelined write.
    pub(crate) async fn put(
        &self,
        tube: &str,
        jobs: Vec<(u32, u32, bytes::Bytes)>,
    ) -> Result<Vec<u64>, BrokerError> {
        let mut held = self.control.lock().await?;
        put_on(&mut held, tube, self.config.ttr_secs, jobs).await
    }
}

/// Put `jobs` into `tube` on `held` (pipelined); the ids of the new jobs.
pub(crate) async fn put_on(
    held: &mut Held<'_>,
    tube: &str,
    ttr: u32,
    jobs: Vec<(u32, u32, bytes::Bytes)>,
) -> Result<Vec<u64>, BrokerError> {
    let mut cmds = Vec::with_capacity(jobs.len() + 1);
    let skip = held.using(tube, &mut cmds);
    cmds.extend(jobs.into_iter().map(|(pri, delay, body)| Command::Put {
        pri,
        delay,
        ttr,
        body,
    }));
    let replies = held.call(cmds).await?;
    replies
        .into_iter()
        .skip(skip)
        .map(|r| match r {
            Reply::Inserted(id) => Ok(id),
            Reply::Error(e) if e == "DRAINING" => Err(BrokerError::Unavailable(format!(
                "beanstalkd is draining: put into {tube} refused"
            ))),
            other => Err(unexpected(&format!("put into {tube}"), &other)),
        })
        .collect()
}

impl BeanstalkBroker {
    /// A broker for `config` (validated). Connects lazily: the first operation connects, and
    /// every later one reconnects if the server went away.
    pub fn new(config: BeanstalkConfig) -> Result<Self, crate::ConnectError> {
        config.validate()?;
        let control = Link::new(config.host_port(), None, config.reconnect());
        Ok(BeanstalkBroker {
            shared: Arc::new(Shared {
                config,
                control,
                pools: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// [`BeanstalkBroker::new`], then one round trip to check the server answers.
    pub async fn connect(config: BeanstalkConfig) -> Result<Self, crate::ConnectError> {
        let broker = BeanstalkBroker::new(config)?;
        let addr = broker.shared.config.host_port().to_owned();
        let probe = async {
            let mut held = broker.shared.control.lock().await?;
            held.one(Command::StatsTube("default".into())).await
        };
        probe.await.map_err(|e| crate::ConnectError::Connect {
            addr,
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(broker)
    }

    /// Reserve up to `max` jobs on `rl`, waiting up to `wait_secs` for the first. The replies
    /// that are not jobs (`TIMED_OUT`, `DEADLINE_SOON`) end the batch.
    async fn reserve(
        &self,
        pool: &QueuePool,
        rl: &Arc<ReserveLink>,
        held: &mut Held<'_>,
        want: Want,
    ) -> Result<Vec<Delivery>, BrokerError> {
        let Want {
            max,
            wait_secs,
            lease,
        } = want;
        let mut jobs = Vec::new();
        for reply in held.call(reserves(1, wait_secs)).await? {
            collect(reply, &mut jobs)?;
        }
        if jobs.len() == 1 && max > 1 {
            for reply in held.call(reserves(max - 1, 0)).await? {
                collect(reply, &mut jobs)?;
            }
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let stats = held
            .call(jobs.iter().map(|(id, _)| Command::StatsJob(*id)).collect())
            .await?;
        let generation = held.generation();
        let now = now_ms();
        let mut out = Vec::with_capacity(jobs.len());
        for ((id, body), stats) in jobs.into_iter().zip(stats) {
            let Reply::Ok(yaml) = stats else {
                // Reserved a moment ago on this connection: it cannot be gone.
                return Err(unexpected(&format!("stats-job {id}"), &stats));
            };
            let js = JobStats {
                pri: u32::try_from(stat_u64(&yaml, "pri")).unwrap_or(u32::MAX),
                age_secs: stat_u64(&yaml, "age"),
                reserves: stat_u64(&yaml, "reserves"),
                releases: stat_u64(&yaml, "releases"),
            };
            let ttr = Duration::from_secs(stat_u64(&yaml, "ttr").max(1));
            let message = tube::message(&pool.queue, id, &body, js, now);
            let token = rl.hold(id, ttr, lease);
            let reservation = Reservation {
                link: Arc::clone(rl),
                generation,
                job: id,
                token,
                pri: js.pri,
                ttr,
            };
            let lease = BeanstalkLease::new(Arc::clone(&self.shared), reservation, message.clone());
            out.push(Delivery::new(message, Box::new(lease)));
        }
        Ok(out)
    }
}

/// What one fetch asks of a reserving connection.
#[derive(Debug, Clone, Copy)]
struct Want {
    max: usize,
    /// How long the first reserve may block, whole seconds.
    wait_secs: u32,
    /// The caller's lease.
    lease: Duration,
}

/// `n` reserves, the first waiting up to `wait_secs`, then a harmless `list-tube-used`.
///
/// Why the last one: beanstalkd 1.12 stops timing out the jobs a connection holds when a
/// `reserve-with-timeout` that found nothing is the last command it got (the connection is not
/// scheduled again until its next command), so a job whose holder died in spirit would stay
/// reserved for good. Any later command puts the connection back on the schedule. Without it
/// the conformance tests `lease_expiry_redelivers` and `late_settle_is_lease_lost` fail (the
/// redelivery never comes).
fn reserves(n: usize, wait_secs: u32) -> Vec<Command> {
    let mut cmds = Vec::with_capacity(n + 1);
    cmds.push(Command::ReserveWithTimeout(wait_secs));
    cmds.extend((1..n).map(|_| Command::ReserveWithTimeout(0)));
    cmds.push(Command::ListTubeUsed);
    cmds
}

fn collect(reply: Reply, jobs: &mut Vec<(u64, bytes::Bytes)>) -> Result<(), BrokerError> {
    match reply {
        Reply::Reserved { id, body } => jobs.push((id, body)),
        Reply::TimedOut | Reply::DeadlineSoon | Reply::Using(_) => {}
        other => return Err(unexpected("reserve-with-timeout", &other)),
    }
    Ok(())
}

#[async_trait]
impl Broker for BeanstalkBroker {
    fn kind(&self) -> &'static str {
        crate::TYPE
    }

    async fn publish(&self, queue: &str, messages: Vec<NewMessage>) -> Result<(), BrokerError> {
        validate_queue_name(queue)?;
        let now = now_ms();
        let jobs = messages
            .into_iter()
            .map(|m| {
                let fields = WireFields {
                    id: Some(m.id),
                    published_ms: Some(now),
                    ..WireFields::default()
                };
                let body = tube::encode(&fields, &m.body);
                let delay = tube::delay_secs(m.not_before_ms, now);
                (tube::to_pri(m.priority), delay, body)
            })
            .collect();
        self.shared.put(&self.shared.tube(queue), jobs).await?;
        Ok(())
    }

    async fn fetch(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BrokerError> {
        validate_queue_name(queue)?;
        let max = max.min(MAX_FETCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let pool = self.shared.pool(queue);
        // Ready jobs first, on a connection that holds jobs already (never blocks).
        for rl in pool.holders() {
            let Some(held) = rl.link.try_lock().await else {
                continue;
            };
            let mut held = held?;
            let want = Want {
                max,
                wait_secs: 0,
                lease,
            };
            let got = self.reserve(&pool, &rl, &mut held, want).await?;
            if !got.is_empty() {
                return Ok(got);
            }
            break;
        }
        // Nothing ready: wait on a connection that holds nothing, so no settle waits behind it.
        // beanstalkd waits whole seconds: round up (a fetch may wait up to a second longer).
        let wait_secs = tube::secs_ceil(wait);
        for rl in pool
            .idle()
            .into_iter()
            .chain(std::iter::once_with(|| pool.fresh()))
        {
            let Some(held) = rl.link.try_lock().await else {
                continue;
            };
            let mut held = held?;
            let want = Want {
                max,
                wait_secs,
                lease,
            };
            return self.reserve(&pool, &rl, &mut held, want).await;
        }
        Ok(Vec::new())
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, BrokerError> {
        validate_queue_name(queue)?;
        let tube = self.shared.tube(queue);
        let mut held = self.shared.control.lock().await?;
        match held.one(Command::StatsTube(tube.clone())).await? {
            Reply::Ok(yaml) => Ok(QueueCounts {
                ready: stat_u64(&yaml, "current-jobs-ready"),
                delayed: stat_u64(&yaml, "current-jobs-delayed"),
                leased: stat_u64(&yaml, "current-jobs-reserved"),
                dead: stat_u64(&yaml, "current-jobs-buried"),
            }),
            // beanstalkd forgets a tube nobody uses or watches once it is empty.
            Reply::NotFound => Ok(QueueCounts::default()),
            other => Err(unexpected(&format!("stats-tube {tube}"), &other)),
        }
    }

    async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, BrokerError> {
        validate_queue_name(queue)?;
        crate::dead::list(&self.shared, queue, limit).await
    }

    async fn replay_dead_letters(
        &self,
        queue: &str,
        ids: Option<&[String]>,
    ) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        crate::dead::replay(&self.shared, queue, ids).await
    }

    async fn purge_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        validate_queue_name(queue)?;
        crate::dead::purge(&self.shared, queue).await
    }
}
