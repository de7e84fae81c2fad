"""Tests leave nothing behind: what the suite writes to Redis lives under the configured
prefix (so a test's prefix covers it), and the sweep behind `isolation` and the end-of-run
check takes exactly one prefix's schemas and keys."""

from __future__ import annotations

import hashlib
import uuid

import psycopg
import pytest
import redis as sync_redis
from psycopg import sql
from redis.asyncio import Redis

from services.feedback.wechat_webhook import REPLAY_WINDOW_S
from shared.bus import BusKeys
from tests.conftest import (
    THROWAWAY_PREFIX,
    Backends,
    left_behind,
    postgres_conninfo,
    remove_prefix,
)
from tests.integration.test_feedback_wechat import (
    STRANGER,
    Client,
    client,  # noqa: F401  (the fixture: a feedback app with WeChat configured)
    post,
    signed,
    text_xml,
)


async def test_a_signed_wechat_call_is_remembered_under_the_apps_prefix_and_expires(
    client: Client,  # noqa: F811
    redis: Redis,
    isolation: str,
) -> None:
    params = signed()
    response = await post(client, text_xml("4", "3001", sender=STRANGER), params)
    assert response.status_code == 200, response.text
    call = "|".join((params["signature"], params["timestamp"], params["nonce"]))
    digest = hashlib.sha256(call.encode()).hexdigest()
    key = BusKeys(isolation.rstrip("_")).signed_call("wechat", digest)
    assert await redis.exists(key)
    assert 0 < await redis.ttl(key) <= 2 * REPLAY_WINDOW_S
    assert not await redis.exists(BusKeys().signed_call("wechat", digest))  # not the default


def _make(backends: Backends, prefix: str) -> None:
    with psycopg.connect(postgres_conninfo(backends.database_url), autocommit=True) as conn:
        for name in ("content", "access"):
            schema = sql.Identifier(f"{prefix}{name}")
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            conn.execute(sql.SQL("CREATE TABLE {}.t (id int)").format(schema))
    keys = sync_redis.Redis.from_url(backends.redis_url)
    try:
        bus = BusKeys(prefix.rstrip("_"))
        keys.xadd(bus.stream("SendMessage"), {"m": "1"})  # a bus key: "{prefix}:..."
        keys.set(f"{bus.prefix}:pace:twilio", "1")  # a channel's: "prefix:..."
    finally:
        keys.close()


def test_removing_a_prefix_takes_its_schemas_and_keys_and_nothing_else(
    backends: Backends, isolation: str
) -> None:
    neighbour = f"t{uuid.uuid4().hex[:10]}_"
    try:
        _make(backends, isolation)
        _make(backends, neighbour)
        bus = BusKeys(isolation.rstrip("_"))
        expected = [
            f"schema {isolation}access",
            f"schema {isolation}content",
            f"key {bus.prefix}:pace:twilio",
            f"key {bus.stream('SendMessage')}",
        ]
        assert left_behind(backends, isolation) == expected
        assert remove_prefix(backends, isolation) == expected
        assert left_behind(backends, isolation) == []
        assert len(left_behind(backends, neighbour)) == 4
    finally:
        remove_prefix(backends, neighbour)
    assert left_behind(backends, neighbour) == []


@pytest.mark.parametrize("prefix", ["t1_", "mmt", "bench_", ""])
def test_short_fixed_prefixes_are_never_swept(prefix: str) -> None:
    """A unit test's `t1_` or the production `mmt` would match other runs' keys."""
    assert not THROWAWAY_PREFIX.fullmatch(prefix)
    assert THROWAWAY_PREFIX.fullmatch(f"t{uuid.uuid4().hex[:10]}_")
    assert THROWAWAY_PREFIX.fullmatch(f"chaos{uuid.uuid4().hex[:8]}_")
