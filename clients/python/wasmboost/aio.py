"""asyncio variants: `AsyncClient`, `AsyncQueue`, `AsyncTaskHandle`. Each call runs the blocking
client in a worker thread (`asyncio.to_thread`), so an event loop is never blocked; each thread
keeps its own keep-alive connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .client import Client, Countdown, Eta, Queue, TaskHandle


class AsyncTaskHandle:
    """One published task, awaited."""

    def __init__(self, handle: TaskHandle) -> None:
        self.handle = handle
        self.id = handle.id

    def __repr__(self) -> str:
        return f"AsyncTaskHandle({self.id!r})"

    async def status(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.handle.status)

    async def result(self, timeout: float | None = None) -> Any:
        return await asyncio.to_thread(self.handle.result, timeout)


class AsyncQueue:
    """Publishing to one queue, awaited."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def publish(
        self,
        countdown: Countdown | None = None,
        eta: Eta | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        **kwargs: Any,
    ) -> AsyncTaskHandle:
        handle = await asyncio.to_thread(
            self.queue.publish_message,
            kwargs,
            countdown=countdown,
            eta=eta,
            priority=priority,
            task_id=task_id,
        )
        return AsyncTaskHandle(handle)

    async def publish_many(
        self, messages: Iterable[Mapping[str, Any]], **options: Any
    ) -> list[AsyncTaskHandle]:
        handles = await asyncio.to_thread(self.queue.publish_many, messages, **options)
        return [AsyncTaskHandle(h) for h in handles]

    async def push(self, *args: Any, **kwargs: Any) -> AsyncTaskHandle:
        return AsyncTaskHandle(await asyncio.to_thread(self.queue.push, *args, **kwargs))

    async def call(self, timeout: float = 30.0, **kwargs: Any) -> Any:
        return await asyncio.to_thread(lambda: self.queue.call(timeout, **kwargs))


class AsyncClient:
    """`Client` for asyncio code: same arguments and environment variables."""

    def __init__(
        self, server: str | None = None, token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.client = Client(server, token, timeout)

    def queue(self, name: str, params: Sequence[str] | None = None) -> AsyncQueue:
        return AsyncQueue(self.client.queue(name, params))

    def task(self, task_id: str) -> AsyncTaskHandle:
        return AsyncTaskHandle(self.client.task(task_id))

    def close(self) -> None:
        self.client.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
