"""Measure the client against a local host: publish_many of N messages (messages/s), then the
round trip of one task three ways, p50 over ROUNDS: Python `publish(...).result()` (two
requests), Python `call(...)` (one request, `?wait=`), and the CLI's `publish --wait` (one
request plus the process start, timed from Python, with `--version` timed alone to subtract). Usage: python3 bench_publish.py [N]
(needs the binary and components `make test` builds; WASMBOOST_BIN selects a release binary).
`scripts/bench-client.sh` runs it."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from tests.host import Host, binary
from wasmboost import Client

ROUNDS = int(os.environ.get("ROUNDS", "300"))


def p50_ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:.2f} ms"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    host = Host()
    try:
        # Paused: the host's workers do not compete with the publisher for the CPU.
        host.http("POST", "/v1/queues/add/pause")
        with Client(host.addr, token=host.admin) as client:
            add = client.queue("add")
            messages = [{"x": i, "y": 1} for i in range(n)]
            started = time.perf_counter()
            handles = add.publish_many(messages)
            elapsed = time.perf_counter() - started
            assert len(handles) == n
            print(f"publish_many: {n} messages in {elapsed:.2f} s = {n / elapsed:,.0f} messages/s")
        host.stop()
        host = Host()
        with Client(host.addr, token=host.admin) as client:
            add = client.queue("add")
            two, one = [], []
            for i in range(ROUNDS):
                started = time.perf_counter()
                assert add.publish(x=i, y=1).result(timeout=30) == i + 1
                two.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert add.call(x=i, y=1) == i + 1
                one.append(time.perf_counter() - started)
            print(f"python publish + result: {p50_ms(two)} over {ROUNDS}")
            print(f"python call (publish ?wait): {p50_ms(one)} over {ROUNDS}")
        cli = []
        env = {**os.environ, "WASMBOOST_SERVER": host.addr, "WASMBOOST_TOKEN": host.admin}
        for i in range(min(ROUNDS, 100)):
            started = time.perf_counter()
            out = subprocess.run(
                [str(binary()), "publish", "add", f'{{"x": {i}, "y": 1}}', "--wait"],
                env=env, capture_output=True, text=True, check=True,
            )
            cli.append(time.perf_counter() - started)
            assert out.stdout.strip() == str(i + 1), out
        print(f"cli publish --wait (process included): {p50_ms(cli)} over {len(cli)}")
        # The process start alone, to subtract: the same binary answering `--version`.
        start = []
        for _ in range(len(cli)):
            started = time.perf_counter()
            subprocess.run([str(binary()), "--version"], capture_output=True, check=True)
            start.append(time.perf_counter() - started)
        print(f"cli --version (process start only): {p50_ms(start)} over {len(start)}")
    finally:
        host.stop()


if __name__ == "__main__":
    main()
