"""The seam between the grant modules (``kv``, ``config``, ``publish``) and the host's imports.

Inside a component ``_component`` installs a :class:`Host` that calls the WIT imports of
``wasmboost:task@0.2.0``; on plain CPython (unit tests, an IDE) nothing is installed and every
call raises ``RuntimeError``, or a test installs a double with :func:`install`.
"""

from __future__ import annotations

from typing import List, Optional, Protocol, Tuple


class GrantError(Exception):
    """A call the queue's grants did not allow, or could not complete.

    ``kind`` is one of ``"denied"`` (not granted: nothing is granted by default), ``"quota"``
    (past a quota of the grant), ``"invalid"`` (an argument was refused) or ``"unavailable"``
    (the host's store could not be reached; trying again later may work). The message never
    holds a secret value.
    """

    KINDS = ("denied", "quota", "invalid", "unavailable")

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown grant error kind {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    @property
    def denied(self) -> bool:
        """Whether the queue's grants refused the call."""
        return self.kind == "denied"


class Host(Protocol):
    """What the grant modules need from the host; each method raises :class:`GrantError`."""

    def kv_get(self, key: str) -> Optional[bytes]: ...
    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None: ...
    def kv_delete(self, key: str) -> bool: ...
    def kv_increment(self, key: str, delta: int) -> int: ...
    def kv_compare_and_swap(self, key: str, expected: Optional[bytes], value: bytes) -> bool: ...
    def publish(
        self,
        queue: str,
        payload: str,
        countdown_ms: Optional[int],
        priority: Optional[int],
        task_id: Optional[str],
    ) -> str: ...
    def config_get(self, name: str) -> str: ...
    def config_secret(self, name: str) -> str: ...
    def http_request(
        self, method: str, url: str, headers: List[Tuple[str, bytes]], body: Optional[bytes]
    ) -> Tuple[int, List[Tuple[str, bytes]], bytes]: ...


_HOST: Optional[Host] = None


def install(host: Optional[Host]) -> None:
    """Route the grant modules to ``host`` (``None``: back to "outside a component")."""
    global _HOST
    _HOST = host


def host() -> Host:
    """The installed host, or ``RuntimeError`` outside a component."""
    if _HOST is None:
        raise RuntimeError(
            "wasmboost_guest: kv, publish, config and http reach the host only inside a running task"
        )
    return _HOST


def to_bytes(value, what: str) -> bytes:
    """``bytes`` as they are, ``str`` as UTF-8; anything else is a ``TypeError`` naming ``what``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be bytes or str, got {type(value).__name__}")


def millis(seconds, what: str) -> Optional[int]:
    """Seconds (int or float, not negative) as whole milliseconds; ``None`` stays ``None``."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"{what} must be a non-negative number of seconds, got {seconds!r}")
    return int(round(seconds * 1000))
