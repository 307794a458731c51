"""Measure the client against a local host: publish_many of N messages (messages/s) and the
publish + result round trip (p50). Usage: python3 bench_publish.py [N] (needs the binary and
components `make test` builds; WASMBOOST_BIN selects a release binary)."""

from __future__ import annotations

import statistics
import sys
import time

from tests.host import Host
from wasmboost import Client


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
            rounds = []
            for i in range(300):
                started = time.perf_counter()
                assert add.publish(x=i, y=1).result(timeout=30) == i + 1
                rounds.append(time.perf_counter() - started)
            print(f"publish + result: p50 {statistics.median(rounds) * 1000:.2f} ms over {len(rounds)}")
    finally:
        host.stop()


if __name__ == "__main__":
    main()
