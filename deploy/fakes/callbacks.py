"""Status callbacks posted later by a few posters, not by a task each.

A burst hands the fake Twilio thousands of messages a second, each owing a callback a
moment later. A sleeping task per callback held a coroutine each (hundreds of megabytes at
200,000) and made every one wait for the client's pool inside its own 10 s timeout, so
callbacks were lost whenever the receiving API fell behind. Here a callback is a small
tuple in a heap ordered by when it is due; a scheduler hands due ones to a fixed number of
posters, and a post's timeout counts only once it is actually sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

# (due on the monotonic clock, order of arrival, URL, encoded form, headers)
Due = tuple[float, int, str, bytes, dict[str, str]]
Outcome = Callable[[str], None]  # counts "callbacks_ok", "callbacks_refused", ...


class DelayedPoster:
    def __init__(self, client: aiohttp.ClientSession, posters: int, count: Outcome) -> None:
        self.client = client
        self.posters = posters
        self.count = count
        self.heap: list[Due] = []
        self.order = itertools.count()
        self.arrived = asyncio.Event()
        self.ready: asyncio.Queue[Due] = asyncio.Queue(maxsize=posters * 4)
        self.tasks: list[asyncio.Task[None]] = []

    def later(self, delay_s: float, url: str, form: bytes, headers: dict[str, str]) -> None:
        due = time.monotonic() + delay_s
        heapq.heappush(self.heap, (due, next(self.order), url, form, headers))
        self.arrived.set()

    def pending(self) -> int:
        return len(self.heap) + self.ready.qsize()

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._schedule())]
        self.tasks += [asyncio.create_task(self._post()) for _ in range(self.posters)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _schedule(self) -> None:
        while True:
            if not self.heap:
                self.arrived.clear()
                await self.arrived.wait()
                continue
            wait = self.heap[0][0] - time.monotonic()
            if wait > 0:
                # A later arrival can be due sooner (another status of an earlier message).
                self.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.arrived.wait(), timeout=wait)
                continue
            await self.ready.put(heapq.heappop(self.heap))  # waits while posters are busy

    async def _post(self) -> None:
        while True:
            _due, _order, url, form, headers = await self.ready.get()
            try:
                async with self.client.post(url, data=form, headers=headers) as response:
                    await response.read()
                    self.count("callbacks_ok" if response.status < 300 else "callbacks_refused")
            except (aiohttp.ClientError, TimeoutError):
                self.count("callbacks_failed")


POSTER: web.AppKey[DelayedPoster] = web.AppKey("callback_poster")


def poster_lifecycle(
    posters: int, count: Outcome
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context giving the app its poster, with a client of `posters` connections."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=posters),
            timeout=aiohttp.ClientTimeout(total=10),
        )
        poster = DelayedPoster(client, posters, count)
        app[POSTER] = poster
        poster.start()
        yield
        await poster.stop()
        await client.close()

    return lifecycle
