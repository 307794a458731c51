#!/usr/bin/env bash
# Dashboard A/B (issue 17): does the queues page, open and polling, slow the host down?
# Each run starts a release `wasmboost serve` on the embedded broker (fresh data dir, loopback,
# no token: an unauthenticated loopback host needs none), deploys the no-op `add` example,
# publishes N messages through the batch route while the queue is paused, then resumes it and
# times the drain until `GET /v1/queues` shows all N succeeded. Runs alternate without (A) and
# with (B) a headless Chromium showing `/ui` (the queues page, which polls `GET /v1/queues` every
# second); B starts the drain once Chromium's net log shows the page polling, and checks that it
# kept polling during the drain.
#
#   scripts/bench-dashboard.sh               # N=100000, RUNS=3 of each
#   N=50000 RUNS=4 scripts/bench-dashboard.sh
# env: WASMBOOST_BIN (default $CARGO_TARGET_DIR/release/wasmboost), CHROMIUM (default chromium)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
N=${N:-100000}
RUNS=${RUNS:-3}
BIN=${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/wasmboost}
CHROMIUM=${CHROMIUM:-chromium}
ADD="$root/examples/target/wasm32-wasip2/release/add.wasm"
CHUNK=10000

[[ -x $BIN ]] || { echo "missing $BIN: make build-release" >&2; exit 1; }
[[ -f $ADD ]] || (cd "$root/examples" && env -u CARGO_TARGET_DIR cargo build --release --target wasm32-wasip2 -q)
command -v "$CHROMIUM" >/dev/null || { echo "needs $CHROMIUM (apt-get install -y chromium)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-bench-dashboard.XXXXXX")
pids=()
stop() {
    # Each process was started in its own session (setsid): its group is its children too
    # (Chromium's renderers); only the groups started here are signalled.
    for pid in "${pids[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap 'stop; rm -rf "$work"' EXIT

# The N messages, as JSON-lines bodies of CHUNK lines each.
seq 0 $((N - 1)) | awk -v chunk=$CHUNK -v dir="$work" \
    '{ print "{\"x\":" $1 ",\"y\":1}" > (dir "/body." int(NR / chunk)) }'

api() { # method path [curl args...]
    local method=$1 path=$2
    shift 2
    curl -sf -X "$method" "$addr$path" "$@"
}

# Resume `add` and time until `GET /v1/queues` (the route the page polls) shows N succeeded;
# one Python process polls every 50 ms, so the poller costs the same in A and B.
drain() {
    python3 - "$addr" "$N" <<'PY'
import json, sys, time, urllib.request
addr, n = sys.argv[1], int(sys.argv[2])
resume = urllib.request.Request(f"{addr}/v1/queues/add/resume", data=b"", method="POST",
                                headers={"Content-Type": "application/json"})
started = time.perf_counter()
urllib.request.urlopen(resume, timeout=30).read()
while True:
    with urllib.request.urlopen(f"{addr}/v1/queues", timeout=30) as r:
        row = next(q for q in json.load(r) if q["queue"] == "add")
    if row["succeeded"] >= n:
        break
    time.sleep(0.05)
print(round(n / (time.perf_counter() - started)))
PY
}

# Requests of the page to `GET /v1/queues` so far, from Chromium's net log (streamed to disk):
# each request names its URL on a few events, so this counts events, not requests.
polls() {
    { grep -o '"url":"[^"]*/v1/queues"' "$1/net.json" 2>/dev/null || true; } | wc -l
}

# CPU time (clock ticks: user + system) of every process in session `$1`, children included.
ticks() {
    local total=0 pid
    for pid in $(ps -s "$1" -o pid= 2>/dev/null); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# Wait until the page has polled `GET /v1/queues`: it is open, logged in and polling.
wait_for_page() {
    local dir=$1
    for _ in $(seq 1200); do
        [[ $(polls "$dir") -gt 0 ]] && return
        sleep 0.05
    done
    echo "chromium did not open the page:" >&2
    cat "$dir/chrome.log" >&2
    exit 1
}

one_run() { # with_browser(0|1); sets `rate` (tasks/s)
    local browser=$1 dir="$work/run" log
    rm -rf "$dir" && mkdir -p "$dir"
    log="$dir/serve.log"
    setsid "$BIN" serve --listen 127.0.0.1:0 --data-dir "$dir/data" >"$log" 2>&1 &
    pids+=($!)
    addr=""
    for _ in $(seq 600); do
        addr=$(sed -n 's/.*wasmboost listening on \([^ ]*\).*/\1/p' "$log" | head -n1)
        [[ -n $addr ]] && curl -sf "$addr/healthz" >/dev/null && break
        addr=""
        sleep 0.05
    done
    [[ -n $addr ]] || { echo "serve did not start:" >&2; cat "$log" >&2; exit 1; }
    api PUT /v1/queues/add/module -H 'Content-Type: application/wasm' --data-binary "@$ADD" >/dev/null
    api POST /v1/queues/add/pause -H 'Content-Type: application/json' >/dev/null
    for body in "$work"/body.*; do
        api POST /v1/queues/add/messages:batch -H 'Content-Type: application/x-ndjson' \
            --data-binary "@$body" >/dev/null
    done
    if [[ $browser == 1 ]]; then
        setsid "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$dir/chrome" --log-net-log="$dir/net.json" "$addr/ui" \
            >"$dir/chrome.log" 2>&1 &
        pids+=($!)
        wait_for_page "$dir"
    fi
    local before host_before browser_before hz
    hz=$(getconf CLK_TCK)
    before=$(polls "$dir")
    host_before=$(ticks "${pids[0]}")
    browser_before=$( [[ $browser == 1 ]] && ticks "${pids[1]}" || echo 0)
    rate=$(drain)
    polled=$(($(polls "$dir") - before))
    # The host's CPU per drained task (load moves it far less than the wall-clock rate) and
    # the browser's CPU over the drain, which competes with the host for the same cores.
    host_us=$(( ($(ticks "${pids[0]}") - host_before) * 1000000 / hz / N ))
    browser_ms=$( [[ $browser == 1 ]] && echo $(( ($(ticks "${pids[1]}") - browser_before) * 1000 / hz )) || echo 0)
    if [[ $browser == 1 && $polled -eq 0 ]]; then
        echo "the page did not poll during the drain" >&2
        exit 1
    fi
    stop
}

echo "binary: $BIN; N=$N; runs: $RUNS each, alternating; load: $(cut -d' ' -f1-3 /proc/loadavg)"
without=()
with=()
cpu_without=()
cpu_with=()
for run in $(seq "$RUNS"); do
    one_run 0
    without+=("$rate")
    cpu_without+=("$host_us")
    echo "run $run without the dashboard: $rate tasks/s; host CPU $host_us us/task"
    one_run 1
    with+=("$rate")
    cpu_with+=("$host_us")
    echo "run $run with the queues page open: $rate tasks/s; host CPU $host_us us/task; Chromium CPU $browser_ms ms over the drain ($polled net-log events of its /v1/queues polls)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ma=$(median "${without[@]}")
mb=$(median "${with[@]}")
echo "median without: $ma tasks/s; with the queues page: $mb tasks/s; ratio with/without: $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }')"
echo "host CPU per task, median: without $(median "${cpu_without[@]}") us, with the queues page $(median "${cpu_with[@]}") us"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
