//! `deploy/k8s/`: every manifest against the Kubernetes OpenAPI schemas (`kubernetes-validate
//! --strict`), then the facts that tie the files together: the pod outlives `shutdown_grace`,
//! probes hit `/healthz` and `/readyz`, the config in the ConfigMap loads, and the KEDA trigger
//! names the stream and group that config produces. No KEDA CRD schema ships in a registry
//! package here, so the ScaledObject is checked field by field instead.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;
use wasmboost_broker_redis::RedisConfig;
use wasmboost_tests::host::workspace_root;

use super::lint::{Tools, load_config};

/// Kinds with no schema in `kubernetes-validate` (custom resources, kustomize).
const NO_SCHEMA: &[&str] = &["keda-scaledobject.yaml", "kustomization.yaml"];

fn manifests() -> Vec<PathBuf> {
    let dir = workspace_root().join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/k8s exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The one document of `deploy/k8s/<name>`.
fn doc(tools: &Tools, name: &str) -> Value {
    let mut docs = tools.yaml(&workspace_root().join("deploy/k8s").join(name));
    assert_eq!(docs.len(), 1, "{name} holds one resource");
    docs.remove(0)
}

#[test]
fn manifests_pass_the_kubernetes_schemas_strictly() {
    let Some(tools) = Tools::get() else { return };
    let files: Vec<PathBuf> = manifests()
        .into_iter()
        .filter(|p| !NO_SCHEMA.iter().any(|n| p.ends_with(n)))
        .collect();
    assert!(files.len() >= 5, "{files:?}");
    let out = tools
        .command("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.33"])
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A kind it has no schema for is only a warning: every file must have passed.
    assert!(out.status.success() && !text.contains("WARN"), "{text}");
    assert_eq!(
        text.matches(" passed for resource ").count(),
        files.len(),
        "{text}"
    );
}

#[test]
fn kustomization_lists_every_manifest_but_the_bootstrap_job() {
    let Some(tools) = Tools::get() else { return };
    let listed: Vec<String> = doc(tools, "kustomization.yaml")["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a file name").to_owned())
        .collect();
    for path in manifests() {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let wanted = !matches!(name.as_str(), "kustomization.yaml" | "bootstrap-job.yaml");
        assert_eq!(
            listed.contains(&name),
            wanted,
            "{name} in kustomization.yaml"
        );
    }
}

/// The ConfigMap's `wasmboost.toml`, loaded and validated like `serve --config` does.
fn configmap_config(tools: &Tools) -> wasmboost_worker::Config {
    let configmap = doc(tools, "configmap.yaml");
    let toml = configmap["data"]["wasmboost.toml"]
        .as_str()
        .expect("wasmboost.toml");
    let dir = tempfile::tempdir().expect("a temporary dir");
    let path = dir.path().join("wasmboost.toml");
    std::fs::write(&path, toml).expect("writable");
    load_config(&path)
}

#[test]
fn deployment_probes_grace_and_security_match_the_host() {
    let Some(tools) = Tools::get() else { return };
    let config = configmap_config(tools);
    let deployment = doc(tools, "deployment.yaml");
    let pod = &deployment["spec"]["template"]["spec"];
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a grace period");
    let drain = config.host.shutdown_grace.0.as_secs();
    assert!(
        grace > drain,
        "terminationGracePeriodSeconds {grace} ≤ shutdown_grace {drain}"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = config.host.listen.port();
    assert_eq!(
        container["ports"][0]["containerPort"].as_u64(),
        Some(u64::from(port))
    );
    assert!(
        !config.host.listen.ip().is_loopback(),
        "probes need a pod-address listener"
    );
    for side in ["requests", "limits"] {
        let r = &container["resources"][side];
        assert!(
            r["cpu"].is_string() && r["memory"].is_string(),
            "resources.{side}: {r}"
        );
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    // The one writable place the host needs is its data dir.
    let data_dir = config.host.data_dir.to_str().expect("UTF-8").to_owned();
    let mounts = container["volumeMounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["mountPath"] == data_dir.as_str()),
        "{mounts:?}"
    );
    let secret = doc(tools, "secret.yaml");
    assert!(secret["stringData"]["WASMBOOST_TOKEN"].is_string());
    let pdb = doc(tools, "pdb.yaml");
    let labels = &deployment["spec"]["selector"]["matchLabels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&doc(tools, "service.yaml")["spec"]["selector"], labels);
}

#[test]
fn keda_scales_the_deployment_on_the_queue_stream_the_config_writes() {
    let Some(tools) = Tools::get() else { return };
    let config = configmap_config(tools);
    assert_eq!(
        config.broker.kind(),
        wasmboost_broker_redis::TYPE,
        "the ConfigMap's broker: KEDA watches Redis"
    );
    let redis = RedisConfig::deserialize(toml::Value::Table(config.broker.settings().clone()))
        .expect("the ConfigMap's redis settings");
    let scaled = doc(tools, "keda-scaledobject.yaml");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(scaled["kind"], "ScaledObject");
    let deployment = doc(tools, "deployment.yaml");
    let target = &scaled["spec"]["scaleTargetRef"];
    assert_eq!(target["kind"], "Deployment");
    assert_eq!(target["name"], deployment["metadata"]["name"]);
    let (min, max) = (
        scaled["spec"]["minReplicaCount"].as_u64().expect("min"),
        scaled["spec"]["maxReplicaCount"].as_u64().expect("max"),
    );
    assert!(1 <= min && min <= max, "{min}..{max}");
    let triggers = scaled["spec"]["triggers"].as_array().expect("triggers");
    let mut measures = Vec::new();
    for trigger in triggers {
        assert_eq!(trigger["type"], "redis-streams");
        let meta = &trigger["metadata"];
        // Key layout v2: <prefix>:q:<queue>:stream.
        let stream = meta["stream"].as_str().expect("stream");
        let queue = stream
            .strip_prefix(&format!("{}:q:", redis.prefix))
            .and_then(|rest| rest.strip_suffix(":stream"))
            .unwrap_or_else(|| {
                panic!("stream {stream:?} is not {}:q:<queue>:stream", redis.prefix)
            });
        assert!(!queue.is_empty() && !queue.contains(':'), "{stream}");
        assert_eq!(meta["consumerGroup"].as_str(), Some(redis.group.as_str()));
        let host = redis
            .url
            .trim_start_matches("redis://")
            .trim_end_matches('/');
        assert_eq!(meta["address"].as_str(), Some(host));
        for measure in ["pendingEntriesCount", "lagCount"] {
            if let Some(n) = meta[measure].as_str() {
                assert!(n.parse::<u64>().is_ok_and(|n| n > 0), "{measure}: {n}");
                measures.push(measure);
            }
        }
    }
    measures.sort_unstable();
    assert_eq!(
        measures,
        ["lagCount", "pendingEntriesCount"],
        "scale on pending and lag"
    );
}
