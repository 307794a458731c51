#!/usr/bin/env bash
# The Python `add` drained through `wasmboost serve` on the embedded broker, as a user runs it:
# N tasks published in bulk, drained at each queue concurrency in CONCURRENCY; prints tasks/s
# and the serve process's CPU per task (utime + stime from /proc over the drain, and the part
# of it spent in the kernel). Compare with `wasmboost bench` on the same component
# (`scripts/bench-python.sh`): the host adds the broker's work but must not add page-fault or
# TLB-shootdown cost per instance.
# Usage: scripts/bench-python-host.sh [N]   env: WASMBOOST_BIN, CONCURRENCY="1 2 4"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-2000}"
BIN="${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/wasmboost}"
CONCURRENCY="${CONCURRENCY:-1 2 4}"
[[ -x $BIN ]] || { echo "missing $BIN: run \`make build-release\`" >&2; exit 1; }
./scripts/setup-python.sh >/dev/null
WASM="$("$BIN" build examples/python/add | tail -n 1)"

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-pyhost.XXXXXX")
pid=
cleanup() {
    [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

field() { local v; v=$(grep -o "\"$1\":[0-9]*" <<<"$2" | head -n1 | cut -d: -f2); echo "${v:-0}"; }
# utime and stime of a process, in clock ticks.
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
# Waits until the add queue has ended $1 tasks.
wait_done() {
    local stats
    while :; do
        stats=$("$BIN" queues --json)
        (($(field succeeded "$stats") + $(field failed "$stats") >= $1)) && return
        sleep 0.05
    done
}

awk -v n="$n" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"x\": %d, \"y\": 1}\n", i }' >"$work/tasks.jsonl"
awk 'BEGIN { for (i = 1; i <= 50; i++) printf "{\"x\": %d, \"y\": 1}\n", i }' >"$work/warm.jsonl"
hz=$(getconf CLK_TCK)
echo "Python add through serve (embedded), $n tasks, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "| concurrency | tasks/s | host CPU per task | of it kernel |"
echo "|---|---|---|---|"
for c in $CONCURRENCY; do
    rm -rf "$work/data" && mkdir -p "$work/data"
    printf '[queues.add]\nconcurrency = %s\n' "$c" >"$work/config.toml"
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" --config "$work/config.toml" \
        2>"$work/serve.log" &
    pid=$!
    addr=
    for _ in $(seq 1 600); do
        addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$work/serve.log" | head -n1)
        [[ -n $addr ]] && break
        sleep 0.05
    done
    [[ -n $addr ]] || { cat "$work/serve.log" >&2; exit 1; }
    export WASMBOOST_ADDR=$addr
    "$BIN" deploy add "$WASM" >/dev/null
    "$BIN" publish add --file "$work/warm.jsonl" >/dev/null
    wait_done 50
    read -r u0 s0 < <(ticks "$pid")
    start=$(date +%s%N)
    "$BIN" publish add --file "$work/tasks.jsonl" >/dev/null
    wait_done $((n + 50))
    end=$(date +%s%N)
    read -r u1 s1 < <(ticks "$pid")
    awk -v n="$n" -v c="$c" -v ns=$((end - start)) -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" \
        'BEGIN { printf "| %d | %.0f | %.2f ms | %.0f %% |\n", c, n / (ns / 1e9), (u + s) * 1000 / hz / n, (u + s) ? 100 * s / (u + s) : 0 }'
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
done
