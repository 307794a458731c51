#!/usr/bin/env bash
# beanstalkd broker numbers next to their ceiling, in one run on one local beanstalkd with a
# binlog (started and stopped by the benchmark's own harness):
#   1. the raw ceiling of the crate's client: a tight put/reserve/delete loop (one round trip per
#      command), and the same pipelined 256 deep;
#   2. the broker-level drain of N no-op messages: publish + fetch + ack through `Broker`;
#   3. the ratios (target: drain >= 0.5 x the loop ceiling).
# Usage: scripts/bench-beanstalkd.sh [N]   (needs beanstalkd and cargo; N defaults to 50000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-50000}"
command -v beanstalkd >/dev/null || { echo "beanstalkd is not installed: apt-get install -y beanstalkd" >&2; exit 1; }
echo "== $(beanstalkd -v), load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
WASMBOOST_BENCH_N="$n" cargo test --release -q -p wasmboost-broker-beanstalkd --test bench \
  -- --ignored --nocapture 2>/dev/null | grep '^beanstalkd '
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
