#!/usr/bin/env bash
# Create the project-local virtualenv `.venv/` with the pinned componentize-py and the
# wasmboost Python guest SDK. Idempotent: re-running it on a complete venv does nothing.
# Needs python3 (>= 3.10) with the venv module and access to PyPI the first time only.
set -euo pipefail

COMPONENTIZE_PY_VERSION="0.25.1"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WASMBOOST_PY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.wasmboost-setup-$COMPONENTIZE_PY_VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/componentize-py" ]]; then
    exit 0
fi

if ! "$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "setup-python: need python3 >= 3.10 with the venv module (set PYTHON=...)" >&2
    exit 1
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "setup-python: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

echo "setup-python: installing componentize-py==$COMPONENTIZE_PY_VERSION" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "componentize-py==$COMPONENTIZE_PY_VERSION"

touch "$STAMP"
"$VENV/bin/componentize-py" --version >&2
