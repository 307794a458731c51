#!/usr/bin/env bash
# Redis broker numbers next to their ceiling, on one local redis-server started here:
#   1. redis-benchmark's LPUSH / RPOP rate (50 clients, no pipelining: the default `-q` run),
#   2. the raw RedisBroker: bulk publish, drain (fetch + ack), RPC round trip, CPU per message.
# Host-level numbers (wasmboost serve against Redis) come from scripts/bench.sh.
# Usage: scripts/bench-redis.sh            (needs redis-server, redis-benchmark, cargo)
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== ceiling: redis-benchmark -t lpush,rpop -q -n 200000 (redis $(redis-server --version | awk '{print $3}'))"
ceiling=$(redis-benchmark -p "$port" -t lpush,rpop -q -n 200000 2>/dev/null | tr '\r' '\n' \
  | grep -E '^(LPUSH|RPOP): [0-9.]+ requests per second' | tee /dev/stderr \
  | awk '/^LPUSH/ {print $2}')

echo "== raw RedisBroker (cargo test --release -p wasmboost-broker-redis --test bench)"
out=$(WASMBOOST_BENCH_REDIS_URL="redis://127.0.0.1:$port" \
  cargo test --release -q -p wasmboost-broker-redis --test bench -- --ignored --nocapture 2>/dev/null \
  | grep '^redis broker:')
echo "$out"
drain=$(echo "$out" | sed -nE 's/.*drain [0-9]+ .*: ([0-9]+) msg\/s/\1/p')
if [[ -n "$ceiling" && -n "$drain" ]]; then
  awk -v d="$drain" -v c="$ceiling" 'BEGIN { printf "drain / LPUSH ceiling: %.2f\n", d / c }'
fi
