//! Schedules managed at run time (`wasmboost schedule add|pause|resume|rm|run-now`, the
//! `/v1/schedules` routes): one document in the state store, under a reserved record id, that
//! every host sharing the store reads each firing round. It holds the schedules added at run
//! time (the same fields as a `[[schedules]]` entry) and the names of paused schedules (config
//! ones may be paused too; only added ones can be removed).
//!
//! Changes are read-modify-write of that document: two changes at the same instant through two
//! hosts can lose one (the API answers each with the document it wrote); schedule management
//! is rare and manual, so no compare-and-set is spent on it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wasmboost_broker::now_ms;
use wasmboost_broker::state::SCHEDULE_STATE_TTL;

use crate::config::schedule::{Schedule, ScheduleConfig};
use crate::error::HostError;
use crate::host::Host;
use crate::publish::PublishOptions;
use crate::shared::Shared;

/// The record id of the document (a space keeps it apart from every task id).
const DOC_ID: &str = "schedules runtime";

/// The stored document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RuntimeSchedules {
    #[serde(default)]
    pub added: BTreeMap<String, ScheduleConfig>,
    #[serde(default)]
    pub paused: BTreeSet<String>,
}

impl RuntimeSchedules {
    /// The added schedules, resolved (an entry that no longer resolves is skipped, logged).
    pub(crate) fn resolved(&self) -> Vec<Schedule> {
        self.added
            .values()
            .filter_map(|cfg| match cfg.resolve() {
                Ok(s) => Some(s),
                Err(err) => {
                    tracing::warn!(schedule = %cfg.name, error = %err, "stored schedule is invalid; not fired");
                    None
                }
            })
            .collect()
    }
}

pub(crate) async fn load(shared: &Shared) -> Result<RuntimeSchedules, HostError> {
    let Some(bytes) = shared.store.get_record(DOC_ID).await? else {
        return Ok(RuntimeSchedules::default());
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| HostError::Internal(format!("stored run-time schedules are unreadable: {e}")))
}

async fn save(shared: &Shared, doc: &RuntimeSchedules) -> Result<(), HostError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| HostError::Internal(e.to_string()))?;
    shared
        .store
        .put_record(DOC_ID, Bytes::from(bytes), false, SCHEDULE_STATE_TTL)
        .await?;
    Ok(())
}

fn not_found(name: &str) -> HostError {
    HostError::NotFound {
        what: format!("schedule {name:?}"),
    }
}

impl Host {
    fn is_config_schedule(&self, name: &str) -> bool {
        self.shared.schedules.iter().any(|s| s.name == name)
    }

    /// Add a schedule at run time; fired by the leader from its next round on.
    pub async fn add_schedule(&self, entry: ScheduleConfig) -> Result<(), HostError> {
        let resolved = entry.resolve()?;
        self.check_schedule_queue(&resolved.queue)?;
        let mut doc = load(&self.shared).await?;
        if self.is_config_schedule(&entry.name) || doc.added.contains_key(&entry.name) {
            return Err(HostError::BadMessage {
                reason: format!("schedule {:?} exists already (remove it first)", entry.name),
            });
        }
        doc.added.insert(entry.name.clone(), entry);
        save(&self.shared, &doc).await?;
        tracing::info!(schedule = %resolved.name, queue = %resolved.queue, trigger = %resolved.spec, "schedule added");
        Ok(())
    }

    fn check_schedule_queue(&self, queue: &str) -> Result<(), HostError> {
        if self.shared.is_known(queue) {
            Ok(())
        } else {
            Err(HostError::UnknownQueue {
                queue: queue.to_owned(),
                known: self.shared.known_queues(),
            })
        }
    }

    /// Pause (no tick fires) or resume a schedule; on resume the ticks missed while paused follow
    /// its `misfire` policy, as after an outage.
    pub async fn pause_schedule(&self, name: &str, paused: bool) -> Result<(), HostError> {
        let mut doc = load(&self.shared).await?;
        if !self.is_config_schedule(name) && !doc.added.contains_key(name) {
            return Err(not_found(name));
        }
        if paused {
            doc.paused.insert(name.to_owned());
        } else {
            doc.paused.remove(name);
        }
        save(&self.shared, &doc).await?;
        tracing::info!(schedule = %name, paused, "schedule paused or resumed");
        Ok(())
    }

    /// Remove a schedule added at run time (a config one is removed from the config).
    pub async fn remove_schedule(&self, name: &str) -> Result<(), HostError> {
        let mut doc = load(&self.shared).await?;
        if doc.added.remove(name).is_none() {
            if self.is_config_schedule(name) {
                return Err(HostError::BadMessage {
                    reason: format!(
                        "schedule {name:?} is declared in the config; remove it there (or pause it)"
                    ),
                });
            }
            return Err(not_found(name));
        }
        doc.paused.remove(name);
        save(&self.shared, &doc).await?;
        tracing::info!(schedule = %name, "schedule removed");
        Ok(())
    }

    /// Publish the schedule's message now, outside its ticks (task id `<name>@run-<ms>`);
    /// returns the task id.
    pub async fn run_schedule_now(&self, name: &str) -> Result<String, HostError> {
        let doc = load(&self.shared).await?;
        let schedule = match self.shared.schedules.iter().find(|s| s.name == name) {
            Some(s) => s.clone(),
            None => doc
                .added
                .get(name)
                .ok_or_else(|| not_found(name))?
                .resolve()?,
        };
        let opts = PublishOptions {
            task_id: Some(format!("{name}@run-{}", now_ms())),
            ..PublishOptions::default()
        };
        self.publish(&schedule.queue, &schedule.payload, opts).await
    }
}
