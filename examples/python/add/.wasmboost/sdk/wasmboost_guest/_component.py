"""The componentize-py application module: exports the WIT ``handle`` for the user's task.

componentize-py pre-initialises the component by importing this module at build time, so the
user's ``app`` module, the task registry and the argument checkers are all in the snapshot: a
fresh instance starts with them ready. A module with no ``@task`` or several fails here, which
fails the build with the message from ``_task.the_task``.
"""

from __future__ import annotations

import gc

import componentize_py_types
import wit_world
from wit_world.imports import log as wit_log
from wit_world.imports import types as wit_types

from . import _dispatch, _logging
from ._context import TaskContext
from ._task import the_task

_LEVELS = list(wit_log.Level)

_logging.install(lambda level, message: wit_log.log(_LEVELS[level], message))

import app  # noqa: E402  - the user's module; must come after logging is routed

TASK = the_task("app")
del app

# Everything allocated so far is in the build-time snapshot and lives as long as the instance:
# move it out of the collector's reach, so a collection during a call never walks (and dirties,
# page by page) the whole snapshot.
gc.collect()
gc.freeze()


def _to_wit(outcome: _dispatch.Outcome) -> str:
    if isinstance(outcome, _dispatch.Done):
        return outcome.result
    if isinstance(outcome, _dispatch.Retried):
        request = wit_types.RetryRequest(outcome.reason, outcome.delay_ms)
        error: wit_types.TaskError = wit_types.TaskError_Retry(request)
    elif isinstance(outcome, _dispatch.DeadLettered):
        error = wit_types.TaskError_DeadLetter(outcome.reason)
    else:
        error = wit_types.TaskError_Fail(outcome.reason)
    raise componentize_py_types.Err(error)


class WitWorld(wit_world.WitWorld):
    def handle(self, ctx: wit_types.Context, payload: str) -> str:
        task_ctx = TaskContext(
            task_id=ctx.task_id,
            queue=ctx.queue,
            attempt=ctx.attempt,
            publish_time_ms=ctx.publish_time_ms,
            deadline_ms=ctx.deadline_ms,
        )
        return _to_wit(_dispatch.run(TASK, task_ctx, payload))
