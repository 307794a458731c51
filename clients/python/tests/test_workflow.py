"""Workflows from the Python client against a real `wasmboost serve` (see host.py) with the
`calc` test guest: a chain holding a chord passes results along, a map keeps element order, a
failing step raises `WorkflowFailed` naming it, a cancel stops a running workflow, and a bad
document is refused naming its node."""

from __future__ import annotations

import time
import unittest

from wasmboost import BadRequest, Client, NotFound, ResultTimeout
from wasmboost.workflow import (
    WorkflowFailed,
    chain,
    chord,
    group,
    map_,
    step,
    submit,
    workflow,
)

from .host import Host, _need, component

HOST: Host | None = None
CONFIG = (
    "[queues.add]\nconcurrency = 8\n[queues.flaky]\nmax_retries = 0\n"
    "[queues.calc]\nconcurrency = 8\n[queues.calc2]\nconcurrency = 8\n"
)


def setUpModule() -> None:
    global HOST
    HOST = Host(CONFIG)
    calc = _need(component("tests/guests", "calc"), "guests")
    for queue in ("calc", "calc2"):
        HOST.deploy(queue, calc)


def tearDownModule() -> None:
    if HOST is not None:
        HOST.stop()


def host() -> Host:
    assert HOST is not None
    return HOST


class Workflows(unittest.TestCase):
    def setUp(self) -> None:
        self.client = Client(host().addr, token=host().admin)

    def tearDown(self) -> None:
        self.client.close()

    def test_a_chain_holding_a_chord_passes_results_along(self) -> None:
        # add(1, 2) = 3 -> double = 6 -> [12, 7, 8] -> sum = 27
        flow = chain(
            step("calc", {"op": "add", "x": 1, "y": 2}),
            step("calc2", {"op": "double"}, into="x"),
            chord(
                [
                    step("calc", {"op": "double"}, into="x"),
                    step("calc2", {"op": "add", "y": 1}, into="x"),
                    step("calc", {"op": "add", "y": 2}, into="x"),
                ],
                step("calc2", {"op": "sum"}, into="values"),
            ),
        )
        wf = submit(self.client, flow)
        self.assertEqual(wf.result(timeout=60), 27)
        info = wf.status()
        self.assertEqual(info["state"], "succeeded")
        self.assertEqual([s["size"] for s in info["stages"]], [1, 1, 3, 1])
        self.assertEqual(info["stages"][2]["steps"][1]["task_id"], f"{wf.id}.2.1")
        # A handle made from the id alone sees the same workflow.
        self.assertEqual(workflow(self.client, wf.id).status()["result"], 27)

    def test_a_map_and_a_group_keep_their_order(self) -> None:
        mapped = submit(self.client, map_("calc", "x", {"op": "double"}, over=list(range(1, 21))))
        self.assertEqual(mapped.result(timeout=60), [2 * x for x in range(1, 21)])
        grouped = submit(
            self.client,
            group(step("calc2", {"op": "add", "x": x, "y": 100}) for x in range(5)),
        )
        self.assertEqual(grouped.result(timeout=60), [100 + x for x in range(5)])

    def test_a_failing_step_fails_the_workflow_naming_it(self) -> None:
        flow = chain(
            step("calc", {"op": "add", "x": 1, "y": 2}),
            step("calc2", {"op": "fail"}, into="x"),
            step("calc", {"op": "double"}, into="x"),
        )
        wf = submit(self.client, flow)
        with self.assertRaises(WorkflowFailed) as caught:
            wf.result(timeout=60)
        self.assertEqual(caught.exception.info["state"], "failed")
        self.assertIn(f"{wf.id}.1.0", caught.exception.info["error"])
        self.assertIn("calc fail", str(caught.exception))
        self.assertIsNone(wf.status()["stages"][2]["size"], "the third stage never started")

    def test_cancel_stops_a_running_workflow(self) -> None:
        flow = chain(
            step("calc", {"op": "add", "x": 1, "y": 2, "sleep_ms": 20000}),
            step("calc2", {"op": "double"}, into="x"),
        )
        wf = submit(self.client, flow)
        first = self.client.task(f"{wf.id}.0.0")
        deadline = time.monotonic() + 60
        while first.state != "running":
            self.assertLess(time.monotonic(), deadline, "the first step never ran")
            time.sleep(0.02)
        started = time.monotonic()
        wf.cancel()
        with self.assertRaises(WorkflowFailed) as caught:
            wf.result(timeout=30)
        self.assertEqual(caught.exception.info["state"], "cancelled")
        self.assertLess(time.monotonic() - started, 15, "stopped well before the step's 20 s")
        self.assertIsNone(wf.status()["stages"][1]["size"], "nothing after the cancel ran")

    def test_a_running_workflow_times_out_the_wait_not_the_workflow(self) -> None:
        wf = submit(self.client, step("calc", {"op": "add", "x": 1, "y": 1, "sleep_ms": 1500}))
        with self.assertRaises(ResultTimeout):
            wf.result(timeout=0.2)
        self.assertEqual(wf.result(timeout=60), 2)

    def test_bad_documents_are_refused_naming_the_cause(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            submit(self.client, {"chain": [{"args": {}}]})
        self.assertIn("$.chain[0]", caught.exception.message)
        with self.assertRaises(NotFound):
            submit(self.client, step("nope"))
        with self.assertRaises(TypeError):
            submit(self.client, [step("calc")])  # type: ignore[arg-type]
        with self.assertRaises(BadRequest):
            workflow(self.client, "not a workflow").status()


if __name__ == "__main__":
    unittest.main()
