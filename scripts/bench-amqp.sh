#!/usr/bin/env bash
# RabbitMQ numbers on one local rabbitmq-server node started here (own node name, epmd port,
# AMQP port, data and log dirs in a temp dir; stopped by its process group on exit):
#   1. the raw AmqpBroker: publish with confirms and drain (fetch + ack), dev profile
#      (dependencies are optimized there). Knobs: BENCH_MESSAGES (50000), BENCH_BATCH (500),
#      BENCH_FETCHERS (2).
#   2. one in-process host on that node, release build: the same workloads as
#      scripts/bench-queue.sh (bulk publish, drain N no-op `add` tasks, RPC p50/p99, sleepers).
#   3. RPC through the real binary: sequential `POST ...?wait=` on one keep-alive connection,
#      as scripts/bench-rpc.sh does on the embedded broker.
# Usage: scripts/bench-amqp.sh [N]   (N tasks for the host drain, default 50000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-50000}"
server=/usr/lib/rabbitmq/bin/rabbitmq-server
[[ -x $server ]] || { echo "needs rabbitmq-server (apt-get install rabbitmq-server)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-bench-amqp.XXXXXX")
port=$(free_port); dist=$(free_port); epmd_port=$(free_port)
epmd_pid=; rabbit_pid=; serve_pid=
cleanup() {
    [[ -n $serve_pid ]] && kill -TERM "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    [[ -n $rabbit_pid ]] && kill -KILL -- "-$rabbit_pid" 2>/dev/null
    [[ -n $epmd_pid ]] && kill "$epmd_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

echo "[]." >"$dir/enabled_plugins"
echo "disk_free_limit.absolute = 10MB" >"$dir/rabbitmq.conf"
epmd -port "$epmd_port" >/dev/null 2>&1 &
epmd_pid=$!
# setsid: the server script, its beam and children form one process group, killed as one.
HOME=$dir RABBITMQ_NODENAME="wbbench-$$@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$port RABBITMQ_DIST_PORT=$dist ERL_EPMD_PORT=$epmd_port \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    setsid "$server" >"$dir/rabbit.out" 2>&1 &
rabbit_pid=$!
disown "$rabbit_pid" # killed on exit by its process group; no "Killed" job notice
ready() {
    python3 - "$port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.settimeout(5)
s.sendall(b"AMQP\x00\x00\x09\x01")
sys.exit(0 if s.recv(1) == b"\x01" else 1)
EOF
}
for _ in $(seq 1 1200); do
    ready 2>/dev/null && break
    kill -0 "$rabbit_pid" 2>/dev/null || { cat "$dir/rabbit.out" >&2; exit 1; }
    sleep 0.1
done
ready 2>/dev/null || { echo "rabbitmq-server did not start" >&2; exit 1; }
url="amqp://guest:guest@127.0.0.1:$port/%2f"
echo "== rabbitmq-server $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?') on 127.0.0.1:$port; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# CPU seconds used so far by the node's process group (utime + stime of every member).
rabbit_cpu() {
    local ticks=0 pid stat rest
    for stat in /proc/[0-9]*/stat; do
        read -r pid rest <"$stat" 2>/dev/null || continue
        rest=${rest##*) }
        set -- $rest
        [[ ${3:-} == "$rabbit_pid" ]] && ticks=$((ticks + ${12} + ${13}))
    done
    echo "$ticks $(getconf CLK_TCK)" | awk '{ printf "%.2f", $1 / $2 }'
}

echo "== raw AmqpBroker (cargo test -p wasmboost-broker-amqp, dev profile)"
BENCH_AMQP_URL=$url cargo test -q -p wasmboost-broker-amqp --test amqp --no-run 2>/dev/null
before=$(rabbit_cpu)
BENCH_AMQP_URL=$url cargo test -q -p wasmboost-broker-amqp --test amqp -- \
    --ignored --exact bench::bench_publish_and_drain --nocapture 2>/dev/null | grep '^amqp bench'
after=$(rabbit_cpu)
awk -v a="$before" -v b="$after" -v m="${BENCH_MESSAGES:-50000}" 'BEGIN {
    printf "rabbitmq-server CPU for it: %.1f s = %.0f us per message published and drained\n", b - a, (b - a) * 1e6 / m }'

echo "== one host on rabbitmq, in process, release (queue_bench: the workloads of bench-queue.sh)"
# Guests build in their own workspaces' target dirs, whatever CARGO_TARGET_DIR says.
make -s build-bench  # the release binary and queue_bench, one feature set
(cd "$root/examples" && env -u CARGO_TARGET_DIR cargo build --release --target wasm32-wasip2 -q)
(cd "$root/tests/guests" && env -u CARGO_TARGET_DIR cargo build --release --target wasm32-wasip2 -q -p sleep)
add="$root/examples/target/wasm32-wasip2/release/add.wasm"
sleep_wasm="$root/tests/guests/target/wasm32-wasip2/release/sleep.wasm"
QUEUE_BENCH_BROKER=$(printf 'type = "amqp"\nurl = "%s"' "$url") \
    "${CARGO_TARGET_DIR:-$root/target}/release/examples/queue_bench" "$add" "$sleep_wasm" "$n"

echo "== RPC through the real binary (wasmboost serve on rabbitmq, one keep-alive connection)"
bin=${CARGO_TARGET_DIR:-$root/target}/release/wasmboost
printf '[broker]\ntype = "amqp"\nurl = "%s"\n' "$url" >"$dir/wasmboost.toml"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/data" --config "$dir/wasmboost.toml" \
    2>"$dir/serve.log" &
serve_pid=$!
addr=
for _ in $(seq 1 600); do
    addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$dir/serve.log" | head -n1)
    [[ -n $addr ]] && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
    sleep 0.1
done
[[ -n $addr ]] || { echo "wasmboost serve did not start" >&2; exit 1; }
WASMBOOST_ADDR=$addr "$bin" deploy rpc "$add" >/dev/null
calls=2000 warmup=200
for _ in $(seq 1 $((calls + warmup))); do echo "url = \"$addr/v1/queues/rpc/messages?wait=10000\""; done >"$dir/urls"
curl -sS -X POST -H 'content-type: application/json' -d '{"x": 1, "y": 2}' \
    -w '\n@time %{http_code} %{time_total}\n' --config "$dir/urls" >"$dir/out"
ok=$(grep -c '^@time 200 ' "$dir/out" || true)
(( ok == calls + warmup )) || { echo "only $ok of $((calls + warmup)) calls answered 200" >&2; exit 1; }
grep '^@time ' "$dir/out" | tail -n "$calls" | awk '{ print $3 * 1000 }' | sort -n >"$dir/ms"
pick() { sed -n "$(awk -v n="$calls" -v p="$1" 'BEGIN { i = int(n * p / 100 + 0.5); print (i < 1 ? 1 : i) }')p" "$dir/ms"; }
printf 'rpc (binary)   %7d calls  p50 %.3f ms  p99 %.3f ms  max %.3f ms\n' \
    "$calls" "$(pick 50)" "$(pick 99)" "$(tail -n1 "$dir/ms")"
