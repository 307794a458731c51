#!/usr/bin/env bash
# Python task benchmark (issue 7): for examples/python/add, the build time, the first compile
# time, the cached load time, the fresh-instance invocation cost (median, p99, invocations/s on
# 1 and 2 threads) and the memory per instance.
#
#   scripts/bench-python.sh            # N=3000 measured invocations per run
#   N=10000 scripts/bench-python.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-3000}"
WARMUP="${WARMUP:-300}"
BIN="${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wasmboost}"
PAYLOAD='{"x": 1, "y": 2}'

if [[ ! -x "$BIN" ]]; then
    make -s build-bench
fi
./scripts/setup-python.sh

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

echo "== build (componentize-py $(.venv/bin/componentize-py --version | awk '{print $2}'))"
start=$(date +%s%N)
WASM="$("$BIN" build examples/python/add | tail -n 1)"
echo "build: $(ms_since "$start") ms -> $WASM ($(stat -c %s "$WASM") bytes)"

CACHE="$(mktemp -d)"
trap 'rm -rf "$CACHE"' EXIT

echo "== first load (Cranelift compile + .cwasm write) and one call"
start=$(date +%s%N)
"$BIN" run "$WASM" --cache-dir "$CACHE" --payload "$PAYLOAD"
echo "first run, whole process: $(ms_since "$start") ms"
ls -l "$CACHE" | awk 'NR > 1 && $5 > 1000000 {printf "cwasm: %d bytes\n", $5}'

echo "== cached load and one call (summary line: call time, fuel, peak linear memory)"
for _ in 1 2 3; do
    start=$(date +%s%N)
    "$BIN" run "$WASM" --cache-dir "$CACHE" --payload "$PAYLOAD" >/dev/null
    echo "cached run, whole process: $(ms_since "$start") ms"
done

echo "== fresh instance per invocation"
for threads in 1 2; do
    "$BIN" bench "$WASM" --cache-dir "$CACHE" --payload "$PAYLOAD" \
        -n "$N" --warmup "$WARMUP" -t "$threads" -c "$threads"
done
