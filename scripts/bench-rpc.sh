#!/usr/bin/env bash
# RPC latency of the real binary: sequential `POST /v1/queues/add/messages?wait=…` (publish,
# run the no-op `add` task, answer with its record) over ONE persistent HTTP connection, as a
# client library would. Prints p50 / p90 / p99 / max in milliseconds. Target: p50 <= 1 ms.
# Uses curl, which keeps one connection for all the URLs of one invocation.
# Usage: scripts/bench-rpc.sh [N]   (env: WASMBOOST_BIN, WASM, BROKER=embedded|memory, or
#        CONFIG=<wasmboost.toml> for any other broker, e.g. redis; BROKER then only names it)
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-2000}
WARMUP=200
BIN=${WASMBOOST_BIN:-./target/release/wasmboost}
WASM=${WASM:-examples/target/wasm32-wasip2/release/add.wasm}
BROKER=${BROKER:-embedded}
CONFIG=${CONFIG:-}
command -v curl >/dev/null || { echo "bench-rpc needs curl" >&2; exit 1; }
for f in "$BIN" "$WASM"; do
    [[ -f $f ]] || { echo "missing $f: build with \`make build-release examples\`" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-bench-rpc.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ -n $CONFIG ]]; then broker_args=(--config "$CONFIG"); else broker_args=(--broker "$BROKER"); fi
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" "${broker_args[@]}" 2>"$work/serve.log" &
server_pid=$!
addr=
for _ in $(seq 1 600); do
    addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$work/serve.log" | head -n1)
    [[ -n $addr ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done
[[ -n $addr ]] || { echo "server did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
WASMBOOST_ADDR=$addr "$BIN" deploy add "$WASM" >/dev/null

# One curl process, N+WARMUP URLs: sequential requests on one keep-alive connection.
url="$addr/v1/queues/add/messages?wait=10000"
for _ in $(seq 1 $((N + WARMUP))); do echo "url = \"$url\""; done >"$work/urls"
curl -sS -X POST -H 'content-type: application/json' -d '{"x": 1, "y": 2}' \
    -w '\n@time %{http_code} %{time_total}\n' --config "$work/urls" >"$work/out"

ok=$(grep -c '^@time 200 ' "$work/out" || true)
if (( ok != N + WARMUP )); then
    echo "only $ok of $((N + WARMUP)) calls answered 200:" >&2
    grep -v '^@time 200' "$work/out" | head -n 5 >&2
    exit 1
fi
grep '^@time ' "$work/out" | tail -n "$N" | awk '{ print $3 * 1000 }' | sort -n >"$work/ms"
pick() { sed -n "$(awk -v n="$N" -v p="$1" 'BEGIN { i = int(n * p / 100 + 0.5); print (i < 1 ? 1 : i) }')p" "$work/ms"; }
printf 'RPC publish+wait, %s broker, %d sequential calls on one connection (after %d warm-up):\n' \
    "$BROKER" "$N" "$WARMUP"
printf '  p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   max %.3f ms\n' \
    "$(pick 50)" "$(pick 90)" "$(pick 99)" "$(tail -n1 "$work/ms")"
