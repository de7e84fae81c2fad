"""Group commit: concurrent callers share writes, each returns once its own item is
written, and a failed write fails exactly the callers whose items it held."""

from __future__ import annotations

import asyncio

import pytest

from shared.group_commit import GroupCommit


async def test_concurrent_items_share_writes_and_each_waits_for_its_own() -> None:
    writes: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> None:
        writes.append(items)
        if len(writes) == 1:
            await release.wait()  # the first write is in flight while the others arrive

    group = GroupCommit(write, max_batch=3)
    first = asyncio.create_task(group.submit(0))
    await asyncio.sleep(0)  # the flusher starts the first write
    rest = [asyncio.create_task(group.submit(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *rest])
    release.set()
    await asyncio.gather(first, *rest)
    assert writes == [[0], [1, 2, 3], [4, 5]]


async def test_a_failed_write_fails_its_items_only() -> None:
    async def write(items: list[str]) -> None:
        if "bad" in items:
            raise ConnectionError("redis is down")

    group = GroupCommit(write, max_batch=10)
    with pytest.raises(ConnectionError):
        await group.submit("bad")
    await group.submit("good")  # a later write is not poisoned by the failed one
