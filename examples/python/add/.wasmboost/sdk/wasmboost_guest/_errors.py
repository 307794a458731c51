"""Exceptions a task raises to choose how its message is settled."""

from __future__ import annotations


class Retry(Exception):
    """Run the message again later.

    ``delay`` is in seconds (like funboost and Celery's ``countdown``); when it is ``None`` the
    queue's backoff policy decides. The queue's ``max-retries`` still applies: after the last
    attempt the message is dead-lettered.
    """

    def __init__(self, reason: str = "retry requested", *, delay: float | None = None) -> None:
        if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
            raise ValueError(f"Retry delay must be a non-negative number of seconds, got {delay!r}")
        super().__init__(reason)
        self.reason = str(reason)
        self.delay = delay

    @property
    def delay_ms(self) -> int | None:
        """The delay in whole milliseconds, as the host wants it."""
        return None if self.delay is None else int(round(self.delay * 1000))


class DeadLetter(Exception):
    """Give up now: move the message to the queue's dead-letter queue with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = str(reason)


class Fail(Exception):
    """Fail without retrying, with ``reason`` and no traceback."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = str(reason)


class ArgumentError(Exception):
    """The message does not match the task's signature (missing, unknown or mistyped argument)."""
