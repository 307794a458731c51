"""The blocking client: `Client` (server + token, one keep-alive connection per thread),
`Queue` (publish, publish_many and the Celery / funboost aliases) and `TaskHandle` (status,
result)."""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .errors import ConnectionFailed, NotFound, ResultTimeout, TaskFailed, from_response

DEFAULT_SERVER = "http://127.0.0.1:7878"
#: The host caps one result wait at 300 s; longer timeouts wait again.
MAX_WAIT_MS = 300_000
#: Messages per batch request in `publish_many` (the host caps a batch body at 64 MiB).
DEFAULT_CHUNK = 10_000
#: Batch requests `publish_many` keeps in flight: the next chunks are encoded and sent while the
#: host stores the previous one (measured: `scripts/bench-client.sh`).
DEFAULT_IN_FLIGHT = 3
#: Task states after which nothing more happens (as the host's `TaskState::is_terminal`).
TERMINAL_STATES = frozenset(
    {"succeeded", "failed", "dead_lettered", "expired", "skipped_duplicate", "cancelled"}
)
#: Keyword names `publish(**kwargs)` takes as options, not as task arguments.
OPTION_NAMES = ("countdown", "eta", "priority", "task_id")

Countdown = float | int | str | _dt.timedelta
Eta = _dt.datetime | str


class Client:
    """A wasmboost host's HTTP API. `server` and `token` default to `WASMBOOST_SERVER` and
    `WASMBOOST_TOKEN` (then `http://127.0.0.1:7878` and no token). Safe to share between
    threads (each thread keeps its own connection)."""

    def __init__(
        self, server: str | None = None, token: str | None = None, timeout: float = 60.0
    ) -> None:
        server = server or os.environ.get("WASMBOOST_SERVER") or DEFAULT_SERVER
        url = urllib.parse.urlsplit(server if "://" in server else f"http://{server}")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"invalid server {server!r}: use http://host:port or https://host:port")
        self.server = f"{url.scheme}://{url.netloc}"
        self._https = url.scheme == "https"
        self._netloc = url.netloc
        self.token = token if token is not None else os.environ.get("WASMBOOST_TOKEN")
        self.timeout = timeout
        self._local = threading.local()
        # Every thread's connection, so `close()` can close them all.
        self._conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def queue(self, name: str, params: Sequence[str] | None = None) -> Queue:
        """The queue `name`; `params` are its task's parameter names, in order, for `push(1, 2)`."""
        return Queue(self, name, params)

    def task(self, task_id: str) -> TaskHandle:
        """A handle on a task published earlier (by any producer)."""
        return TaskHandle(self, task_id)

    def close(self) -> None:
        """Close every connection of this client (a later request opens a new one)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def _drop(self) -> None:
        """Close this thread's connection after an error or a `Connection: close`."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock:
                if conn in self._conns:
                    self._conns.remove(conn)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport ----

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._netloc, timeout=self.timeout)
        self._local.conn = conn
        with self._lock:
            self._conns.append(conn)
        return conn, False

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """One API request; the status and the decoded JSON answer. Raises the typed error of
        an error answer."""
        headers = {"Accept": "application/json"}
        if method != "GET":
            # The host refuses state-changing requests without a JSON media type.
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(2):
            conn, reused = self._connection()
            conn.timeout = timeout or self.timeout
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, path, body=body if method != "GET" else None, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as err:
                self._drop()
                # The host closed an idle keep-alive connection before reading this request:
                # nothing was processed, so sending it once more on a new connection is safe.
                if reused and attempt == 0:
                    continue
                raise ConnectionFailed(0, "connection", f"{self.server}: {err}") from err
            except OSError as err:
                self._drop()
                raise ConnectionFailed(0, "connection", f"{self.server}: {err}") from err
            if response.getheader("Connection", "").lower() == "close":
                self._drop()
            if response.status >= 400:
                raise from_response(response.status, data)
            return response.status, json.loads(data) if data else None
        raise AssertionError("unreachable: the loop returns or raises")


def _countdown_text(countdown: Countdown) -> str:
    if isinstance(countdown, _dt.timedelta):
        countdown = countdown.total_seconds()
    if isinstance(countdown, bool):
        raise TypeError("countdown must be seconds, a duration string or a timedelta")
    if isinstance(countdown, (int, float)):
        if countdown < 0:
            raise ValueError(f"countdown {countdown} is negative")
        return f"{round(countdown * 1000)}ms"
    return countdown


def _eta_text(eta: Eta) -> str:
    if isinstance(eta, _dt.datetime):
        if eta.tzinfo is None:
            raise ValueError("eta must be timezone-aware (a naive datetime is ambiguous)")
        return eta.isoformat()
    return eta


def _query(
    countdown: Countdown | None = None,
    eta: Eta | None = None,
    priority: int | None = None,
    task_id: str | None = None,
    wait_ms: int | None = None,
) -> str:
    pairs: list[tuple[str, str]] = []
    if countdown is not None:
        pairs.append(("countdown", _countdown_text(countdown)))
    if eta is not None:
        pairs.append(("eta", _eta_text(eta)))
    if priority is not None:
        pairs.append(("priority", str(int(priority))))
    if task_id is not None:
        pairs.append(("task_id", task_id))
    if wait_ms is not None:
        pairs.append(("wait", str(wait_ms)))
    return f"?{urllib.parse.urlencode(pairs)}" if pairs else ""


#: One encoder for every message: `json.dumps` builds a new one per call with these options.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _body(message: Mapping[str, Any]) -> bytes:
    # A plain dict skips the slower ABC check.
    if type(message) is not dict and not isinstance(message, Mapping):
        raise TypeError(f"a message is a mapping of argument names to values, not {type(message).__name__}")
    return _encode(message).encode()


class Queue:
    """Publishing to one queue."""

    def __init__(self, client: Client, name: str, params: Sequence[str] | None = None) -> None:
        self.client = client
        self.name = name
        self.params = tuple(params) if params is not None else None
        self._path = f"/v1/queues/{urllib.parse.quote(name, safe='')}"

    def publish(
        self,
        countdown: Countdown | None = None,
        eta: Eta | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        **kwargs: Any,
    ) -> TaskHandle:
        """Publish `kwargs` as the task's keyword arguments. `countdown` (seconds, `"250ms"`,
        a timedelta), `eta` (aware datetime or RFC 3339), `priority` (0..9) and `task_id` are
        options; a task with a parameter of one of those names uses `publish_message`."""
        return self.publish_message(
            kwargs, countdown=countdown, eta=eta, priority=priority, task_id=task_id
        )

    def publish_message(
        self,
        message: Mapping[str, Any],
        *,
        countdown: Countdown | None = None,
        eta: Eta | None = None,
        priority: int | None = None,
        task_id: str | None = None,
    ) -> TaskHandle:
        """Publish one message (a mapping: the task's keyword arguments, optionally `extra`)."""
        query = _query(countdown, eta, priority, task_id)
        _, answer = self.client.request("POST", f"{self._path}/messages{query}", _body(message))
        return TaskHandle(self.client, answer["task_id"])

    def publish_many(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        countdown: Countdown | None = None,
        eta: Eta | None = None,
        priority: int | None = None,
        chunk: int = DEFAULT_CHUNK,
        in_flight: int = DEFAULT_IN_FLIGHT,
    ) -> list[TaskHandle]:
        """Publish many messages through the batch route, `chunk` per request (each request
        is all or nothing), up to `in_flight` requests at once; the handles in order. On an
        error the first one is raised once the requests in flight have ended: the chunks
        before it were published, later ones may have been."""
        if chunk < 1:
            raise ValueError(f"chunk {chunk} must be at least 1")
        if in_flight < 1:
            raise ValueError(f"in_flight {in_flight} must be at least 1")
        path = f"{self._path}/messages:batch{_query(countdown, eta, priority)}"

        def send(body: bytes) -> list[str]:
            _, answer = self.client.request("POST", path, body, "application/x-ndjson")
            return list(answer["task_ids"])

        sent: list[Future[list[str]]] = []
        with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="wasmboost-publish") as pool:
            lines: list[bytes] = []
            for message in messages:
                lines.append(_body(message))
                if len(lines) == chunk:
                    # Wait for a free slot first, so at most `in_flight` bodies are held.
                    if len(sent) >= in_flight:
                        sent[-in_flight].result()
                    sent.append(pool.submit(send, b"\n".join(lines) + b"\n"))
                    lines = []
            if lines:
                sent.append(pool.submit(send, b"\n".join(lines) + b"\n"))
        client = self.client
        return [TaskHandle(client, i) for f in sent for i in f.result()]

    def call(self, timeout: float = 30.0, **kwargs: Any) -> Any:
        """Publish and wait for the result in one request (RPC); the result value."""
        wait_ms = min(MAX_WAIT_MS, max(1, round(timeout * 1000)))
        path = f"{self._path}/messages{_query(wait_ms=wait_ms)}"
        _, answer = self.client.request("POST", path, _body(kwargs), timeout=timeout + 30)
        handle = TaskHandle(self.client, answer["task_id"])
        if answer.get("state") in TERMINAL_STATES:
            return handle._value(answer)
        return handle.result(timeout=timeout)

    # ---- funboost and Celery spellings ----

    def _kwargs(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if not args:
            return dict(kwargs)
        if self.params is None:
            raise TypeError(
                f"queue {self.name!r}: positional arguments need the task's parameter names: "
                f"client.queue({self.name!r}, params=['x', 'y'])"
            )
        if len(args) > len(self.params):
            raise TypeError(f"queue {self.name!r} takes {len(self.params)} arguments, got {len(args)}")
        named = dict(zip(self.params, args))
        clash = named.keys() & kwargs.keys()
        if clash:
            raise TypeError(f"argument {sorted(clash)[0]!r} given twice")
        return {**named, **kwargs}

    def push(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """funboost's `push(1, 2)`: positional arguments by the queue's `params`, no options."""
        return self.publish_message(self._kwargs(args, kwargs))

    def delay(self, *args: Any, **kwargs: Any) -> TaskHandle:
        """Celery's `delay(...)`: as `push`."""
        return self.push(*args, **kwargs)

    def apply_async(
        self,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        countdown: Countdown | None = None,
        eta: Eta | None = None,
        priority: int | None = None,
        task_id: str | None = None,
    ) -> TaskHandle:
        """Celery's `apply_async(args, kwargs, countdown=, eta=, priority=, task_id=)`."""
        return self.publish_message(
            self._kwargs(tuple(args), kwargs or {}),
            countdown=countdown,
            eta=eta,
            priority=priority,
            task_id=task_id,
        )


class TaskHandle:
    """One published task."""

    __slots__ = ("client", "id")

    def __init__(self, client: Client, task_id: str) -> None:
        self.client = client
        self.id = task_id

    @property
    def _path(self) -> str:
        # Built when used: `publish_many` makes a handle per message and most are never asked.
        return f"/v1/tasks/{urllib.parse.quote(self.id, safe='')}"

    def __repr__(self) -> str:
        return f"TaskHandle({self.id!r})"

    def status(self) -> dict[str, Any]:
        """The task's record now: `state`, `attempts`, `result`, `error`, timings, fuel, memory."""
        _, record = self.client.request("GET", self._path)
        return dict(record)

    @property
    def state(self) -> str:
        return str(self.status()["state"])

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the task to end; its result. Raises `TaskFailed` if it ended otherwise and
        `ResultTimeout` if it has not ended within `timeout` seconds (None: wait forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = MAX_WAIT_MS if deadline is None else round((deadline - time.monotonic()) * 1000)
            wait_ms = max(0, min(MAX_WAIT_MS, left))
            try:
                _, record = self.client.request(
                    "GET", f"{self._path}/result?wait={wait_ms}", timeout=wait_ms / 1000 + 30
                )
            except NotFound:
                # Not recorded yet (a producer that skipped the API); look again shortly.
                record = {}
                time.sleep(0.02)
            if record.get("state") in TERMINAL_STATES:
                return self._value(record)
            if deadline is not None and time.monotonic() >= deadline:
                raise ResultTimeout(
                    0, "timeout", f"task {self.id} not finished after {timeout} s (state {record.get('state')})"
                )

    def _value(self, record: dict[str, Any]) -> Any:
        if record["state"] != "succeeded":
            raise TaskFailed(record)
        return record.get("result")
