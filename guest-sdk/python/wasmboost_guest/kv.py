"""The queue's key-value namespace in the host's state store (``grants.kv = true``).

Shared by every task of the queue on every host using the same store, never by another queue.
Values are bytes (a ``str`` is stored as UTF-8). Every call raises :class:`GrantError` when the
queue has no kv grant (``denied``), a write would pass the queue's quota (``quota``), or an
increment meets a value that is not an integer (``invalid``).

```python
from wasmboost_guest import kv

pages = kv.incr("pages")
if kv.compare_and_swap("seen:/about", None, b"1"):
    ...  # the first task to see /about
kv.set("token", "abc", ttl=60)
```
"""

from __future__ import annotations

from typing import Optional, Union

from ._host import host, millis, to_bytes

Value = Union[bytes, str]


def get(key: str) -> Optional[bytes]:
    """The value under ``key``, or ``None`` when absent (or expired)."""
    return host().kv_get(key)


def set(key: str, value: Value, ttl: Optional[float] = None) -> None:  # noqa: A001 - the API's word
    """Store ``value`` under ``key``; it expires after ``ttl`` seconds when given."""
    host().kv_set(key, to_bytes(value, "a kv value"), millis(ttl, "ttl"))


def delete(key: str) -> bool:
    """Remove ``key``; whether it existed."""
    return host().kv_delete(key)


def incr(key: str, delta: int = 1) -> int:
    """Add ``delta`` to the integer under ``key`` (absent counts as 0), atomically; the new value."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"delta must be an int, got {type(delta).__name__}")
    return host().kv_increment(key, delta)


def compare_and_swap(key: str, expected: Optional[Value], value: Value) -> bool:
    """Store ``value`` only if the current value is ``expected`` (``None``: only if absent),
    atomically; whether it was stored."""
    old = None if expected is None else to_bytes(expected, "the expected value")
    return host().kv_compare_and_swap(key, old, to_bytes(value, "a kv value"))
