//! Integration tests: production deployment (issue 19). The files under `deploy/` checked by the
//! tools that will consume them, and the real binary's drain, health and version behaviour.
//!
//! - `lint`: the linters' virtualenv (from `deploy/requirements-lint.txt`) and YAML loading.
//! - `systemd`: `systemd-analyze verify` and `security` on the unit.
//! - `container`: hadolint on the Dockerfile, its COPY sources and build command, compose.
//! - `k8s`: Kubernetes schemas, and the cross-file facts (grace, probes, KEDA stream).
//! - `drain`: SIGTERM turns `/readyz` 503 while `/healthz` stays 200 and a task finishes.
//! - `version`: `wasmboost --version` names the contracts and the engine.

mod container;
mod drain;
mod k8s;
mod lint;
mod systemd;
mod version;
