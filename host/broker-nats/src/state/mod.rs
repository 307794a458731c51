//! [`NatsStore`]: the `StateStore` on JetStream key-value buckets, one per kind of state, so
//! listing one kind never reads another:
//!
//! | bucket | key | value |
//! |---|---|---|
//! | `wasmboost_records` | task id | record, terminal flag, expiry ([`expiring`]) |
//! | `wasmboost_dedup` | queue . key | expiry |
//! | `wasmboost_hosts` | host id | description, expiry |
//! | `wasmboost_paused` | queue | present while paused |
//! | `wasmboost_bindings` | queue | binding document |
//! | `wasmboost_tokens` | token id | token document |
//! | `wasmboost_counters` | queue | JSON map name → count (CAS) |
//! | `wasmboost_sched` | `lease`/`tick` . name | leader tenure, last tick ([`lead`]) |
//! | `wasmboost_rate` | queue | GCRA arrival time ([`lead`]) |
//!
//! plus the object store `wasmboost_modules` (modules exceed a message's size) and the stream
//! `WASMBOOST_AUDIT`. Waiting for a terminal record watches its key (no polling). JetStream 2.9
//! has no multi-key transaction, so an ending and its counts are two writes:
//! [`put_record_counted`](StateStore::put_record_counted) answers `false` and the worker counts
//! through `add_counters`, as on the stores without one.
//!
//! - [`kv`]: the key-value primitives (get with revision, CAS, CAS loop, keys, watch).
//! - [`expiring`]: values with a TTL of their own.
//! - [`lead`]: leader lease, tick claims, global rate.

mod expiring;
mod kv;
mod lead;
mod slots;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, kv::Operation, object_store, stream};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use wasmboost_broker::{
    KvError, KvOp, KvQuota, KvReply, StateError, StateStore, ms_after, now_ms, validate_queue_name,
};

use self::expiring::Expiring;
use self::kv::{Kv, key, parts};
use crate::config::NatsConfig;
use crate::error::{ConnectError, state};
use crate::topology::ensure_stream;

const MODULES: &str = "wasmboost_modules";
const AUDIT_STREAM: &str = "WASMBOOST_AUDIT";
const AUDIT_SUBJECT: &str = "wasmboost.audit";

/// The state store on a NATS server's JetStream.
pub struct NatsStore {
    client: async_nats::Client,
    records: Kv,
    dedup: Kv,
    hosts: Kv,
    paused: Kv,
    bindings: Kv,
    tokens: Kv,
    counters: Kv,
    sched: Kv,
    rate: Kv,
    /// Workflow joins, one value per join ([`slots`]).
    joins: Kv,
    /// Task key-value namespaces, one value per queue ([`slots`]).
    task_kv: Kv,
    modules: object_store::ObjectStore,
    audit: stream::Stream,
}

impl std::fmt::Debug for NatsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The object store has no Debug; the connection says where the store is.
        f.debug_struct("NatsStore")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

async fn bucket(
    js: &jetstream::Context,
    config: &NatsConfig,
    name: &'static str,
    max_age: Duration,
) -> Result<Kv, ConnectError> {
    // The bucket's stream, made here with the key-value conventions: the client's own
    // `create_key_value` first asks for account info in a form a 2.9 server does not answer.
    let setup = |e: String| ConnectError::Setup {
        what: format!("bucket {name}"),
        detail: e,
    };
    ensure_stream(
        js,
        stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_age,
            discard: stream::DiscardPolicy::New,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            storage: stream::StorageType::File,
            num_replicas: config.replicas,
            ..Default::default()
        },
    )
    .await
    .map_err(setup)?;
    let store = js
        .get_key_value(name)
        .await
        .map_err(|e| setup(e.to_string()))?;
    Ok(Kv::new(store, js.client(), name))
}

/// The modules' object store, created if missing (hosts starting together race to create it).
async fn modules_store(
    js: &jetstream::Context,
    config: &NatsConfig,
) -> Result<object_store::ObjectStore, String> {
    let mut last = String::new();
    for _ in 0..5 {
        if let Ok(store) = js.get_object_store(MODULES).await {
            return Ok(store);
        }
        let made = js
            .create_object_store(object_store::Config {
                bucket: MODULES.to_owned(),
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                ..Default::default()
            })
            .await;
        match made {
            Ok(store) => return Ok(store),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last)
}

impl NatsStore {
    /// Connect to the server of `config` and create the buckets that are missing.
    pub async fn connect(config: &NatsConfig) -> Result<Self, ConnectError> {
        let client = crate::broker::connect(config).await?;
        NatsStore::with_client(client, config).await
    }

    /// The store on an existing connection.
    pub async fn with_client(
        client: async_nats::Client,
        config: &NatsConfig,
    ) -> Result<Self, ConnectError> {
        let js = jetstream::new(client.clone());
        let (aged, kept) = (config.state_max_age(), Duration::ZERO);
        let setup = |what: &str, e: String| ConnectError::Setup {
            what: what.to_owned(),
            detail: e,
        };
        let modules = modules_store(&js, config)
            .await
            .map_err(|e| setup(MODULES, e))?;
        let audit = ensure_stream(
            &js,
            stream::Config {
                name: AUDIT_STREAM.to_owned(),
                subjects: vec![AUDIT_SUBJECT.to_owned()],
                storage: stream::StorageType::File,
                num_replicas: config.replicas,
                allow_direct: true,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| setup(AUDIT_STREAM, e))?;
        Ok(NatsStore {
            records: bucket(&js, config, "wasmboost_records", aged).await?,
            dedup: bucket(&js, config, "wasmboost_dedup", aged).await?,
            hosts: bucket(&js, config, "wasmboost_hosts", aged).await?,
            paused: bucket(&js, config, "wasmboost_paused", kept).await?,
            bindings: bucket(&js, config, "wasmboost_bindings", kept).await?,
            tokens: bucket(&js, config, "wasmboost_tokens", kept).await?,
            counters: bucket(&js, config, "wasmboost_counters", kept).await?,
            sched: bucket(&js, config, "wasmboost_sched", kept).await?,
            rate: bucket(&js, config, "wasmboost_rate", kept).await?,
            joins: bucket(&js, config, "wasmboost_joins", aged).await?,
            task_kv: bucket(&js, config, "wasmboost_task_kv", kept).await?,
            modules,
            audit,
            client,
        })
    }

    fn err<E: std::fmt::Debug + std::fmt::Display>(&self, what: &str, e: E) -> StateError {
        state(&self.client, what, e)
    }

    /// The live names of a bucket whose keys are one name each.
    async fn names(kv: &Kv) -> Result<Vec<String>, StateError> {
        Ok(kv
            .keys()
            .await?
            .iter()
            .filter_map(|k| parts(k)?.pop())
            .collect())
    }
}

#[async_trait]
impl StateStore for NatsStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn join_put(
        &self,
        join: &str,
        slot: u32,
        value: Bytes,
        ttl: Duration,
    ) -> Result<u32, StateError> {
        let expires_ms = ms_after(ttl);
        self.joins
            .update(&key(&[join]), |current| {
                let mut filled = current
                    .map(|raw| slots::decode_join(raw, now_ms()))
                    .unwrap_or_default();
                filled.entry(slot).or_insert_with(|| value.clone());
                let n = u32::try_from(filled.len()).unwrap_or(u32::MAX);
                (Some(slots::encode_join(expires_ms, &filled)), n)
            })
            .await
    }

    async fn join_values(&self, join: &str) -> Result<BTreeMap<u32, Bytes>, StateError> {
        let stored = self.joins.get(&key(&[join])).await?;
        Ok(stored
            .map(|(raw, _)| slots::decode_join(&raw, now_ms()))
            .unwrap_or_default())
    }

    async fn kv(&self, queue: &str, op: KvOp<'_>, quota: &KvQuota) -> Result<KvReply, KvError> {
        validate_queue_name(queue).map_err(StateError::from)?;
        let answer = self
            .task_kv
            .update(&key(&[queue]), |current| {
                let now = now_ms();
                let mut ns = slots::decode_namespace(current, now);
                match ns.apply(&op, quota, now) {
                    Ok((reply, written)) if written.is_empty() => (None, Ok(reply)),
                    Ok((reply, _)) => (Some(slots::encode_namespace(&ns)), Ok(reply)),
                    Err(refusal) => (None, Err(refusal)),
                }
            })
            .await?;
        Ok(answer?)
    }

    async fn put_record(
        &self,
        task_id: &str,
        record: Bytes,
        terminal: bool,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let value = Expiring::new(record, terminal, ttl).encode();
        self.records.put(&key(&[task_id]), value).await.map(|_| ())
    }

    async fn put_progress(
        &self,
        task_id: &str,
        record: Bytes,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let value = Expiring::new(record, false, ttl).encode();
        self.records
            .update(&key(&[task_id]), |current| {
                let ended = current.and_then(Expiring::live).is_some_and(|e| e.terminal);
                (if ended { None } else { Some(value.clone()) }, ())
            })
            .await
    }

    async fn get_record(&self, task_id: &str) -> Result<Option<Bytes>, StateError> {
        let got = self.records.get(&key(&[task_id])).await?;
        Ok(got
            .and_then(|(raw, _)| Expiring::live(&raw))
            .map(|e| e.value))
    }

    async fn wait_terminal(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Option<Bytes>, StateError> {
        // The watch starts with the current value, then every update: no gap to miss one in.
        let mut watch = self.records.watch(&key(&[task_id])).await?;
        let wait = async {
            while let Some(entry) = watch.next().await {
                let entry = entry.map_err(|e| self.err("watch a record", e))?;
                if entry.operation != Operation::Put {
                    continue;
                }
                if let Some(e) = Expiring::live(&entry.value).filter(|e| e.terminal) {
                    return Ok(Some(e.value));
                }
            }
            Err(StateError::Unavailable(
                "nats: the watch of a record ended".to_owned(),
            ))
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Ok(None))
    }

    async fn dedup_seen(&self, queue: &str, dedup_key: &str) -> Result<bool, StateError> {
        validate_queue_name(queue)?;
        let got = self.dedup.get(&key(&[queue, dedup_key])).await?;
        Ok(got.is_some_and(|(raw, _)| Expiring::live(&raw).is_some()))
    }

    async fn dedup_mark(
        &self,
        queue: &str,
        dedup_key: &str,
        ttl: Duration,
    ) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let value = Expiring::new(Bytes::new(), false, ttl).encode();
        let k = key(&[queue, dedup_key]);
        self.dedup.put(&k, value).await.map(|_| ())
    }

    async fn set_paused(&self, queue: &str, paused: bool) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        let k = key(&[queue]);
        if paused {
            self.paused
                .put(&k, Bytes::from_static(b"1"))
                .await
                .map(|_| ())
        } else {
            self.paused.delete(&k).await
        }
    }

    async fn paused_queues(&self) -> Result<Vec<String>, StateError> {
        NatsStore::names(&self.paused).await
    }

    async fn put_module(&self, sha256: &str, wasm: Bytes) -> Result<(), StateError> {
        if self.get_module(sha256).await?.is_some() {
            return Ok(());
        }
        let mut reader = wasm.as_ref();
        self.modules
            .put(sha256, &mut reader)
            .await
            .map_err(|e| self.err("put module", e))?;
        Ok(())
    }

    async fn get_module(&self, sha256: &str) -> Result<Option<Bytes>, StateError> {
        let mut object = match self.modules.get(sha256).await {
            Ok(o) => o,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.err("get module", e)),
        };
        let mut wasm = Vec::new();
        object
            .read_to_end(&mut wasm)
            .await
            .map_err(|e| self.err("read module", e))?;
        Ok(Some(Bytes::from(wasm)))
    }

    async fn delete_module(&self, sha256: &str) -> Result<(), StateError> {
        match self.modules.delete(sha256).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("delete module", e)),
        }
    }

    async fn put_binding(&self, queue: &str, binding: Bytes) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        self.bindings.put(&key(&[queue]), binding).await.map(|_| ())
    }

    async fn get_binding(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        validate_queue_name(queue)?;
        let got = self.bindings.get(&key(&[queue])).await?;
        Ok(got.map(|(v, _)| v))
    }

    async fn bound_queues(&self) -> Result<Vec<String>, StateError> {
        NatsStore::names(&self.bindings).await
    }

    async fn add_counters(&self, queue: &str, deltas: &[(&str, i64)]) -> Result<(), StateError> {
        validate_queue_name(queue)?;
        self.counters
            .update(&key(&[queue]), |current| {
                let mut counts: BTreeMap<String, i64> = current
                    .and_then(|raw| serde_json::from_slice(raw).ok())
                    .unwrap_or_default();
                for (name, delta) in deltas {
                    let c = counts.entry((*name).to_owned()).or_default();
                    *c = c.saturating_add(*delta);
                }
                let raw = serde_json::to_vec(&counts).unwrap_or_default();
                (Some(Bytes::from(raw)), ())
            })
            .await
    }

    async fn counters(&self, queue: &str) -> Result<BTreeMap<String, i64>, StateError> {
        validate_queue_name(queue)?;
        let got = self.counters.get(&key(&[queue])).await?;
        Ok(got
            .and_then(|(raw, _)| serde_json::from_slice(&raw).ok())
            .unwrap_or_default())
    }

    async fn heartbeat(&self, host_id: &str, info: Bytes, ttl: Duration) -> Result<(), StateError> {
        let value = Expiring::new(info, false, ttl).encode();
        self.hosts.put(&key(&[host_id]), value).await.map(|_| ())
    }

    async fn live_hosts(&self) -> Result<Vec<Bytes>, StateError> {
        let mut live = Vec::new();
        for k in self.hosts.keys().await? {
            if let Some((raw, _)) = self.hosts.get(&k).await? {
                live.extend(Expiring::live(&raw).map(|e| e.value));
            }
        }
        Ok(live)
    }

    async fn put_token(&self, id: &str, doc: Bytes) -> Result<(), StateError> {
        self.tokens.put(&key(&[id]), doc).await.map(|_| ())
    }

    async fn delete_token(&self, id: &str) -> Result<bool, StateError> {
        let k = key(&[id]);
        if self.tokens.get(&k).await?.is_none() {
            return Ok(false);
        }
        self.tokens.delete(&k).await.map(|()| true)
    }

    async fn tokens(&self) -> Result<BTreeMap<String, Bytes>, StateError> {
        let mut out = BTreeMap::new();
        for k in self.tokens.keys().await? {
            let Some(id) = parts(&k).and_then(|mut p| p.pop()) else {
                continue;
            };
            if let Some((doc, _)) = self.tokens.get(&k).await? {
                out.insert(id, doc);
            }
        }
        Ok(out)
    }

    async fn append_audit(&self, entry: Bytes, keep: usize) -> Result<(), StateError> {
        let js = jetstream::new(self.client.clone());
        let ack = js
            .publish(AUDIT_SUBJECT, entry)
            .await
            .map_err(|e| self.err("append audit", e))?;
        ack.await.map_err(|e| self.err("append audit", e))?;
        let keep = u64::try_from(keep.max(1)).unwrap_or(u64::MAX);
        self.audit
            .purge()
            .keep(keep)
            .await
            .map_err(|e| self.err("trim audit", e))?;
        Ok(())
    }

    async fn audit(&self, limit: usize) -> Result<Vec<Bytes>, StateError> {
        let info = self
            .audit
            .get_info()
            .await
            .map_err(|e| self.err("read audit", e))?;
        let mut out = Vec::new();
        if info.state.messages == 0 {
            return Ok(out);
        }
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        for seq in (first..=last).rev() {
            if out.len() >= limit {
                break;
            }
            match self.audit.get_raw_message(seq).await {
                Ok(m) => out.push(m.payload),
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(self.err("read audit", e)),
            }
        }
        Ok(out)
    }

    async fn lead(
        &self,
        lease: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, StateError> {
        lead::lead(&self.sched, lease, holder, ttl).await
    }

    async fn claim_tick(
        &self,
        lease: &str,
        token: u64,
        schedule: &str,
        tick_ms: u64,
    ) -> Result<bool, StateError> {
        lead::claim_tick(&self.sched, lease, token, schedule, tick_ms).await
    }

    async fn last_tick(&self, schedule: &str) -> Result<Option<u64>, StateError> {
        lead::last_tick(&self.sched, schedule).await
    }

    async fn reserve_rate(&self, queue: &str, per_second: f64) -> Result<Duration, StateError> {
        validate_queue_name(queue)?;
        lead::reserve_rate(&self.rate, queue, per_second).await
    }
}
