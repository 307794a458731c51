#!/usr/bin/env bash
# Queue engine benchmark on the embedded durable broker, in process (no HTTP): bulk publish,
# drain of N no-op `add` tasks, sequential RPC latency, 2 000 x 50 ms sleeps at concurrency 50,
# and 10 000 concurrent sleeping tasks with the host's memory. Usage: scripts/bench-queue.sh [N]
# QUEUE_BENCH=path runs another build of the benchmark (an A/B against an older tree).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100000}"
(cd "$root/examples" && env -u CARGO_TARGET_DIR cargo build --release --target wasm32-wasip2 -q)
(cd "$root/tests/guests" && env -u CARGO_TARGET_DIR cargo build --release --target wasm32-wasip2 -q -p sleep)
add="$root/examples/target/wasm32-wasip2/release/add.wasm"
sleep="$root/tests/guests/target/wasm32-wasip2/release/sleep.wasm"
cd "$root"
# The release build every benchmark uses (`make build-bench`; another `-p` set rebuilds wasmtime).
make -s build-bench >/dev/null
bin="${QUEUE_BENCH:-${CARGO_TARGET_DIR:-$root/target}/release/examples/queue_bench}"
"$bin" "$add" "$sleep" "$n"
