#!/usr/bin/env bash
# Instructions per task, from valgrind's callgrind, by the difference of two run lengths: start-up,
# compile/cache load and warm-up cost the same in both runs and cancel out, so the number does not
# move with the machine's load the way wall-clock figures do.
#   invoke    `wasmboost bench add.wasm -n A` vs `-n B`: (Ir_B - Ir_A) / (B - A) per isolated call.
#   embedded  `wasmboost serve` (embedded durable broker) under callgrind, TASKS then 6 x TASKS
#             no-op `add` tasks published over HTTP in bulk and drained: per queued task, end to
#             end (publish + fetch + gates + invoke + settle + record + stats).
#   redis     the same on a local redis-server (started here), plus redis-server's own CPU per task
#             from /proc/<pid>/stat over the same two runs.
# Valgrind counts a `rep stos`/`rep movs` string instruction once per byte it moves, so glibc's
# memset/memcpy of a page (which it does with `rep stosb` above 2 KiB) counts ~4 100 where the
# CPU spends a few dozen cycles. Every row is therefore measured with GLIBC_TUNABLES raising
# the rep thresholds, so those calls run as vector loops whose count matches the work; RAW=1
# measures with glibc's defaults instead (the figure earlier sessions reported: +20 % on `add`).
# The epoch ticker thread (1 ms wall-clock tick, not work per task) is left out of every count:
# callgrind keeps one profile per thread (--separate-threads) and the ticker's is dropped.
# The pool is sized for valgrind (whose address space is far below the default 4 TiB
# reservation): `[runtime] max_instances` / `memory_reservation`, `--memory-reservation` for bench.
# Usage: scripts/callgrind.sh [invoke|embedded|redis|all]
#   env: WASMBOOST_BIN (default target/release/wasmboost), WASM (the add example), A=200 B=2200,
#        TASKS=500, KEEP=1 keeps the callgrind profiles (their directory is printed),
#        RESULTS=never|errors|always sets the queues' `results` policy (default: the host's).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
BIN=${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-target}/release/wasmboost}
WASM=${WASM:-examples/target/wasm32-wasip2/release/add.wasm}
A=${A:-200}
B=${B:-2200}
TASKS=${TASKS:-500}
results=""
[[ -n ${RESULTS:-} ]] && results="results = \"$RESULTS\""$'\n'
if [[ ${RAW:-0} != 1 ]]; then
    export GLIBC_TUNABLES=glibc.cpu.x86_rep_stosb_threshold=0xffffffffffff:glibc.cpu.x86_rep_movsb_threshold=0xffffffffffff
fi
counting=$([[ ${RAW:-0} == 1 ]] && echo "raw: rep strings counted per byte" || echo "rep strings as vector loops")
command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
for f in "$BIN" "$WASM"; do
    [[ -f $f ]] || { echo "missing $f: build with \`make build-release examples\`" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/wasmboost-callgrind.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then echo "profiles kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Instructions in the profiles `$1.*` (one per thread), without the epoch ticker's thread.
instructions() {
    local total=0 file n
    for file in "$1".*; do
        [[ -f $file ]] || continue
        grep -q 'spawn_epoch_ticker' "$file" && continue
        n=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$file" | head -n1)
        total=$((total + ${n:-0}))
    done
    echo "$total"
}

# Runs "$@" under callgrind, profiles in "$1.<pid>-<thread>". Replaces the calling shell
# (`exec`), so run it in a subshell: `(callgrind ...) &` is then valgrind's own pid, which a
# TERM reaches (a profile is written only when the process exits by itself).
callgrind() {
    local out=$1
    shift
    # --fair-sched: valgrind runs one thread at a time, and without a fair lock a busy worker
    # thread starves serve's accept loop past the CLI's 5 s connect timeout.
    exec valgrind --tool=callgrind --separate-threads=yes --fair-sched=yes --callgrind-out-file="$out.%p" \
        --log-file="$out.log" "$@"
}

# CPU time (utime + stime) of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

rows=()
row() { rows+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); }

per_invocation() {
    local ir_a ir_b extra=()
    # BENCH_RESERVATION=256MiB measures the bounds-checked code a small reservation compiles.
    [[ -n ${BENCH_RESERVATION:-} ]] && extra=(--memory-reservation "$BENCH_RESERVATION")
    # Compiled into a cache first, under valgrind (whose CPU features the engine's cache key
    # includes), so the measured runs only load it.
    valgrind --tool=none --log-file="$work/warm.log" "$BIN" run "$WASM" \
        --payload '{"x": 1, "y": 2}' --cache-dir "$work/cache" "${extra[@]}" >/dev/null 2>&1
    for n in "$A" "$B"; do
        (callgrind "$work/bench-$n" "$BIN" bench "$WASM" --payload '{"x": 1, "y": 2}' -n "$n" \
            --warmup 20 --cache-dir "$work/cache" "${extra[@]}") >/dev/null
    done
    ir_a=$(instructions "$work/bench-$A")
    ir_b=$(instructions "$work/bench-$B")
    invoke_ir=$(( (ir_b - ir_a) / (B - A) ))
    row "isolated \`add\` invocation" "$invoke_ir" \
        "\`wasmboost bench add.wasm -n $B\` minus \`-n $A\` (Ir $ir_b - $ir_a)"
}

# Field `$1` of queue `add` in `queues --json` (0 when absent).
field() { local v; v=$(grep -o "\"$1\":[0-9]*" <<<"$2" | head -n1 | cut -d: -f2); echo "${v:-0}"; }

# One serve under callgrind: deploy add, publish $2 tasks in bulk, wait for all, stop it.
# Prints the instructions it executed (and, with a redis pid in $3, redis-server's CPU ticks).
serve_run() {
    local name=$1 tasks=$2 redis_pid=${3:-} config=$4
    local data="$work/$name-data" log="$work/$name-serve.log" addr= pid before=0
    mkdir -p "$data"
    # stdout to a file: a serve left running must not hold this function's output pipe open.
    (callgrind "$work/$name" "$BIN" serve --listen 127.0.0.1:0 --data-dir "$data" \
        --config "$config") >"$work/$name.out" 2>"$log" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 1200); do # up to 120 s: serve starts slowly under valgrind
        addr=$(sed -n 's/^wasmboost listening on \([^ ]*\).*/\1/p' "$log" | head -n1)
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || { cat "$log" "$work/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "serve did not start under valgrind" >&2; cat "$log" >&2; exit 1; }
    WASMBOOST_ADDR=$addr "$BIN" deploy add "$WASM" >/dev/null
    awk -v n="$tasks" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"x\": %d, \"y\": 1}\n", i }' \
        >"$work/$name.jsonl"
    [[ -n $redis_pid ]] && before=$(cpu_ticks "$redis_pid")
    WASMBOOST_ADDR=$addr "$BIN" publish add --file "$work/$name.jsonl" >/dev/null
    local deadline=$(( $(date +%s) + 1200 )) stats done_count
    while :; do
        # A poll can time out while serve runs tasks under valgrind: try again.
        stats=$(WASMBOOST_ADDR=$addr "$BIN" queues --json 2>/dev/null) || stats=""
        done_count=$(( $(field succeeded "$stats") + $(field failed "$stats") + $(field dead_lettered "$stats") ))
        (( done_count >= tasks )) && break
        (( $(date +%s) < deadline )) || { echo "$name: $done_count of $tasks done in 1200 s" >&2; exit 1; }
        sleep 1
    done
    local redis_ticks=0
    [[ -n $redis_pid ]] && redis_ticks=$(( $(cpu_ticks "$redis_pid") - before ))
    kill -TERM "$pid"
    wait "$pid" || true
    pids=("${pids[@]/$pid/}")
    echo "$(instructions "$work/$name") $redis_ticks"
}

per_queued() {
    local broker=$1 config=$2 redis_pid=${3:-}
    local small large ir_a ir_b ticks_a ticks_b per extra
    small=$(serve_run "$broker-small" "$TASKS" "$redis_pid" "$config")
    large=$(serve_run "$broker-large" $((6 * TASKS)) "$redis_pid" "$config")
    read -r ir_a ticks_a <<<"$small"
    read -r ir_b ticks_b <<<"$large"
    per=$(( (ir_b - ir_a) / (5 * TASKS) ))
    row "queued no-op \`add\` task, $broker (host)" "$per" \
        "\`serve\` under callgrind, $((6 * TASKS)) minus $TASKS tasks published in bulk and drained (Ir $ir_b - $ir_a)"
    if [[ -n ${invoke_ir:-} ]]; then
        extra=$((per - invoke_ir))
        row "... of which beyond the invocation, $broker" "$extra" "the row above minus the isolated invocation"
    fi
    if [[ -n $redis_pid ]]; then
        local hz us
        hz=$(getconf CLK_TCK)
        us=$(awk -v a="$ticks_a" -v b="$ticks_b" -v n=$((5 * TASKS)) -v hz="$hz" \
            'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')
        row "redis-server CPU per queued task (µs, not instructions)" "$us" \
            "/proc/<redis pid>/stat utime+stime over the same two runs (native, not under valgrind)"
    fi
}

embedded() {
    # 8 instances x (4 GiB + guard): the default code (no bounds checks) in a pool valgrind can map.
    printf '[runtime]\nmax_instances = 8\n[defaults]\nconcurrency = 4\n%s' "$results" >"$work/embedded.toml"
    per_queued embedded "$work/embedded.toml"
}

redis() {
    command -v redis-server >/dev/null || { echo "redis part needs redis-server" >&2; return 1; }
    local port dir="$work/redis" pid
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
        --daemonize no --logfile "$dir/redis.log" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 300); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    printf '[broker]\ntype = "redis"\nurl = "redis://127.0.0.1:%s"\n[runtime]\nmax_instances = 8\n[defaults]\nconcurrency = 4\n%s' \
        "$port" "$results" >"$work/redis.toml"
    per_queued redis "$work/redis.toml" "$pid"
}

case $what in
invoke) per_invocation ;;
embedded) embedded ;;
redis) redis ;;
all) per_invocation; embedded; redis ;;
*) echo "usage: $0 [invoke|embedded|redis|all]" >&2; exit 2 ;;
esac

echo "instructions per task (callgrind, $(valgrind --version), $counting, $(nproc) cores, $BIN):"
echo "| measure | instructions | command |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
