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
from wit_world.imports import config as wit_config
from wit_world.imports import kv as wit_kv
from wit_world.imports import log as wit_log
from wit_world.imports import publish as wit_publish
from wit_world.imports import wasmboost_task_types as wit_types

from . import _dispatch, _host, _logging, _wasi_http
from ._context import TaskContext
from ._task import the_task

_LEVELS = list(wit_log.Level)

_logging.install(lambda level, message: wit_log.log(_LEVELS[level], message))


def _grant_error(err: componentize_py_types.Err) -> _host.GrantError:
    # The variant's class is `GrantError_<Kind>` and carries the host's message as `value`.
    kind = type(err.value).__name__.rpartition("_")[2].lower()
    if kind not in _host.GrantError.KINDS:
        kind = "unavailable"
    return _host.GrantError(kind, str(getattr(err.value, "value", err.value)))


def _call(func, *args):
    try:
        return func(*args)
    except componentize_py_types.Err as err:
        raise _grant_error(err) from None


class _WitHost:
    """The grant modules' host: the 0.2.0 imports, their errors as ``GrantError``."""

    def kv_get(self, key):
        return _call(wit_kv.get, key)

    def kv_set(self, key, value, ttl_ms):
        _call(wit_kv.set, key, value, ttl_ms)

    def kv_delete(self, key):
        return _call(wit_kv.delete, key)

    def kv_increment(self, key, delta):
        return _call(wit_kv.increment, key, delta)

    def kv_compare_and_swap(self, key, expected, value):
        return _call(wit_kv.compare_and_swap, key, expected, value)

    def publish(self, queue, payload, countdown_ms, priority, task_id):
        options = wit_publish.PublishOptions(countdown_ms, priority, task_id)
        return _call(wit_publish.publish, queue, payload, options)

    def config_get(self, name):
        return _call(wit_config.get, name)

    def config_secret(self, name):
        return _call(wit_config.secret, name)

    def http_request(self, method, url, headers, body):
        return _wasi_http.send(method, url, headers, body)


_host.install(_WitHost())

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
