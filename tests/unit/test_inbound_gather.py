"""Several partitions' batches handled as one (services/feedback/inbound_gather.py): what
arrives within the linger goes together in arrival order, each caller returns once its own
batch is handled, a full batch does not wait, no more handlings run at once than allowed,
and a failure reaches every batch that was in it and no other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.feedback.inbound_gather import Gather


def _gather(
    handled: list[list[str]], *, linger_s: float = 0.05, max_batch: int = 10, slots: int = 4
) -> Gather[str]:
    async def handle(items: Sequence[str]) -> None:
        handled.append(list(items))
        if "bad" in items:
            raise ValueError("a message at fault")

    return Gather(
        handle, linger_s=linger_s, max_batch=max_batch, in_flight=asyncio.Semaphore(slots)
    )


async def test_batches_within_the_linger_are_handled_together_in_arrival_order() -> None:
    handled: list[list[str]] = []
    gather = _gather(handled)
    callers = [
        asyncio.create_task(gather.handle(batch)) for batch in (["a1", "a2"], ["b1"], ["c1"])
    ]
    await asyncio.sleep(0)
    assert handled == []  # lingering: nothing handled yet
    await asyncio.gather(*callers)
    assert handled == [["a1", "a2", "b1", "c1"]]


async def test_a_full_batch_is_handled_at_once_and_the_rest_waits_its_linger() -> None:
    handled: list[list[str]] = []
    gather = _gather(handled, linger_s=30.0, max_batch=3)
    first = asyncio.create_task(gather.handle(["a1", "a2"]))
    second = asyncio.create_task(gather.handle(["b1", "b2"]))  # 4 >= 3: no linger
    done, _ = await asyncio.wait([first, second], timeout=0.3)
    # Whole batches only: the first fits, the second waits (its own linger is 30 s).
    assert handled == [["a1", "a2"]]
    assert done == {first}
    third = asyncio.create_task(gather.handle(["c1"]))  # 3 pending again: handled now
    await asyncio.wait_for(asyncio.gather(second, third), timeout=5)
    assert handled == [["a1", "a2"], ["b1", "b2", "c1"]]


async def test_no_linger_handles_each_batch_at_once() -> None:
    handled: list[list[str]] = []
    gather = _gather(handled, linger_s=0)
    await gather.handle(["a1"])
    assert handled == [["a1"]]


async def test_at_most_in_flight_handlings_run_at_once() -> None:
    running, most = 0, 0
    release = asyncio.Event()

    async def handle(items: Sequence[str]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    gather: Gather[str] = Gather(handle, linger_s=0, max_batch=1, in_flight=asyncio.Semaphore(2))
    callers = [asyncio.create_task(gather.handle([str(n)])) for n in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == 2
    release.set()
    await asyncio.gather(*callers)
    assert most == 2


async def test_a_failure_reaches_every_batch_in_it_and_no_later_one() -> None:
    handled: list[list[str]] = []
    gather = _gather(handled)
    good = asyncio.create_task(gather.handle(["good"]))
    bad = asyncio.create_task(gather.handle(["bad"]))
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]
    await gather.handle(["later"])  # not poisoned by the failed handling
    assert handled == [["good", "bad"], ["later"]]


async def test_a_cancelled_handling_cancels_its_callers() -> None:
    started = asyncio.Event()

    async def handle(items: Sequence[str]) -> None:
        started.set()
        await asyncio.sleep(60)

    gather: Gather[str] = Gather(handle, linger_s=0, max_batch=5, in_flight=asyncio.Semaphore(1))
    caller = asyncio.create_task(gather.handle(["a"]))
    await started.wait()
    for task in list(gather._tasks):
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
