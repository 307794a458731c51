#!/usr/bin/env bash
# `make run`: the main job of wasmboost on a fresh machine, no server installed.
# Starts `wasmboost serve` (embedded durable broker, temporary data dir) in the background,
# deploys the `add` example, publishes TASKS tasks in bulk, shows `queues` while they drain,
# makes one RPC call (`publish --wait`), prints a summary and stops the server by its PID.
# The build is done by make (release binary + examples).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${WASMBOOST_BIN:-./target/release/wasmboost}
WASM=${WASM:-examples/target/wasm32-wasip2/release/add.wasm}
TASKS=${TASKS:-10000}
QUEUE=add

for f in "$BIN" "$WASM"; do
    [[ -f $f ]] || { echo "missing $f: run \`make run\` (it builds both)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-demo.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The value of a numeric field of the `add` row in `queues --json`.
field() { local v; v=$(grep -o "\"$1\":[0-9]*" <<<"$2" | head -n1 | cut -d: -f2); echo "${v:-0}"; }

step "starting wasmboost serve (embedded broker, data in $work/data)"
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" --queue "$QUEUE=64" 2>"$work/serve.log" &
server_pid=$!
addr=
for _ in $(seq 1 600); do   # up to 60 s on a busy machine
    addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$work/serve.log" | head -n1)
    [[ -n $addr ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "wasmboost serve exited:" >&2; cat "$work/serve.log" >&2; exit 1
    fi
    sleep 0.1
done
[[ -n $addr ]] || { echo "server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
export WASMBOOST_ADDR=$addr
echo "server pid $server_pid listening on $addr"

step "wasmboost deploy $QUEUE $WASM"
"$BIN" deploy "$QUEUE" "$WASM"

step "wasmboost publish $QUEUE --file tasks.jsonl ($TASKS tasks)"
awk -v n="$TASKS" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"x\": %d, \"y\": %d}\n", i, 2 * i }' \
    >"$work/tasks.jsonl"
start=$(date +%s.%N)
"$BIN" publish "$QUEUE" --file "$work/tasks.jsonl"

step "wasmboost queues (while the tasks drain)"
done_count=0
deadline=$(( $(date +%s) + 300 ))
while :; do
    stats=$("$BIN" queues --json)
    done_count=$(( $(field succeeded "$stats") + $(field failed "$stats") + $(field dead_lettered "$stats") ))
    "$BIN" queues
    (( done_count >= TASKS )) && break
    if (( $(date +%s) > deadline )); then
        echo "tasks did not drain within 300 s" >&2; exit 1
    fi
    sleep 0.5
done
end=$(date +%s.%N)

step "wasmboost publish $QUEUE '{\"x\": 20, \"y\": 22}' --wait   (RPC)"
"$BIN" publish "$QUEUE" '{"x": 20, "y": 22}' --wait

step "summary"
awk -v n="$TASKS" -v s="$start" -v e="$end" -v ok="$(field succeeded "$stats")" 'BEGIN {
    printf "%d tasks published and run in %.2f s: %.0f tasks/s end to end (%d succeeded)\n",
        n, e - s, n / (e - s), ok }'

step "stopping the server (SIGTERM to pid $server_pid)"
kill -TERM "$server_pid"
wait "$server_pid" && echo "server stopped cleanly (exit 0)"
server_pid=
