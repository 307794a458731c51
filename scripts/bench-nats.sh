#!/usr/bin/env bash
# NATS JetStream broker numbers next to their ceiling, in one run on one local nats-server -js
# (started and stopped by the benchmark's own harness):
#   1. the raw ceiling of async-nats: publish with every ack awaited, then pull-fetch batches of
#      256 and a confirmed ack per message, 4 drainers, on a plain work-queue stream;
#   2. the broker-level drain of N no-op messages: publish + fetch + ack through `Broker`;
#   3. the ratio (target: drain >= 0.5 x the ceiling);
#   4. the stream layout: a work-queue stream per queue (A) against one stream with a subject
#      and a filtered consumer per queue (B), K = 1, 10, 100 queues, two runs each alternating,
#      each on a fresh server: setup time, publish and drain msg/s, server RSS.
# Usage: scripts/bench-nats.sh [N]   (needs nats-server and cargo; N defaults to 50000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50000}"
command -v nats-server >/dev/null || { echo "nats-server is not installed: apt-get install -y nats-server" >&2; exit 1; }
echo "== $(nats-server --version), load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
WASMBOOST_BENCH_N="$n" cargo test --release -q -p wasmboost-broker-nats --test bench \
  -- --ignored --nocapture 2>/dev/null | grep '^nats '
WASMBOOST_BENCH_N="$n" cargo test --release -q -p wasmboost-broker-nats --test layout \
  -- --ignored --nocapture 2>/dev/null | grep '^nats layout'
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
