"""Console sessions, kept in Redis.

Why Redis and not a `console` table: a session is short-lived state with an expiry, which
Redis keeps and drops by itself (a key's TTL), and the console then owns no schema and no
migration. Losing Redis loses only sessions: people sign in again; the accounts, tokens
and audit log stay in PostgreSQL. The cookie carries a random 256-bit id; Redis holds
only its SHA-256, so a copy of Redis opens no session.

Idle and absolute expiry are checked against an injected clock on every read (tests move
it); the key's TTL only collects what nobody reads again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from redis.asyncio import Redis

from services.console.api_client import Clinic

Clock = Callable[[], datetime]
# How long an ended session's record stays readable (services/console/kept_forms.py).
ENDED_KNOWN = timedelta(hours=12)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SessionData(msgspec.Struct, frozen=True, kw_only=True):
    staff_id: int
    name: str
    role: str
    clinics: tuple[Clinic, ...]  # those the person may see, from the API at sign-in
    generation: int  # the account's session_generation at sign-in
    token: str  # the API token minted for this session; never leaves the server
    token_id: str
    created_at: float  # epoch seconds
    last_seen: float

    def clinic(self, clinic_id: int) -> Clinic | None:
        return next((c for c in self.clinics if c.id == clinic_id), None)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(SessionData).decode


class SessionStore:
    def __init__(self, redis: Redis, prefix: str, lifetimes: Lifetimes, clock: Clock) -> None:
        self.redis = redis
        self.prefix = prefix
        self.lifetimes = lifetimes
        self.clock = clock

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:console:session:{hashlib.sha256(session_id.encode()).hexdigest()}"

    def _ttl(self, data: SessionData, now: float) -> int:
        left = data.created_at + self.lifetimes.absolute.total_seconds() - now
        # Kept past its end for ENDED_KNOWN: a form posted after the session ended is then
        # known to be its person's, and what was typed can be kept for them.
        ended_known = int(ENDED_KNOWN.total_seconds())
        return max(1, int(min(self.lifetimes.idle.total_seconds(), left)) + 1) + ended_known

    async def create(self, data: SessionData) -> str:
        """Store a new session; returns the id for the cookie (always a fresh one)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock().timestamp()
        data = replace_times(data, now, now)
        await self.redis.set(self._key(session_id), _encode(data), ex=self._ttl(data, now))
        return session_id

    async def load(self, session_id: str) -> tuple[SessionData | None, SessionData | None]:
        """(the live session, or None; the one that just expired, so its token can be revoked)."""
        raw = await self.redis.get(self._key(session_id))
        if raw is None:
            return None, None
        data = _decode(raw)
        now = self.clock().timestamp()
        idle_for = now - data.last_seen
        age = now - data.created_at
        if (
            idle_for > self.lifetimes.idle.total_seconds()
            or age > self.lifetimes.absolute.total_seconds()
        ):
            await self.redis.delete(self._key(session_id))
            return None, data
        data = replace_times(data, data.created_at, now)
        await self.redis.set(self._key(session_id), _encode(data), ex=self._ttl(data, now))
        return data, None

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))


def replace_times(data: SessionData, created_at: float, last_seen: float) -> SessionData:
    return msgspec.structs.replace(data, created_at=created_at, last_seen=last_seen)
