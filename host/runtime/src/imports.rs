//! The host side of the 0.2.0 `kv`, `publish` and `config` imports. Each call first checks the
//! queue's grants; a call outside them returns `grant-error::denied` naming what was asked
//! (never a secret value) and counts one denial. The kv namespace is always the invocation's
//! own queue: the guest passes keys, never a queue.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::bindings::v2::wasmboost::task::{config, kv, publish, types};
use crate::grants::KvGrant;
use crate::host::HostState;
use crate::services::{FollowUp, ServiceError, TaskServices};
use crate::text::{cap_text, escape_control};

use types::GrantError;

/// Longest kv key, in bytes.
pub const MAX_KV_KEY_BYTES: usize = 512;
/// Longest piece of a guest string quoted back in an error.
const QUOTE_BYTES: usize = 64;

impl types::Host for HostState {}

impl HostState {
    /// Counts one denial and builds its error.
    fn deny(&mut self, what: String) -> GrantError {
        self.denied.fetch_add(1, Ordering::Relaxed);
        GrantError::Denied(what)
    }

    /// The kv quota and the services, or the error to return.
    fn kv_access(
        &mut self,
        key: &str,
    ) -> Result<(KvGrant, std::sync::Arc<dyn TaskServices>), GrantError> {
        let Some(quota) = self.access.grants.kv else {
            return Err(self.deny(format!("kv is not granted to queue {:?}", self.queue)));
        };
        if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
            return Err(GrantError::Invalid(format!(
                "a kv key must be 1..={MAX_KV_KEY_BYTES} bytes (got {})",
                key.len()
            )));
        }
        let services = self.services()?;
        Ok((quota, services))
    }

    fn services(&self) -> Result<std::sync::Arc<dyn TaskServices>, GrantError> {
        self.access.services.clone().ok_or_else(|| {
            GrantError::Unavailable("this host runs tasks without a state store".into())
        })
    }
}

fn quote(text: &str) -> String {
    format!("{:?}", escape_control(&cap_text(text, QUOTE_BYTES)))
}

impl HostState {
    /// A service's error as the guest sees it; a quota refusal counts as a denial, as the
    /// runtime's own publish quota does.
    fn service_failed(&self, err: ServiceError) -> GrantError {
        if matches!(err, ServiceError::Quota(_)) {
            self.denied.fetch_add(1, Ordering::Relaxed);
        }
        service_error(err)
    }
}

fn service_error(err: ServiceError) -> GrantError {
    match err {
        ServiceError::Quota(m) => GrantError::Quota(m),
        ServiceError::Invalid(m) => GrantError::Invalid(m),
        ServiceError::Unavailable(m) => GrantError::Unavailable(m),
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, GrantError> {
        let (_, services) = self.kv_access(&key)?;
        services
            .kv_get(&self.queue, &key)
            .await
            .map_err(|e| self.service_failed(e))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), GrantError> {
        let (quota, services) = self.kv_access(&key)?;
        let ttl = ttl_ms.map(Duration::from_millis);
        services
            .kv_set(&self.queue, &key, &value, ttl, &quota)
            .await
            .map_err(|e| self.service_failed(e))
    }

    async fn delete(&mut self, key: String) -> Result<bool, GrantError> {
        let (_, services) = self.kv_access(&key)?;
        services
            .kv_delete(&self.queue, &key)
            .await
            .map_err(|e| self.service_failed(e))
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, GrantError> {
        let (quota, services) = self.kv_access(&key)?;
        services
            .kv_increment(&self.queue, &key, delta, &quota)
            .await
            .map_err(|e| self.service_failed(e))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, GrantError> {
        let (quota, services) = self.kv_access(&key)?;
        services
            .kv_compare_and_swap(&self.queue, &key, expected.as_deref(), &value, &quota)
            .await
            .map_err(|e| self.service_failed(e))
    }
}

impl publish::Host for HostState {
    async fn publish(
        &mut self,
        queue: String,
        payload: String,
        options: publish::PublishOptions,
    ) -> Result<String, GrantError> {
        let grants = self.access.grants.clone();
        if !grants.publish_to.contains(&queue) {
            let what = format!(
                "queue {:?} may not publish to {}",
                self.queue,
                quote(&queue)
            );
            return Err(self.deny(what));
        }
        if self.publishes >= grants.publish_max {
            self.denied.fetch_add(1, Ordering::Relaxed);
            return Err(GrantError::Quota(format!(
                "at most {} publishes per task",
                grants.publish_max
            )));
        }
        let services = self.services()?;
        self.publishes += 1;
        let message = FollowUp {
            queue,
            payload,
            countdown: options.countdown_ms.map(Duration::from_millis),
            priority: options.priority,
            task_id: options.task_id,
        };
        services
            .publish(&self.queue, message)
            .await
            .map_err(|e| self.service_failed(e))
    }
}

impl config::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, GrantError> {
        match self.access.grants.config.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(self.deny(format!("no config value {} is granted", quote(&name)))),
        }
    }

    async fn secret(&mut self, name: String) -> Result<String, GrantError> {
        match self.access.grants.secrets.get(&name) {
            Some(secret) => Ok(secret.expose().to_owned()),
            None => Err(self.deny(format!("no secret {} is granted", quote(&name)))),
        }
    }
}
