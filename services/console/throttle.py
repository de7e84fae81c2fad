"""Sign-in throttling per client address, beside the per-account lockout.

The account lockout (shared/access/staff.py: five wrong passwords lock an account for 15
minutes) stops guessing at one account, but alone it lets one address try many accounts,
and lets anyone lock a colleague out with five wrong passwords. So failed sign-ins are also
counted per client address, in a sliding window in Redis (a sorted set of failure times
per address; the console's own Redis client and injected clock, so tests move time rather
than wait). Past the limit the address gets 429 with Retry-After, and its attempts are
refused *before* any password is checked or any account read: they neither cost argon2
CPU nor count toward any account's lockout.

On the lockout denial of service, the choice made: the account lockout stays (it is the
only brake on guessing spread over many addresses), and the address limit bounds what
one address can do to it: with 20 failures a window, one address can lock at most four
accounts per 15 minutes, and then nothing more. A distributed attacker could still lock
accounts; `mmt staff reset-password` clears a lock at once. Successful sign-ins do not
count, so a clinic's staff behind one NAT address are not throttled by signing in.

The address is the socket's peer as the ASGI server reports it. The suite has no trusted
proxy setting of its own: uvicorn (`proxy_headers=True`, `mmt console`) takes the address
from X-Forwarded-For only when the peer is one of its FORWARDED_ALLOW_IPS (default
127.0.0.1), so a client cannot choose its own address by sending the header.
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta

from redis.asyncio import Redis

from services.console.sessions import Clock


class SignInThrottle:
    def __init__(
        self, redis: Redis, prefix: str, clock: Clock, limit: int, window: timedelta
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.limit = limit
        self.window = window.total_seconds()

    def _key(self, address: str) -> str:
        return f"{self.prefix}:console:signin-failures:{address}"

    async def retry_after(self, address: str) -> int | None:
        """Seconds until this address may try again, or None when it may now."""
        key, now = self._key(address), self.clock().timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - self.window)
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            _, count, oldest = await pipe.execute()
        if count < self.limit or not oldest:
            return None
        # The oldest failure in the window leaves it first: then one more attempt is allowed.
        first_at = float(oldest[0][1])
        return max(1, math.ceil(first_at + self.window - now))

    async def failed(self, address: str) -> None:
        key, now = self._key(address), self.clock().timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {secrets.token_hex(8): now})
            pipe.expire(key, int(self.window) + 1)
            await pipe.execute()
