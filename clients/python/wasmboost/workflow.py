"""Durable workflows from Python: build a document (`step`, `chain`, `group`, `chord`, `map_`),
submit it to the host (`submit`), follow it (`Workflow.status`, `Workflow.result`) and cancel it.

    from wasmboost import Client
    from wasmboost.workflow import chain, chord, step, submit

    flow = chain(
        step("calc", {"op": "add", "x": 1, "y": 2}),
        chord([step("calc", {"op": "double"}, into="x")] * 3,
              step("calc", {"op": "sum"}, into="values")),
    )
    wf = submit(Client(), flow)
    print(wf.result(timeout=30))

The document is the host's JSON grammar (`POST /v1/workflows`), built as plain dicts: each
helper only assembles the keys, and the host checks the whole document, refusing a bad one with
a `BadRequest` naming the JSON path of the bad node. The workflow runs on the hosts, durably: a
producer that exits after `submit` loses nothing.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .client import Client
from .errors import ResultTimeout, WasmboostError

#: Workflow states after which nothing more happens.
ENDED_STATES = frozenset({"succeeded", "failed", "cancelled"})
#: How often `Workflow.result` looks at a running workflow (seconds; doubled up to the max).
POLL_FIRST = 0.05
POLL_MAX = 1.0

Node = dict[str, Any]


def step(queue: str, args: Mapping[str, Any] | None = None, *, into: str | None = None) -> Node:
    """One task on `queue` with keyword arguments `args`; `into` names the parameter that
    receives the previous stage's result (a chain step, a chord callback, a map element)."""
    node: Node = {"queue": queue}
    if args is not None:
        node["args"] = dict(args)
    if into is not None:
        node["arg"] = into
    return node


def chain(*nodes: Node) -> Node:
    """Run `nodes` one after the other, each result passed on to the next."""
    return {"chain": list(nodes)}


def group(nodes: Iterable[Node]) -> Node:
    """Run `nodes` at once (possibly on different queues); the result is their results' list,
    in the order given."""
    return {"group": list(nodes)}


def chord(nodes: Iterable[Node], callback: Node) -> Node:
    """A group, then `callback` with the list of the group's results, in order."""
    return {"chord": {"group": list(nodes), "callback": callback}}


def map_(
    queue: str,
    into: str,
    args: Mapping[str, Any] | None = None,
    over: Sequence[Any] | None = None,
    callback: Node | None = None,
) -> Node:
    """One task on `queue` per element (passed as `into`) of `over`, or of the previous stage's
    result (a list) when `over` is None; then optionally `callback` with the results, in order."""
    inner: Node = {"queue": queue, "arg": into}
    if args is not None:
        inner["args"] = dict(args)
    if over is not None:
        inner["over"] = list(over)
    if callback is not None:
        inner["callback"] = callback
    return {"map": inner}


class WorkflowFailed(WasmboostError):
    """The workflow ended `failed` or `cancelled`; `info` is its full status (`info["error"]`
    names the failed step's task id and error)."""

    def __init__(self, info: Mapping[str, Any]) -> None:
        self.info = dict(info)
        why = info.get("error") or info.get("state")
        super().__init__(0, str(info.get("state")), f"workflow {info.get('id')} {info.get('state')}: {why}")


class Workflow:
    """A submitted workflow."""

    def __init__(self, client: Client, workflow_id: str) -> None:
        self.client = client
        self.id = workflow_id
        self._path = f"/v1/workflows/{urllib.parse.quote(workflow_id, safe='')}"

    def __repr__(self) -> str:
        return f"Workflow({self.id!r})"

    def status(self) -> dict[str, Any]:
        """The workflow now: `state`, `error`, `result`, and each stage's `kind`, `size`,
        `done` and steps (task id, queue, state)."""
        _, info = self.client.request("GET", self._path)
        return dict(info)

    def cancel(self) -> dict[str, Any]:
        """Cancel the workflow's pending and running steps; its status after the cancel."""
        _, info = self.client.request("DELETE", self._path)
        return dict(info)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the workflow to end; its result (the last stage's). Raises `WorkflowFailed`
        if it ended otherwise and `ResultTimeout` if it is still running after `timeout`
        seconds (None: wait forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = POLL_FIRST
        while True:
            info = self.status()
            if info.get("state") in ENDED_STATES:
                if info["state"] != "succeeded":
                    raise WorkflowFailed(info)
                return info.get("result")
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(0, "timeout", f"workflow {self.id} still running after {timeout} s")
            left = pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(left)
            pause = min(POLL_MAX, pause * 2)


def submit(client: Client, document: Mapping[str, Any], on_error: Node | None = None) -> Workflow:
    """Submit a workflow document (built with the helpers above, or the same JSON by hand);
    `on_error` is a step run once with the failure if a step fails."""
    if not isinstance(document, Mapping):
        raise TypeError(f"a workflow is a mapping, not {type(document).__name__}")
    doc = dict(document)
    if on_error is not None:
        doc["on_error"] = on_error
    _, info = client.request("POST", "/v1/workflows", _json(doc))
    return Workflow(client, str(info["id"]))


def workflow(client: Client, workflow_id: str) -> Workflow:
    """A handle on a workflow submitted earlier (by any producer)."""
    return Workflow(client, workflow_id)


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
