"""Run the task on one message and turn whatever happens into an outcome.

Kept free of the generated WIT bindings so it runs (and is unit-tested) on ordinary CPython;
``_component`` maps the outcomes onto the WIT ``result<string, task-error>``.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from typing import Union

from ._context import TaskContext, context
from ._errors import ArgumentError, DeadLetter, Fail, Retry
from ._task import Task

#: Longest fail reason sent to the host; the host stores it with the task's status.
MAX_REASON_CHARS = 4096
#: Longest exception message kept in the first line of a fail reason.
MAX_MESSAGE_CHARS = 1024


@dataclass(frozen=True)
class Done:
    result: str


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Retried:
    reason: str
    delay_ms: int | None


@dataclass(frozen=True)
class DeadLettered:
    reason: str


Outcome = Union[Done, Failed, Retried, DeadLettered]


def run(task: Task, ctx: TaskContext, payload: str) -> Outcome:
    """Bind the payload, call the task, serialise its result; never raises."""
    context._set(ctx)
    try:
        try:
            kwargs = task.bind(payload)
        except ArgumentError as err:
            return Failed(str(err))
        try:
            value = task.func(**kwargs)
        except BaseException as err:  # noqa: BLE001 - every exception becomes an outcome
            return _from_exception(err)
        return _serialise(value)
    finally:
        context._set(None)
        _flush_stdio()


def _serialise(value: object) -> Outcome:
    try:
        return Done(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError) as err:
        return Failed(f"return value is not JSON-serialisable: {err}")


def _from_exception(err: BaseException) -> Outcome:
    if isinstance(err, Retry):
        return Retried(err.reason, err.delay_ms)
    if isinstance(err, DeadLetter):
        return DeadLettered(err.reason)
    if isinstance(err, Fail):
        return Failed(err.reason)
    return Failed(describe_exception(err))


def describe_exception(err: BaseException) -> str:
    """``Type: message`` then the traceback, innermost frames kept when it is too long."""
    message = str(err)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    head = f"{type(err).__name__}: {message}" if message else type(err).__name__
    # Skip the dispatcher's own frame: the traceback starts in the user's code.
    tb = err.__traceback__.tb_next if err.__traceback__ is not None else None
    try:
        lines = traceback.format_exception(type(err), err, tb, limit=-20, chain=False)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        lines = []
    body = "".join(lines[:-1]) if lines else ""
    room = MAX_REASON_CHARS - len(head) - 1
    if len(body) > room:
        body = "...\n" + body[-(room - 4) :] if room > 4 else ""
    return f"{head}\n{body}".rstrip("\n")


def _flush_stdio() -> None:
    # The instance is dropped right after the call: flush what print() buffered so the host's
    # capture gets it.
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream cannot lose us the outcome
            pass
