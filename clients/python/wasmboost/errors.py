"""Typed errors mirroring the host API's error codes (`{"error": {"code", "message"}}`)."""

from __future__ import annotations

from typing import Any


class WasmboostError(Exception):
    """The host refused a request, or could not be reached (status 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message


class BadRequest(WasmboostError):
    """400: a bad queue name, task id, option or body; the message names it."""


class Unauthorized(WasmboostError):
    """401: no token, or an unknown, revoked or expired one."""


class Forbidden(WasmboostError):
    """403: the token lacks the scope (or the queue) for this request."""


class NotFound(WasmboostError):
    """404: no such task, queue or route."""


class PayloadTooLarge(WasmboostError):
    """413: the message is over the host's `host.max_message_bytes`."""


class ServerError(WasmboostError):
    """5xx: the host or its broker failed; the request may be retried."""


class ConnectionFailed(WasmboostError):
    """The host could not be reached (no HTTP status)."""


class ResultTimeout(WasmboostError, TimeoutError):
    """The task did not finish within the timeout given to `result()`."""


class TaskFailed(WasmboostError):
    """The task ended without a result: failed, dead-lettered, expired or a skipped duplicate."""

    def __init__(self, record: dict[str, Any]) -> None:
        state = str(record.get("state"))
        error = record.get("error") or state
        super().__init__(200, state, f"task {record.get('task_id')} {state}: {error}")
        self.record = record
        self.state = state
        self.error = record.get("error")


_BY_STATUS: dict[int, type[WasmboostError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
}


def from_response(status: int, body: bytes) -> WasmboostError:
    """The typed error for an error answer of the host."""
    import json

    code, message = "error", body.decode("utf-8", "replace")[:1024]
    try:
        detail = json.loads(body)["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except (ValueError, KeyError, TypeError):
        pass
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else WasmboostError)
    return kind(status, code, message)
