#!/usr/bin/env bash
# Install what `make test` needs and a fresh machine lacks: the servers the test harness starts
# (Debian packages), Python's venv module and the wasm32-wasip2 Rust target. Run by `make test`
# (through `make setup`) and by `.ci/run`. Idempotent and quick when everything is there: it only
# probes, and runs `apt-get update` only when it has something to install.
#
# As root (or with passwordless sudo) it installs; otherwise it prints the one command to run and
# exits 1, so the first error a user sees names the fix instead of a spawn error deep in a test.
set -euo pipefail

# One line per Debian package the tests need: `package|probe`, where the probe is the shell test
# the harness's own lookup amounts to (it passes once the package is installed, also on machines
# where the server came from somewhere else). Add a server here and nowhere else.
PACKAGES=(
    "redis-server|command -v redis-server && command -v redis-cli"
    "rabbitmq-server|test -x /usr/lib/rabbitmq/bin/rabbitmq-server"
    "beanstalkd|command -v beanstalkd"
    "python3-venv|python3 -c 'import venv, ensurepip'"
    "systemd|command -v systemd-analyze"
    # The NATS broker's tests start nats-server -js on free ports (tests/harness/nats.rs).
    "nats-server|command -v nats-server"
    # The PostgreSQL broker's tests run initdb and postgres from here (tests/harness/postgres.rs).
    "postgresql|test -x /usr/lib/postgresql/15/bin/initdb && command -v psql"
    # The dashboard's browser test (tests/all/ui/) drives headless Chromium through WebDriver.
    "chromium|command -v chromium"
    "chromium-driver|command -v chromedriver"
)
WASM_TARGET="wasm32-wasip2"

missing=()
for entry in "${PACKAGES[@]}"; do
    package="${entry%%|*}"
    probe="${entry#*|}"
    bash -c "$probe" >/dev/null 2>&1 || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    install="apt-get install -y ${missing[*]}"
    if ! command -v apt-get >/dev/null; then
        echo "setup: missing ${missing[*]} (the tests start these servers); install them with your package manager" >&2
        exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
        sudo_cmd=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo_cmd=(sudo -n)
    else
        echo "setup: missing ${missing[*]}; run: sudo apt-get update && sudo $install" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v rustup >/dev/null; then
    echo "setup: rustup not found; install Rust with rustup (https://rustup.rs), then run: rustup target add $WASM_TARGET" >&2
    exit 1
fi
rustup target list --installed | grep -qx "$WASM_TARGET" || rustup target add "$WASM_TARGET"
