"""Bearer tokens: issued once, stored as a hash, verified by every service.

A token reads `mmt_<id>_<secret>`. The id is public (it names the token in lists, the
audit log and `mmt token revoke`); the secret is 256 random bits. Only the SHA-256 of the
whole token is stored: the secret is high-entropy, so a slow password hash would add cost
and no safety. Verification results are cached per process for `TOKEN_CACHE_SECONDS`, so a
revocation takes effect within that time everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select

from shared.access.models import ApiToken, Clinic
from shared.db import Database


class Role(StrEnum):
    ADMIN = "admin"  # everything, every clinic
    COORDINATOR = "coordinator"  # patients and feedback of its own clinics
    RESEARCHER = "researcher"  # de-identified exports and aggregates only
    CONTENT_EDITOR = "content-editor"  # the curriculum only


@dataclass(frozen=True)
class Principal:
    """Who is calling: what the routes' policies and the services' scope checks use."""

    token_id: str
    role: Role
    clinic_ids: frozenset[int]  # empty for admin: every clinic
    # The staff account a console sign-in minted the token for (staff training is theirs);
    # None for tokens made with `mmt token create`.
    staff_id: int | None = None

    @property
    def all_clinics(self) -> bool:
        return self.role is Role.ADMIN

    def can_access_clinic(self, clinic_id: int) -> bool:
        return self.all_clinics or clinic_id in self.clinic_ids


class TokenRejected(Exception):
    """Why a presented token is not accepted; the message is safe to return (401)."""


class TokenError(ValueError):
    """A token cannot be issued or revoked as asked (CLI input errors)."""


_TOKEN = re.compile(r"mmt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    id: str
    role: Role
    clinic_ids: tuple[int, ...]
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: str
    label: str
    clinic_ids: tuple[int, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


async def resolve_clinics(db: Database, clinics: Iterable[str]) -> tuple[int, ...]:
    """Clinics named by id or code; every one must exist."""
    wanted = list(dict.fromkeys(clinics))
    async with db.sessions() as session:
        rows = (await session.execute(select(Clinic.id, Clinic.code))).all()
    by_code = {code: clinic_id for clinic_id, code in rows}
    ids = {str(clinic_id): clinic_id for clinic_id, _ in rows}
    resolved: list[int] = []
    unknown: list[str] = []
    for name in wanted:
        clinic_id = by_code.get(name) or ids.get(name)
        if clinic_id is None:
            unknown.append(name)
        else:
            resolved.append(clinic_id)
    if unknown:
        raise TokenError(f"unknown clinic(s): {', '.join(unknown)}")
    return tuple(sorted(set(resolved)))


async def issue_token(
    db: Database,
    role: Role,
    *,
    clinics: Sequence[str] = (),
    label: str = "",
    expires_days: int | None = 90,
) -> IssuedToken:
    """Create a token; the caller shows `token` once."""
    if role is Role.ADMIN and clinics:
        raise TokenError("an admin token covers every clinic: do not pass --clinic")
    if role is Role.COORDINATOR and not clinics:
        raise TokenError("a coordinator token needs at least one --clinic")
    if expires_days is not None and expires_days <= 0:
        raise TokenError("--expires must be a positive number of days")
    clinic_ids = await resolve_clinics(db, clinics)
    now = datetime.now(UTC)
    expires_at = now + timedelta(days=expires_days) if expires_days else None
    token, row = new_token_row(role, clinic_ids, label, now, expires_at)
    async with db.transaction() as session:
        session.add(row)
    return IssuedToken(token, row.id, role, clinic_ids, expires_at)


def new_token_row(
    role: Role,
    clinic_ids: Sequence[int],
    label: str,
    now: datetime,
    expires_at: datetime | None,
    staff_id: int | None = None,
) -> tuple[str, ApiToken]:
    """A fresh token and the row that stores its hash (the caller adds it to a session)."""
    token_id = secrets.token_hex(6)
    token = f"mmt_{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        id=token_id,
        secret_hash=_hash(token),
        role=role.value,
        label=label[:100],
        clinic_ids=list(clinic_ids),
        created_at=now,
        expires_at=expires_at,
        revoked_at=None,
        staff_id=staff_id,
    )
    return token, row


async def list_tokens(db: Database) -> list[TokenInfo]:
    async with db.sessions() as session:
        rows = (await session.execute(select(ApiToken).order_by(ApiToken.created_at))).scalars()
        return [
            TokenInfo(
                t.id,
                t.role,
                t.label,
                tuple(t.clinic_ids),
                t.created_at,
                t.expires_at,
                t.revoked_at,
            )
            for t in rows
        ]


async def revoke_token(db: Database, token_id: str) -> None:
    async with db.transaction() as session:
        token = await session.get(ApiToken, token_id)
        if token is None:
            raise TokenError(f"no token with id {token_id}")
        if token.revoked_at is None:
            token.revoked_at = datetime.now(UTC)


class TokenVerifier:
    """Checks presented tokens against the table, with a short per-process cache."""

    def __init__(self, db: Database, cache_seconds: float = 30.0) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal, datetime | None]] = {}

    async def verify(self, presented: str) -> Principal:
        match = _TOKEN.fullmatch(presented)
        if match is None:
            raise TokenRejected("malformed token: expected mmt_<id>_<secret>")
        digest = _hash(presented)
        now = datetime.now(UTC)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            _checked_at, principal, expires_at = cached
            if expires_at is not None and expires_at <= now:
                raise TokenRejected("token expired")
            return principal
        async with self.db.sessions() as session:
            row = await session.get(ApiToken, match.group(1))
        if row is None or not hmac.compare_digest(row.secret_hash, digest):
            raise TokenRejected("unknown token")
        if row.revoked_at is not None:
            raise TokenRejected("token revoked")
        expires_at = row.expires_at  # UTC-aware on every database (UTCDateTime)
        if expires_at is not None and expires_at <= now:
            raise TokenRejected("token expired")
        principal = Principal(
            row.id, Role(row.role), frozenset(row.clinic_ids), staff_id=row.staff_id
        )
        if len(self._cache) > 10_000:  # bounded: tokens are few, but never trust that
            self._cache.clear()
        self._cache[digest] = (time.monotonic() + self.cache_seconds, principal, expires_at)
        return principal
