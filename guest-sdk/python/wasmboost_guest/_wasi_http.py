"""One HTTP exchange through the standard ``wasi:http/outgoing-handler`` import (only imported
inside a component, by ``_component``). Blocking: the task waits on the response's pollable,
the host sends the request itself and checks it against the queue's ``grants.http``.

Each refusal or failure is a ``wasi:http`` error code; it becomes ``HttpError`` with the code's
name (``HTTP-request-denied`` for a destination the grants do not allow).
"""

from __future__ import annotations

import urllib.parse
from typing import List, Optional, Tuple

import componentize_py_types
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as wt

from .http import HttpError

#: Bytes asked for per read of the response body.
READ_CHUNK = 64 * 1024

_METHODS = {
    "GET": wt.Method_Get(),
    "HEAD": wt.Method_Head(),
    "POST": wt.Method_Post(),
    "PUT": wt.Method_Put(),
    "DELETE": wt.Method_Delete(),
    "PATCH": wt.Method_Patch(),
    "OPTIONS": wt.Method_Options(),
}


def _code_name(code: object) -> str:
    """``ErrorCode_HttpRequestDenied`` -> ``HTTP-request-denied`` (the WIT case name)."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    words, word = [], ""
    for ch in name:
        if ch.isupper() and word:
            words.append(word)
            word = ""
        word += ch
    words.append(word)
    text = "-".join(w.lower() for w in words)
    return text.replace("http-", "HTTP-", 1) if text.startswith("http-") else text


def _error(code: object, url: str) -> HttpError:
    detail = getattr(code, "value", None)
    name = _code_name(code)
    why = f" ({detail})" if isinstance(detail, str) and detail else ""
    return HttpError(name, f"{name}{why}: {url}")


def send(
    method: str, url: str, headers: List[Tuple[str, bytes]], body: Optional[bytes]
) -> Tuple[int, List[Tuple[str, bytes]], bytes]:
    """Send one request; the status, the response headers and the whole body."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    verb = _METHODS.get(method.upper()) or wt.Method_Other(method.upper())
    request = wt.OutgoingRequest(wt.Fields.from_list(headers))
    request.set_method(verb)
    request.set_scheme(wt.Scheme_Https() if parts.scheme == "https" else wt.Scheme_Http())
    request.set_authority(parts.netloc)
    path = parts.path or "/"
    request.set_path_with_query(f"{path}?{parts.query}" if parts.query else path)
    outgoing = request.body()
    try:
        future = outgoing_handler.handle(request, None)
    except componentize_py_types.Err as err:
        raise _error(err.value, url) from None
    if body:
        stream = outgoing.write()
        for at in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[at : at + 4096])
        stream.__exit__(None, None, None)
    wt.OutgoingBody.finish(outgoing, None)
    response = _wait(future, url)
    return response.status(), response.headers().entries(), _read_all(response)


def _wait(future: wt.FutureIncomingResponse, url: str) -> wt.IncomingResponse:
    while True:
        ready = future.get()
        if ready is None:
            future.subscribe().block()
            continue
        if isinstance(ready, componentize_py_types.Err):
            raise HttpError("internal-error", f"the response was taken already: {url}")
        inner = ready.value
        if isinstance(inner, componentize_py_types.Err):
            raise _error(inner.value, url)
        return inner.value


def _read_all(response: wt.IncomingResponse) -> bytes:
    incoming = response.consume()
    stream = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(READ_CHUNK))
        except componentize_py_types.Err as err:
            if isinstance(err.value, streams.StreamError_Closed):
                break
            raise HttpError("HTTP-response-incomplete", "the response body failed") from None
    return b"".join(chunks)
