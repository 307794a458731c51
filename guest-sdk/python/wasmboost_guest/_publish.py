"""``publish``: enqueue a follow-up task on a queue the config allows (``grants.publish_to``)."""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from ._host import host, millis


def publish(
    queue: str,
    args: Mapping[str, Any],
    *,
    countdown: Optional[float] = None,
    priority: Optional[int] = None,
    task_id: Optional[str] = None,
) -> str:
    """Publish ``args`` (the follow-up task's keyword arguments) to ``queue``; the new task's id.

    ``countdown`` delays it by that many seconds, ``priority`` is 0 (lowest) to 9, ``task_id``
    chooses its id (the host makes one when absent). Raises :class:`GrantError` when the queue
    may not publish there (``denied``) or past ``publish_max`` (``quota``).
    """
    if not isinstance(args, Mapping):
        raise TypeError(f"publish args must be a mapping, got {type(args).__name__}")
    if priority is not None and (isinstance(priority, bool) or not 0 <= int(priority) <= 9):
        raise ValueError(f"priority must be 0 to 9, got {priority!r}")
    payload = json.dumps(dict(args), separators=(",", ":"), allow_nan=False)
    return host().publish(queue, payload, millis(countdown, "countdown"), priority, task_id)
