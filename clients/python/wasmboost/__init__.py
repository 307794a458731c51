"""wasmboost producer client: publish tasks to a wasmboost host and get their results.

    from wasmboost import Client
    add = Client("http://127.0.0.1:7878", token="wbt_...").queue("add")
    assert add.publish(x=1, y=2).result(timeout=5) == 3

Modules: `client` (Client, Queue, TaskHandle), `aio` (the asyncio variants), `errors` (typed
errors mirroring the API's error codes). The standard library only.
"""

from .aio import AsyncClient, AsyncQueue, AsyncTaskHandle
from .client import Client, Queue, TaskHandle
from .errors import (
    BadRequest,
    ConnectionFailed,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ResultTimeout,
    ServerError,
    TaskFailed,
    Unauthorized,
    WasmboostError,
)
from .workflow import Workflow as Workflow, WorkflowFailed as WorkflowFailed

__all__ = [
    "AsyncClient",
    "AsyncQueue",
    "AsyncTaskHandle",
    "BadRequest",
    "Client",
    "ConnectionFailed",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Queue",
    "ResultTimeout",
    "ServerError",
    "TaskFailed",
    "TaskHandle",
    "Unauthorized",
    "WasmboostError",
]
