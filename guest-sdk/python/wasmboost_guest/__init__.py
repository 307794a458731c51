"""wasmboost guest SDK for Python: write a task as a plain function.

```python
from wasmboost_guest import task

@task
def add(x: int, y: int) -> int:
    return x + y
```

Modules:

- ``_task``: ``@task``, the one-task registry and message -> keyword-argument binding.
- ``_types``: checks of JSON values against basic type hints.
- ``_errors``: ``Retry``, ``DeadLetter``, ``Fail`` (how a task chooses its settlement).
- ``_context``: ``context`` (task id, queue, attempt, publish time, deadline).
- ``_dispatch``: runs the task on a message and turns the result or exception into an outcome.
- ``_logging``: routes ``logging`` to the host's log capture.
- ``kv``, ``config``, ``publish`` (``_publish``), ``http``: what the queue's grants allow
  (contract ``wasmboost:task@0.2.0``; ``http`` over ``wasi:http``, sent by ``_wasi_http``);
  ``_host``: their seam to the host's imports and ``GrantError``.
- ``_component``: the componentize-py entry point (imports the user's ``app`` module and
  exports the WIT ``handle``); only imported when building a component.
"""

from . import config, http, kv
from ._context import TaskContext, context
from ._errors import DeadLetter, Fail, Retry
from ._host import GrantError
from ._publish import publish
from ._task import Task, task

__all__ = [
    "task",
    "Task",
    "Retry",
    "DeadLetter",
    "Fail",
    "context",
    "TaskContext",
    "GrantError",
    "kv",
    "config",
    "publish",
    "http",
]
__version__ = "0.1.0"
