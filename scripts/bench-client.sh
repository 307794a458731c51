#!/usr/bin/env bash
# Python client benchmark (issue 17): `publish_many` of N messages (messages/s) against a local
# host, and the round trip of one task from Python (publish + result, and call) and from the
# CLI (`publish --wait`), p50. Uses the release binary unless WASMBOOST_BIN says otherwise; the
# client needs only the standard library, so any python3 serves (WASMBOOST_PY_VENV picks a venv).
#
#   scripts/bench-client.sh            # N=100000
#   N=20000 ROUNDS=100 scripts/bench-client.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-100000}"
export WASMBOOST_BIN="${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wasmboost}"
PY="python3"
if [[ -n "${WASMBOOST_PY_VENV:-}" ]]; then
    PY="$WASMBOOST_PY_VENV/bin/python"
fi

if [[ ! -x "$WASMBOOST_BIN" ]]; then
    make -s build-bench
fi
echo "binary: $WASMBOOST_BIN; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cd clients/python
"$PY" bench_publish.py "$N"
