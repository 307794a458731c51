"""Route Python ``logging`` to the host's bounded log capture (the WIT ``log`` import)."""

from __future__ import annotations

import logging
from typing import Callable

#: (level index, message) -> None; level indexes follow the WIT enum: trace..error = 0..4.
Sink = Callable[[int, str], None]

TRACE, DEBUG, INFO, WARN, ERROR = range(5)


def wit_level(levelno: int) -> int:
    """Map a ``logging`` level number onto the WIT ``level`` enum's index."""
    if levelno >= logging.ERROR:
        return ERROR
    if levelno >= logging.WARNING:
        return WARN
    if levelno >= logging.INFO:
        return INFO
    if levelno >= logging.DEBUG:
        return DEBUG
    return TRACE


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.name == "root" else f"[{record.name}] {text}"


class HostLogHandler(logging.Handler):
    """Sends each record to the host as one log line."""

    def __init__(self, sink: Sink) -> None:
        super().__init__(logging.NOTSET)
        self._sink = sink
        self.setFormatter(_Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._sink(wit_level(record.levelno), self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail the task
            self.handleError(record)


def install(sink: Sink) -> None:
    """Make the root logger send INFO and above to ``sink`` (a task may lower or raise it)."""
    root = logging.getLogger()
    root.handlers[:] = [HostLogHandler(sink)]
    root.setLevel(logging.INFO)
    # handleError would print to stderr, which is captured anyway; keep it quiet and bounded.
    logging.raiseExceptions = False
