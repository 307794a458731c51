"""The producer client against a real `wasmboost serve` (see host.py): publish and results,
options, batches, aliases, typed errors, tokens, environment variables, asyncio."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
import unittest
from unittest import mock

from wasmboost import (
    AsyncClient,
    BadRequest,
    Client,
    Forbidden,
    ResultTimeout,
    TaskFailed,
    Unauthorized,
)

from .host import Host

HOST: Host | None = None


def setUpModule() -> None:
    global HOST
    HOST = Host()


def tearDownModule() -> None:
    if HOST is not None:
        HOST.stop()


def host() -> Host:
    assert HOST is not None
    return HOST


class PublishAndResult(unittest.TestCase):
    def setUp(self) -> None:
        self.publisher = host().cli("token", "create", "--scope", "publish")
        self.client = Client(host().addr, token=self.publisher)
        self.add = self.client.queue("add", params=["x", "y"])

    def tearDown(self) -> None:
        self.client.close()

    def test_two_lines(self) -> None:
        handle = self.add.publish(x=1, y=2)
        self.assertEqual(handle.result(timeout=30), 3)
        record = handle.status()
        self.assertEqual(record["state"], "succeeded")
        self.assertEqual(record["queue"], "add")
        self.assertGreater(record["fuel_used"], 0)

    def test_push_delay_apply_async_and_call(self) -> None:
        self.assertEqual(self.add.push(2, 3).result(timeout=30), 5)
        self.assertEqual(self.add.delay(4, y=5).result(timeout=30), 9)
        self.assertEqual(self.add.apply_async((1,), {"y": 1}).result(timeout=30), 2)
        self.assertEqual(self.add.call(x=20, y=22, timeout=30), 42)
        with self.assertRaisesRegex(TypeError, "params="):
            self.client.queue("add").push(1, 2)
        with self.assertRaisesRegex(TypeError, "given twice"):
            self.add.push(1, x=1)

    def test_options_reach_the_host(self) -> None:
        handle = self.add.publish(x=1, y=1, countdown=2, task_id="client-opt-1")
        self.assertEqual(handle.id, "client-opt-1")
        self.assertEqual(handle.status()["state"], "delayed")
        self.assertEqual(handle.result(timeout=30), 2)
        eta = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
        handle = self.add.publish(x=2, y=2, eta=eta, priority=9)
        self.assertEqual(handle.status()["state"], "delayed")
        self.assertEqual(handle.result(timeout=30), 4)
        with self.assertRaises(ValueError):
            self.add.publish(x=1, y=1, eta=dt.datetime.now())

    def test_publish_many_uses_the_batch_route(self) -> None:
        handles = self.add.publish_many(({"x": i, "y": i} for i in range(2500)), chunk=1000)
        self.assertEqual(len(handles), 2500)
        self.assertEqual(len({h.id for h in handles}), 2500)
        for i in (0, 999, 1000, 2499):
            self.assertEqual(handles[i].result(timeout=60), 2 * i)

    def test_publish_many_keeps_order_and_raises_a_refused_chunk(self) -> None:
        handles = self.add.publish_many(({"x": i, "y": 0} for i in range(95)), chunk=10, in_flight=3)
        self.assertEqual(len(handles), 95)
        for i in (0, 9, 10, 47, 94):
            self.assertEqual(handles[i].result(timeout=60), i)
        bad = [{"x": i, "y": 0} for i in range(30)]
        bad[25] = {"x": 1, "extra": 5}
        with self.assertRaises(BadRequest):
            self.add.publish_many(bad, chunk=10, in_flight=3)
        with self.assertRaises(ValueError):
            self.add.publish_many([], in_flight=0)

    def test_a_failed_task_raises_task_failed(self) -> None:
        flaky = self.client.queue("flaky")
        with self.assertRaises(TaskFailed) as caught:
            flaky.publish(mode="fail").result(timeout=30)
        self.assertEqual(caught.exception.state, "failed")
        self.assertIn("flaky fail on attempt 1", caught.exception.error or "")

    def test_typed_errors_name_the_cause(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            self.add.publish(x=1, y=1, task_id="no spaces/here")
        self.assertEqual(caught.exception.status, 400)
        with self.assertRaises(BadRequest):
            self.add.publish(x=1, y=1, priority=42)
        with self.assertRaises(Unauthorized) as unauthorized, Client(
            host().addr, token="wbt_0000000000000000_nope"
        ) as stranger:
            stranger.queue("add").publish(x=1, y=1)
        self.assertEqual(unauthorized.exception.code, "unauthorized")
        only_flaky = host().cli("token", "create", "--scope", "publish", "--queue", "flaky")
        with self.assertRaises(Forbidden) as forbidden, Client(host().addr, token=only_flaky) as other:
            other.queue("add").publish(x=1, y=1)
        self.assertIn("add", forbidden.exception.message)

    def test_result_times_out_while_the_queue_is_paused(self) -> None:
        host().http("POST", "/v1/queues/add/pause")
        try:
            handle = self.add.publish(x=1, y=1)
            started = time.monotonic()
            with self.assertRaises(ResultTimeout):
                handle.result(timeout=0.5)
            self.assertLess(time.monotonic() - started, 10)
        finally:
            host().http("POST", "/v1/queues/add/resume")
        self.assertEqual(handle.result(timeout=30), 2)

    def test_server_and_token_from_the_environment(self) -> None:
        env = {"WASMBOOST_SERVER": host().addr, "WASMBOOST_TOKEN": self.publisher}
        with mock.patch.dict(os.environ, env):
            client = Client()
        with client:
            self.assertEqual(client.server, host().addr)
            self.assertEqual(client.queue("add").publish(x=5, y=5).result(timeout=30), 10)


class Asyncio(unittest.TestCase):
    def test_async_publish_and_result(self) -> None:
        async def run() -> list[int]:
            async with AsyncClient(host().addr, token=host().admin) as client:
                add = client.queue("add", params=["x", "y"])
                handles = [await add.publish(x=i, y=1) for i in range(5)]
                handles.append(await add.push(10, 10))
                return list(await asyncio.gather(*(h.result(timeout=30) for h in handles)))

        self.assertEqual(asyncio.run(run()), [1, 2, 3, 4, 5, 20])


if __name__ == "__main__":
    unittest.main()
