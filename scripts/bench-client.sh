#!/usr/bin/env bash
# Python client benchmark (issue 17): `publish_many` of N messages (messages/s) against a local
# host, and the round trip of one task from Python (publish + result, and call) and from the
# CLI (`publish --wait`), p50. Uses the release binary unless WASMBOOST_BIN says otherwise, and
# the venv `make` sets up (WASMBOOST_PY_VENV to use another).
#
#   scripts/bench-client.sh            # N=100000
#   N=20000 ROUNDS=100 scripts/bench-client.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-100000}"
export WASMBOOST_BIN="${WASMBOOST_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/wasmboost}"
VENV="${WASMBOOST_PY_VENV:-$ROOT/.venv}"

if [[ ! -x "$WASMBOOST_BIN" ]]; then
    cargo build --release -p wasmboost-cli
fi
echo "binary: $WASMBOOST_BIN; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cd clients/python
"$VENV/bin/python" bench_publish.py "$N"
