#!/usr/bin/env bash
# Redis broker numbers next to their ceiling, on one local redis-server started here (no
# persistence):
#   1. redis-benchmark's LPUSH / RPOP rate (50 clients, no pipelining: the default `-q` run),
#   2. the raw RedisBroker: bulk publish, drain (fetch + ack), RPC round trip, CPU per message,
#   3. one host on Redis, the embedded broker's workloads (scripts/bench-queue.sh): bulk publish,
#      drain of N no-op `add` tasks, sequential RPC, 2 000 x 50 ms sleeps at concurrency 50,
#      10 000 concurrent sleeps; with CPU per drained task (host and redis-server),
#   4. RPC through the real binary's HTTP API (scripts/bench-rpc.sh with a redis config),
# then the drain rates as a fraction of the LPUSH ceiling, and the load average (the numbers are
# floors on a loaded machine).
# Usage: scripts/bench-redis.sh [N]   (needs redis-server, redis-benchmark, redis-cli, curl, cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize no --logfile "$dir/redis.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$port" ping >/dev/null
url="redis://127.0.0.1:$port"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

echo "== ceiling: redis-benchmark -t lpush,rpop -q -n 200000 (redis $(redis-server --version | awk '{print $3}'))"
ceiling_lines=$(redis-benchmark -p "$port" -t lpush,rpop -q -n 200000 2>/dev/null | tr '\r' '\n' \
  | grep -E '^(LPUSH|RPOP): [0-9.]+ requests per second')
echo "$ceiling_lines"
ceiling=$(echo "$ceiling_lines" | awk '/^LPUSH/ {print $2}')

echo "== raw RedisBroker (cargo test --release -p wasmboost-broker-redis --test bench)"
out=$(WASMBOOST_BENCH_REDIS_URL="$url" \
  cargo test --release -q -p wasmboost-broker-redis --test bench -- --ignored --nocapture 2>/dev/null \
  | grep '^redis broker:')
echo "$out"
raw_drain=$(echo "$out" | sed -nE 's/.*drain [0-9]+ .*: ([0-9]+) msg\/s/\1/p')
redis-cli -p "$port" flushall >/dev/null

echo "== one host on Redis, in process (queue_bench with WASMBOOST_BENCH_REDIS_URL, $n tasks)"
make -s build-bench  # the release binary and queue_bench, one feature set
(cd examples && cargo build --release --target wasm32-wasip2 -q)
(cd tests/guests && cargo build --release --target wasm32-wasip2 -q -p sleep)
add=examples/target/wasm32-wasip2/release/add.wasm
sleep=tests/guests/target/wasm32-wasip2/release/sleep.wasm
host=$(WASMBOOST_BENCH_REDIS_URL="$url" RUST_LOG=warn \
  "${CARGO_TARGET_DIR:-target}/release/examples/queue_bench" "$add" "$sleep" "$n" 2>/dev/null)
echo "$host"
host_drain=$(echo "$host" | sed -nE 's/^drain +[0-9]+ tasks +([0-9]+) tasks\/s.*/\1/p')
redis-cli -p "$port" flushall >/dev/null

echo "== RPC through the real binary's HTTP API (scripts/bench-rpc.sh, broker redis)"
printf '[broker]\ntype = "redis"\nurl = "%s"\n' "$url" >"$dir/wasmboost.toml"
CONFIG="$dir/wasmboost.toml" BROKER=redis WASMBOOST_BIN="${CARGO_TARGET_DIR:-target}/release/wasmboost" \
  scripts/bench-rpc.sh 2000 || echo "bench-rpc failed"

if [[ -n "$ceiling" ]]; then
  for pair in "raw broker:$raw_drain" "host:$host_drain"; do
    rate=${pair#*:}
    [[ -n "$rate" ]] && awk -v w="${pair%%:*}" -v d="$rate" -v c="$ceiling" \
      'BEGIN { printf "drain / LPUSH ceiling (%s): %.0f / %.0f = %.2f\n", w, d, c, d / c }'
  done
fi
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
