"""The one way the suite opens Redis: with a retry policy on every pooled connection.

`Redis.from_url` alone gives connections no retry, so after Redis restarts every pooled
connection fails its next command once ("Connection closed by server"): a worker's pacing
check then failed mid-batch, and a periodic job failed its tick. With a retry, a stale
connection reconnects and the command goes through. Writes are at-least-once either way
(a retried XADD may add a second copy), which the bus's idempotent handlers absorb.

`redis+cluster://host:port` (or `rediss+cluster://`) names one node of a Redis Cluster: the
client then finds the others and routes each command to its slot's master. The bus's keys
share one hash tag (shared/bus/keys.py) so its multi-key commands stay in one slot.
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

# Three tries over about a second: a restart is back by then; a longer outage is the
# callers' to ride out (the consumer backs off, a send is paced, a tick fails and reruns).
RETRIES = 3
BACKOFF = ExponentialWithJitterBackoff(base=0.1, cap=1.0)
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain node URL when `url` names a Redis Cluster, else None."""
    scheme, _, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    return f"{plain}://{rest}" if plain else None


class _Cluster(RedisCluster):
    """A cluster client that learns the cluster before its first command.

    redis-py (8.1) resolves a command's routing before it initialises a fresh client:
    commands started together on a new client then share half-made connections and fail
    ("'NoneType' object has no attribute 'writelines'", ConnectionError); 18 of 2,600
    concurrent INCRs did on a three-master cluster, none once initialised first. Its
    `initialize` is locked and does nothing the second time.
    """

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


# redis-py's default pool holds 100 connections and raises MaxConnectionsError the moment a
# process asks for one more. A feedback worker answering a burst of replies (a pacing check
# in Redis for each answer) did: 17 of 12,020 answers "not sent" (`mmt bench api --mix
# replies --answer-latency-ms 300` with CHANNEL_MAX_CONNECTIONS=400). The blocking pool
# makes a command wait for a free connection instead, up to POOL_WAIT_S; blocking reads
# (the bus's XREADGROUP) hold theirs for a second at most.
POOL_CONNECTIONS = 100
POOL_WAIT_S = 10.0


def connect_redis(url: str) -> Redis:
    node = cluster_url(url)
    if node is None:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_CONNECTIONS,
            timeout=POOL_WAIT_S,
            retry=Retry(BACKOFF, RETRIES),
        )
        return Redis.from_pool(pool)
    # The cluster client answers the same commands the suite uses (streams, scripts, MULTI
    # within one slot); tests/integration/test_redis_cluster.py runs the bus on a real
    # three-master cluster. Typed as Redis so that one client type flows through the code.
    cluster = _Cluster.from_url(node, retry=Retry(BACKOFF, RETRIES))
    return cast("Redis", cluster)


async def redis_version(redis: Redis) -> str:
    """The server's version; on a cluster, the default node's (all run the same release)."""
    if isinstance(redis, RedisCluster):
        info: Any = await redis.info("server", target_nodes=RedisCluster.DEFAULT_NODE)
    else:
        info = await redis.info("server")
    return str(info.get("redis_version", "0"))
