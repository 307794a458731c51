"""Outbound HTTP to the destinations the queue grants (``grants.http``), blocking.

```python
from wasmboost_guest import http

page = http.get("https://example.org/").text()
reply = http.post_json("https://api.example.org/v1/items", {"name": "x"},
                       headers={"Authorization": f"Bearer {key}"}).json()
```

Requests go through the standard ``wasi:http/outgoing-handler`` import: the host sends them,
resolves the name once, refuses loopback, private and metadata addresses unless the allow-list
names them, and caps the request count, response bytes and time per task. A refusal or a
failure raises :class:`HttpError` (``code`` is the ``wasi:http`` error code's name, e.g.
``HTTP-request-denied``); a response with any status is returned, not raised, unless
:meth:`Response.raise_for_status` is called.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ._host import host


class HttpError(Exception):
    """A request that did not get a response: refused by the queue's grants, or failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def denied(self) -> bool:
        """Whether the queue's grants refused the destination (or its address)."""
        return self.code in ("HTTP-request-denied", "destination-IP-prohibited")


class Response:
    """A response: ``status``, ``headers`` (lower-case names, the last value of each) and
    ``body`` (bytes)."""

    def __init__(self, status: int, headers: List[Tuple[str, bytes]], body: bytes) -> None:
        self.status = status
        self.headers: Dict[str, str] = {
            name.lower(): value.decode("latin-1") for name, value in headers
        }
        self.body = body

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> "Response":
        """This response, or :class:`HttpError` (``status-<n>``) when the status is 400 or more."""
        if self.status >= 400:
            raise HttpError(f"status-{self.status}", f"HTTP status {self.status}")
        return self

    def __repr__(self) -> str:
        return f"<Response {self.status}, {len(self.body)} bytes>"


def _header_list(headers: Optional[Mapping[str, str]]) -> List[Tuple[str, bytes]]:
    return [(k, str(v).encode("latin-1")) for k, v in (headers or {}).items()]


def request(
    method: str,
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    body: Optional[bytes] = None,
) -> Response:
    """Send ``method url`` with ``headers`` and ``body``; the response."""
    status, got, data = host().http_request(method, url, _header_list(headers), body)
    return Response(status, got, data)


def get(url: str, headers: Optional[Mapping[str, str]] = None) -> Response:
    return request("GET", url, headers)


def post_json(url: str, value: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    """POST ``value`` as JSON (``content-type: application/json``)."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return request("POST", url, all_headers, json.dumps(value).encode("utf-8"))
