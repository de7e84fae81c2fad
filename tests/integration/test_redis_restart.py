"""A Redis restart under pooled connections: what `connect_redis` is for.

Redis is restarted (nothing kept, as in production here) while a client holds a pool of
connections; every one of them is stale. Found by the chaos run: the worker's pacing check
failed on them mid-batch.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from mmt.processes import private_redis_argv
from shared.bus.connect import connect_redis
from shared.channels.pacing import Pacer, parse_rate
from shared.net import free_port, wait_for_port


class Server:
    def __init__(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("this test needs redis-server on PATH (.ci/run installs it)")
        self.port = free_port()
        self.argv = private_redis_argv(server, self.port)
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, 10)
        return process

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.process = self.start()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.stop()


async def _pacing_after_a_restart(redis: Redis, server: Server) -> list[object]:
    rate = parse_rate("1000/second")
    assert rate is not None
    pacer = Pacer(redis, "restart:", rate)
    try:
        await asyncio.gather(*(pacer.try_acquire() for _ in range(8)))  # eight connections
        await asyncio.to_thread(server.restart)
        return await asyncio.gather(
            *(pacer.try_acquire() for _ in range(8)), return_exceptions=True
        )
    finally:
        await redis.aclose()


async def test_the_suites_client_rides_over_a_restart(server: Server) -> None:
    url = f"redis://127.0.0.1:{server.port}/0"
    results = await _pacing_after_a_restart(connect_redis(url), server)
    assert results == [0.0] * 8


async def test_a_client_without_retries_fails_on_every_stale_connection(server: Server) -> None:
    """Why connect_redis exists: the library's own default, from a URL, fails."""
    url = f"redis://127.0.0.1:{server.port}/0"
    results = await _pacing_after_a_restart(Redis.from_url(url), server)
    assert [type(r) for r in results] == [RedisConnectionError] * 8, results
