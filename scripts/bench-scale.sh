#!/usr/bin/env bash
# The scaling curve of issue 19 at full size: 1, 2, then 3 hosts, each in its own network
# namespace on one Redis over a bridge (tests/harness/netns.rs), draining 3 000 tasks that sleep
# 100 ms at concurrency 50 per host, with the release binary. Prints tasks/s per host count and
# the ratio to ideal (hosts x 500/s). The same test runs in `make test` with 1 000 tasks on the
# debug binary (tests/all/production/scaling.rs).
# Usage: scripts/bench-scale.sh [TASKS]   (root or CAP_NET_ADMIN for `ip netns`; redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."
tasks="${1:-3000}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
make -s build-bench  # one release feature set (a different -p set recompiles wasmtime)
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
WASMBOOST_BIN="$target/release/wasmboost" WASMBOOST_SCALE_TASKS="$tasks" \
  cargo test --test all -- production::scaling:: --nocapture 2>&1 | grep -E '^(scaling|SKIPPED|test result)'
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
