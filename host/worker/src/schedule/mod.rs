//! The schedule firer: one loop per host. Each round it holds or tries to take the leader
//! lease (on a shared store only one host holds it; its fencing token changes with every
//! tenure), and the leader fires the ticks that are due under each schedule's misfire policy.
//! A tick is first claimed in the state store (one atomic step that checks the token and that
//! the tick is newer than the schedule's last), then published with the task id
//! `<schedule>@<tick ms>`; a fenced-out leader or a second fire of the same tick claims
//! nothing and publishes nothing.
//!
//! What a crash can do: a leader killed between its claim and its publish has claimed a tick
//! it never published. Every round the leader looks at each schedule's last claimed tick while
//! it is within `grace`: a tick without a task record was not published, and is published
//! again with its derived id (only on queues that keep `queued` records, `results = "always"`,
//! the default; elsewhere the tick is lost in that window). Ticks missed while no host led are
//! handled by the misfire policy of the next leader, within `grace` as if on time.
//!
//! Schedules come from the config and from the run-time document (`runtime`: added, paused),
//! read again every round, so a change through any host applies from the leader's next round.

pub(crate) mod runtime;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmboost_broker::now_ms;
use wasmboost_policy::schedule::{due, tick_task_id, timestamp_ms, to_ms};

use crate::config::schedule::Schedule;
use crate::error::HostError;
use crate::fault;
use crate::host::Host;
use crate::publish::PublishOptions;
use crate::record::TaskState;

/// The one leader lease every host competes for.
const LEASE: &str = "scheduler";
/// How long a leader's lease lasts without renewal: another host takes over at most this long
/// after the leader died.
pub const LEADER_LEASE: Duration = Duration::from_secs(3);
/// How often every host renews or tries to take the lease (a third of it, so a live leader
/// renews twice before it could lapse).
const ROUND: Duration = Duration::from_secs(1);

/// A schedule as `wasmboost schedule list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub name: String,
    pub queue: String,
    /// `cron "…" zone`, `every 30s` or `at …`.
    pub trigger: String,
    pub misfire: String,
    /// The next tick after now (ms since the Unix epoch); none for a spent `at`.
    pub next_ms: Option<u64>,
    /// The last tick fired or passed over.
    pub last_ms: Option<u64>,
    /// The task id of the last tick and its current state (none once its record expired, or
    /// when the tick was passed over).
    pub last_task_id: Option<String>,
    pub last_state: Option<TaskState>,
    /// Paused: no tick fires; on resume the ticks missed meanwhile follow `misfire`.
    #[serde(default)]
    pub paused: bool,
    /// `config` (`[[schedules]]`) or `runtime` (added through the CLI or API).
    #[serde(default)]
    pub source: String,
}

/// Run the firer until the host stops. Without any schedule it only reads the run-time
/// document each round (no lease is taken).
///
/// A round fires first, with the lease token and run-time document the last round read, and
/// only then reads the document and renews the lease for the next wake: a due tick waits for
/// nothing but its own claim (which checks the token in the store, so a token that lapsed
/// meanwhile claims nothing) and publish. A host that has just taken the lease fires at once.
pub(crate) async fn run(host: Host, configured: Vec<Schedule>) {
    let stop = host.shared.stop.clone();
    let mut leading = None;
    let mut stored = runtime::RuntimeSchedules::default();
    loop {
        if let Some(token) = leading {
            fire_all(&host, &all_schedules(&configured, &stored), &stored, token).await;
        }
        match runtime::load(&host.shared).await {
            Ok(doc) => stored = doc,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the run-time schedules; using the last ones read")
            }
        }
        let schedules = all_schedules(&configured, &stored);
        let before = leading;
        if schedules.is_empty() {
            leading = None;
        } else if let Some(token) = lead(&host, &mut leading).await
            && before != Some(token)
        {
            fire_all(&host, &schedules, &stored, token).await;
        }
        let wake = next_wake(&schedules, now_ms());
        tokio::select! {
            () = tokio::time::sleep(wake) => {}
            () = stop.cancelled() => return,
        }
    }
}

fn all_schedules(configured: &[Schedule], stored: &runtime::RuntimeSchedules) -> Vec<Schedule> {
    let mut schedules = configured.to_vec();
    schedules.extend(stored.resolved());
    schedules
}

/// Fire every schedule's due ticks under `token`, side by side (one slow schedule does not
/// make the next one late).
async fn fire_all(
    host: &Host,
    schedules: &[Schedule],
    stored: &runtime::RuntimeSchedules,
    token: u64,
) {
    let now = now_ms();
    let fires = schedules.iter().map(|schedule| async move {
        let paused = stored.paused.contains(&schedule.name);
        if let Err(err) = fire_due(host, schedule, token, now, paused).await {
            tracing::warn!(schedule = %schedule.name, error = %err, "could not fire");
        }
    });
    futures::future::join_all(fires).await;
}

/// Hold or take the lease; logs each change of leadership.
async fn lead(host: &Host, leading: &mut Option<u64>) -> Option<u64> {
    let store = &host.shared.store;
    let token = match store.lead(LEASE, &host.shared.host_id, LEADER_LEASE).await {
        Ok(token) => token,
        Err(err) => {
            tracing::warn!(error = %err, "cannot reach the leader lease; not firing schedules");
            None
        }
    };
    if token != *leading {
        match token {
            Some(token) => tracing::info!(token, "this host fires the schedules now"),
            None => tracing::info!("another host fires the schedules"),
        }
        *leading = token;
    }
    token
}

/// Sleep until the next tick of any schedule, but no longer than a lease round.
fn next_wake(schedules: &[Schedule], now: u64) -> Duration {
    let now_ts = timestamp_ms(now);
    let next = schedules
        .iter()
        .filter_map(|s| s.trigger.next_after(now_ts))
        .map(to_ms)
        .min();
    let until_next = next.map_or(ROUND, |n| Duration::from_millis(n.saturating_sub(now)));
    until_next.min(ROUND)
}

/// Fire `schedule`'s due ticks under `token` (none while it is paused).
async fn fire_due(
    host: &Host,
    schedule: &Schedule,
    token: u64,
    now: u64,
    paused: bool,
) -> Result<(), HostError> {
    let store = &host.shared.store;
    let grace_ms = u64::try_from(schedule.grace.as_millis()).unwrap_or(u64::MAX);
    // A schedule never fired starts from `grace` ago: it fires an on-time tick, never the past.
    if paused {
        // As if no host could fire it: on resume, the ticks missed meanwhile follow `misfire`.
        return Ok(());
    }
    let stored_last = store.last_tick(&schedule.name).await?;
    if let Some(last) = stored_last
        && now.saturating_sub(last) <= grace_ms
    {
        republish_if_lost(host, schedule, last).await?;
    }
    let last = stored_last.unwrap_or_else(|| now.saturating_sub(grace_ms));
    let plan = due(
        &schedule.trigger,
        timestamp_ms(last),
        timestamp_ms(now),
        schedule.misfire,
        schedule.grace,
    );
    if plan.skipped > 0 {
        tracing::warn!(schedule = %schedule.name, skipped = plan.skipped, misfire = ?schedule.misfire, "ticks missed while no host could fire them");
    }
    for tick in plan.fire.iter().copied().map(to_ms) {
        if !store.claim_tick(LEASE, token, &schedule.name, tick).await? {
            // Fenced out (another host leads now) or fired already: stop this round.
            return Ok(());
        }
        fault::claimed_tick();
        publish_tick(host, schedule, tick).await;
    }
    // Ticks passed over still move `last`, so they are not judged again.
    if let Some(handled) = plan.last.map(to_ms)
        && plan.fire.last().map(|t| to_ms(*t)) != Some(handled)
    {
        store
            .claim_tick(LEASE, token, &schedule.name, handled)
            .await?;
    }
    Ok(())
}

/// The claimed tick `tick` has no task record: the leader that claimed it died before its
/// publish. Publish it now with its derived id. Only where `queued` records are kept (else a
/// missing record says nothing).
async fn republish_if_lost(host: &Host, schedule: &Schedule, tick: u64) -> Result<(), HostError> {
    let keeps = host
        .shared
        .settings(&schedule.queue)
        .results
        .keeps(TaskState::Queued, false);
    let id = tick_task_id(&schedule.name, timestamp_ms(tick));
    if !keeps || host.shared.store.get_record(&id).await?.is_some() {
        return Ok(());
    }
    tracing::warn!(schedule = %schedule.name, task_id = %id, "a claimed tick was never published (its leader died); publishing it now");
    publish_tick(host, schedule, tick).await;
    Ok(())
}

async fn publish_tick(host: &Host, schedule: &Schedule, tick: u64) {
    let id = tick_task_id(&schedule.name, timestamp_ms(tick));
    let opts = PublishOptions {
        task_id: Some(id.clone()),
        ..PublishOptions::default()
    };
    match host.publish(&schedule.queue, &schedule.payload, opts).await {
        Ok(_) => {
            let late_ms = now_ms().saturating_sub(tick);
            tracing::debug!(schedule = %schedule.name, task_id = %id, late_ms, "tick fired");
        }
        Err(err) => {
            tracing::warn!(schedule = %schedule.name, task_id = %id, error = %err, "tick claimed but not published; it is lost")
        }
    }
}

impl Host {
    /// Every configured schedule with its next and last tick and the last tick's state.
    pub async fn schedules(&self) -> Result<Vec<ScheduleInfo>, HostError> {
        let now = timestamp_ms(now_ms());
        let stored = runtime::load(&self.shared).await?;
        let added = stored.resolved();
        let configured = self.shared.schedules.iter().map(|s| (s, "config"));
        let mut out = Vec::new();
        for (schedule, source) in configured.chain(added.iter().map(|s| (s, "runtime"))) {
            let last_ms = self.shared.store.last_tick(&schedule.name).await?;
            let last_task_id = last_ms.map(|ms| tick_task_id(&schedule.name, timestamp_ms(ms)));
            let last_state = match &last_task_id {
                Some(id) => self.record(id).await?.map(|r| r.state),
                None => None,
            };
            out.push(ScheduleInfo {
                name: schedule.name.clone(),
                queue: schedule.queue.clone(),
                trigger: schedule.spec.clone(),
                misfire: format!("{:?}", schedule.misfire).to_lowercase(),
                next_ms: schedule.trigger.next_after(now).map(to_ms),
                last_ms,
                last_task_id: last_state.is_some().then_some(last_task_id).flatten(),
                last_state,
                paused: stored.paused.contains(&schedule.name),
                source: source.to_owned(),
            });
        }
        Ok(out)
    }
}
