#!/usr/bin/env bash
# Runtime benchmark (issue 3): fresh isolated invocations of the `add` example and of the `floor`
# guest (constant result, no serde: the host's own cost), 1 and 2 threads, payloads of about
# 1 KB, 10 KB and 100 KB. Run twice: this machine is noisy (identical runs differ up to 2x).
#   scripts/bench-runtime.sh            # uses target/release/wasmboost (make build-release)
#   WASMBOOST=path/to/wasmboost N=20000 scripts/bench-runtime.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
WASMBOOST="${WASMBOOST:-$TARGET_DIR/release/wasmboost}"
N="${N:-20000}"
RUNS="${RUNS:-2}"
ADD=examples/target/wasm32-wasip2/release/add.wasm
FLOOR=tests/guests/target/wasm32-wasip2/release/floor.wasm
for f in "$WASMBOOST" "$ADD" "$FLOOR"; do
  [ -e "$f" ] || { echo "missing $f (make build-release examples guests)" >&2; exit 1; }
done
CACHE="$(mktemp -d)"
trap 'rm -rf "$CACHE"' EXIT

bench() { # name wasm threads size
  local out
  out=$("$WASMBOOST" bench "$2" --payload '{"x": 1, "y": 2}' ${4:+--payload-size "$4"} \
    -n "$N" -c "$3" --threads "$3" --cache-dir "$CACHE" --json)
  python3 - "$1" "$3" "${4:-small}" "$out" <<'PY'
import json, sys
name, threads, size, out = sys.argv[1:]
s = json.loads(out)
print(f"| {name:5} | {threads} | {size:>6} | {s['payload_bytes']:>6} | {s['p50_us']:7.1f} | {s['p99_us']:7.1f} | {s['per_second']:9.0f} |")
PY
}

echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
echo "command: $WASMBOOST bench <wasm> --payload '{\"x\": 1, \"y\": 2}' [--payload-size S] -n $N -c T --threads T"
for run in $(seq 1 "$RUNS"); do
  echo
  echo "run $run"
  echo "| guest | threads | payload | bytes | p50 µs | p99 µs | inv/s |"
  echo "|---|---|---|---|---|---|---|"
  for threads in 1 2; do
    bench floor "$FLOOR" "$threads" ""
    bench add "$ADD" "$threads" ""
  done
  for size in 1000 10000 100000; do
    bench add "$ADD" 1 "$size"
  done
done
