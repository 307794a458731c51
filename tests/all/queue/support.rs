//! Helpers for the queue tests: a host in this process on a temp dir, guest bytes, waiting for
//! many task records with a deadline (never a fixed sleep).

use std::time::{Duration, Instant};

use tempfile::TempDir;
use wasmboost_tests::guests;
use wasmboost_worker::{Config, Host, PublishOptions, TaskRecord};

/// A host running in this test process, with its data directory.
pub struct TestHost {
    pub host: Host,
    pub dir: TempDir,
    pub config: Config,
}

/// The config for a test host: `extra` TOML appended to a base that puts the data in `dir` and
/// compiles in process (the test binary is not `wasmboost`).
pub fn config(dir: &TempDir, broker: &str, extra: &str) -> Config {
    let text = format!(
        "[host]\ndata_dir = {:?}\nshutdown_grace = \"10s\"\n[broker]\ntype = \"{broker}\"\n[runtime]\ncompile_in_child = false\nmax_instances = 2000\n{extra}",
        dir.path().display().to_string()
    );
    Config::parse(&text).expect("test config is valid")
}

/// The host of `config`, on the broker its `[broker]` names (what `serve` does).
pub async fn start_host(config: &Config) -> Result<Host, String> {
    let backend = wasmboost_backends::open(&config.broker, &config.host.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    Host::start(config.clone(), backend)
        .await
        .map_err(|e| e.to_string())
}

/// Start a host on `broker` (`memory` or `embedded`) with `extra` config.
pub async fn start(broker: &str, extra: &str) -> TestHost {
    start_with(broker, extra, |_| {}).await
}

/// [`start`], with a last change to the parsed config.
pub async fn start_with(broker: &str, extra: &str, tweak: impl FnOnce(&mut Config)) -> TestHost {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(&dir, broker, extra);
    tweak(&mut config);
    let host = start_host(&config).await.expect("host starts");
    TestHost { host, dir, config }
}

impl TestHost {
    /// Start again on the same data directory (after `shutdown`).
    pub async fn restart(self) -> TestHost {
        let TestHost { host, dir, config } = self;
        drop(host);
        // The old host's last tasks release the data directory's lock as they end.
        let host = eventually("the host to restart", Duration::from_secs(20), || async {
            start_host(&config).await.ok()
        })
        .await;
        TestHost { host, dir, config }
    }

    pub async fn deploy_guest(&self, queue: &str, guest: &str) -> u32 {
        let wasm = std::fs::read(guests::guest(guest)).expect("guest built");
        self.host.deploy(queue, wasm).await.expect("deploy").number
    }

    pub async fn publish(&self, queue: &str, body: serde_json::Value) -> String {
        self.publish_with(queue, body, PublishOptions::default())
            .await
    }

    pub async fn publish_with(
        &self,
        queue: &str,
        body: serde_json::Value,
        opts: PublishOptions,
    ) -> String {
        let bytes = serde_json::to_vec(&body).expect("json");
        self.host
            .publish(queue, &bytes, opts)
            .await
            .expect("publish")
    }

    pub async fn publish_many(&self, queue: &str, bodies: Vec<serde_json::Value>) -> Vec<String> {
        let bytes = bodies
            .iter()
            .map(|b| serde_json::to_vec(b).expect("json"))
            .collect();
        self.host
            .publish_batch(queue, bytes, PublishOptions::default())
            .await
            .expect("publish batch")
    }

    pub async fn result(&self, task_id: &str, within: Duration) -> TaskRecord {
        self.host
            .wait_result(task_id, within)
            .await
            .expect("wait_result")
            .unwrap_or_else(|| panic!("task {task_id} not finished within {within:?}"))
    }

    /// Terminal records of all `ids`, in order, waiting up to `within` overall.
    pub async fn results(&self, ids: &[String], within: Duration) -> Vec<TaskRecord> {
        let deadline = Instant::now() + within;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let left = deadline.saturating_duration_since(Instant::now());
            out.push(self.result(id, left).await);
        }
        out
    }

    pub async fn stop(&self) {
        self.host
            .shutdown(Duration::from_secs(10))
            .await
            .expect("clean shutdown");
    }
}

/// Poll `check` every 20 ms until it returns `Some`, or fail after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The most tasks whose [started, finished] intervals overlap at any instant.
pub fn max_overlap(records: &[TaskRecord]) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for r in records {
        let (Some(s), Some(f)) = (r.started_ms, r.finished_ms) else {
            continue;
        };
        edges.push((s, 1));
        edges.push((f, -1));
    }
    // Ends before starts at the same ms: touching intervals do not overlap.
    edges.sort();
    let mut cur = 0i32;
    let mut max = 0i32;
    for (_, d) in edges {
        cur += d;
        max = max.max(cur);
    }
    usize::try_from(max).unwrap_or(0)
}
