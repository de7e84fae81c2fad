"""The one way the suite opens Redis: with a retry policy on every pooled connection.

`Redis.from_url` alone gives connections no retry, so after Redis restarts every pooled
connection fails its next command once ("Connection closed by server"): a worker's pacing
check then failed mid-batch, and a periodic job failed its tick. With a retry, a stale
connection reconnects and the command goes through. Writes are at-least-once either way
(a retried XADD may add a second copy), which the bus's idempotent handlers absorb.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

# Three tries over about a second: a restart is back by then; a longer outage is the
# callers' to ride out (the consumer backs off, a send is paced, a tick fails and reruns).
RETRIES = 3
BACKOFF = ExponentialWithJitterBackoff(base=0.1, cap=1.0)


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, retry=Retry(BACKOFF, RETRIES))
