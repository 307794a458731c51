"""The invocation context a task reads with ``from wasmboost_guest import context``."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskContext:
    """What the host says about the invocation in progress."""

    task_id: str
    queue: str
    #: 1-based; retries count, requeues do not.
    attempt: int
    #: When the message was first published, in milliseconds since the Unix epoch (UTC).
    publish_time_ms: int
    #: When the host will stop this invocation, in milliseconds since the Unix epoch (UTC).
    deadline_ms: int

    @property
    def deadline(self) -> datetime.datetime:
        """The deadline as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(self.deadline_ms / 1000, tz=datetime.timezone.utc)

    @property
    def publish_time(self) -> datetime.datetime:
        """The publish time as an aware UTC datetime."""
        return datetime.datetime.fromtimestamp(
            self.publish_time_ms / 1000, tz=datetime.timezone.utc
        )


class _ContextProxy:
    """Module-level stand-in for the current :class:`TaskContext`.

    Each message runs in a fresh instance, so the context set here never outlives its message.
    """

    __slots__ = ("_current",)

    def __init__(self) -> None:
        self._current: TaskContext | None = None

    def _set(self, ctx: TaskContext | None) -> None:
        self._current = ctx

    def __getattr__(self, name: str):
        current = self._current
        if current is None:
            raise RuntimeError(
                f"wasmboost_guest.context.{name} is only available while a task is running"
            )
        return getattr(current, name)

    def __repr__(self) -> str:
        return f"context({self._current!r})"


context = _ContextProxy()
