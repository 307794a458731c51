#!/usr/bin/env bash
# `make soak`: does a long run stay flat? One `wasmboost serve` (release binary) drains TOTAL
# no-op `add` tasks in rounds of ROUND, first on the embedded broker, then on a local Redis
# started here. A sampler records the host's RSS and open fds every SAMPLE seconds; after each
# round the data directory's size (embedded) or Redis's used memory is printed. At the end: the
# RSS slope after warm-up (the first round is skipped) by least squares, in MiB per 100 000
# tasks, against the target of < 1 MiB. Not part of `make test` (1 M tasks take 1-2 minutes per
# broker on a 2-core machine; use TOTAL=3000000 with RESULT_TTL=30s to watch the TTL turn over).
#
# RESULT_TTL (default 10m) is the queue's `result_ttl`: records older than it are removed by the
# embedded store (each commit removes up to twice the rows it wrote, and an idle store sweeps
# every 30 s) or by Redis's own expiry, so the data directory stops growing once the run is older
# than the TTL.
# Usage: scripts/soak.sh [TOTAL] [ROUND]   (env: SAMPLE, RESULT_TTL, BROKERS="embedded redis")
set -euo pipefail
cd "$(dirname "$0")/.."

TOTAL=${1:-1000000}
ROUND=${2:-100000}
SAMPLE=${SAMPLE:-10}
RESULT_TTL=${RESULT_TTL:-10m}
BROKERS=${BROKERS:-embedded redis}
BIN=${WASMBOOST_BIN:-./target/release/wasmboost}
WASM=examples/target/wasm32-wasip2/release/add.wasm
QUEUE=add
for f in "$BIN" "$WASM"; do
    [[ -f $f ]] || { echo "missing $f: run \`make soak\` (it builds both)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-soak.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# 1 000 tasks per request (the batch endpoint's body stays small).
awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "{\"x\": %d, \"y\": 1}\n", i }' >"$work/batch.jsonl"

succeeded() {
    curl -fsS "$addr/v1/queues" | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin) if r["queue"] == "add"]
print(rows[0]["succeeded"] if rows else 0)'
}

soak() {
    local broker=$1 config="$work/$1.toml" data="$work/$1-data"
    printf '[queues.%s]\nconcurrency = 64\nresult_ttl = "%s"\n' "$QUEUE" "$RESULT_TTL" >"$config"
    if [[ $broker == redis ]]; then
        local port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
            --daemonize no --logfile "$work/redis.log" &
        pids+=($!)
        for _ in $(seq 1 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
        printf '[broker]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$port" >>"$config"
        redis_port=$port
    fi
    "$BIN" serve --listen 127.0.0.1:0 --data-dir "$data" --config "$config" 2>"$work/$broker.log" &
    local pid=$!
    pids+=("$pid")
    addr=
    for _ in $(seq 1 600); do
        addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$work/$broker.log" | head -n1)
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "serve did not start:" >&2; cat "$work/$broker.log" >&2; exit 1; }
    WASMBOOST_ADDR=$addr "$BIN" deploy "$QUEUE" "$WASM" >/dev/null

    local samples="$work/$broker.samples" start
    : >"$samples"
    start=$(date +%s)
    # Sampler: seconds, tasks succeeded, RSS (KiB), open fds.
    (
        while kill -0 "$pid" 2>/dev/null; do
            rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
            echo "$(( $(date +%s) - start )) $(succeeded 2>/dev/null || echo 0) $rss $fds" >>"$samples"
            sleep "$SAMPLE"
        done
    ) &
    pids+=($!)

    echo "== $broker: $TOTAL tasks in rounds of $ROUND (result_ttl $RESULT_TTL, RSS every ${SAMPLE}s)"
    local done_before=0 round=0
    while (( done_before < TOTAL )); do
        round=$((round + 1))
        local t0 n=0
        t0=$(date +%s.%N)
        while (( n < ROUND )); do
            curl -fsS -o /dev/null -X POST -H 'Content-Type: application/x-ndjson' \
                --data-binary @"$work/batch.jsonl" "$addr/v1/queues/$QUEUE/messages:batch"
            n=$((n + 1000))
        done
        local target=$((done_before + ROUND))
        while (( $(succeeded) < target )); do sleep 0.5; done
        done_before=$target
        local t1 rss fds disk
        t1=$(date +%s.%N)
        rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
        fds=$(ls "/proc/$pid/fd" | wc -l)
        if [[ $broker == redis ]]; then
            disk="redis used_memory $(redis-cli -p "$redis_port" info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"
        else
            disk="data dir $(du -sh "$data" | cut -f1)"
        fi
        awk -v r="$round" -v n="$ROUND" -v a="$t0" -v b="$t1" -v rss="$rss" -v fds="$fds" -v disk="$disk" \
            'BEGIN { printf "round %2d: %d tasks at %.0f/s, RSS %s MiB, %d fds, %s\n", r, n, n / (b - a), rss, fds, disk }'
    done
    # RSS (MiB) against tasks done (100 000s), after the first round: least-squares slope.
    awk -v warm="$ROUND" '$2 >= warm && $3 > 0 {
            x = $2 / 100000; y = $3 / 1024; n++; sx += x; sy += y; sxx += x * x; sxy += x * y
        }
        END {
            if (n < 3 || n * sxx == sx * sx) { print "slope: too few samples after warm-up"; exit }
            slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
            printf "slope after warm-up: %+.2f MiB per 100 000 tasks over %d samples (target: < 1) %s\n",
                slope, n, (slope < 1 ? "OK" : "OVER")
        }' "$samples"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
for broker in $BROKERS; do
    soak "$broker"
done
