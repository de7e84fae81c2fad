"""Staff accounts: the people who sign in to the console.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory
profile): unlike an API token's secret, a password is low-entropy and needs a slow hash.
Five wrong passwords in a row lock the account for `LOCKOUT`; while locked, no password is
even checked, so guessing cannot continue. A sign-in mints a short-lived API token bound
to the person (`api_tokens.staff_id`), so the services audit every call under their name.
`session_generation` ends every console session at once: bumped by "sign out everywhere",
a password reset and disabling, which also revoke the person's tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.clinics import ClinicError, valid_phone
from shared.access.models import ApiToken, Staff
from shared.access.tokens import Role, TokenError, new_token_row, resolve_clinics
from shared.crypto import IdentifierCipher
from shared.db import Database

MAX_FAILED_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
# The console has pages for these roles only; researchers and editors keep their tokens.
STAFF_ROLES = (Role.ADMIN, Role.COORDINATOR)


class StaffError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class SignInRefused(Exception):
    """Why a sign-in failed. `invalid` covers unknown logins, wrong passwords and disabled
    accounts alike, so that the page reveals nothing about which logins exist."""

    reason: Literal["invalid", "locked"]
    locked_until: datetime | None = None


@dataclass(frozen=True)
class StaffInfo:
    id: int
    login: str
    name: str
    role: Role
    clinic_ids: tuple[int, ...]
    has_phone: bool
    disabled: bool
    locked_until: datetime | None
    session_generation: int


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    # Checked against for unknown logins, so they take as long as known ones.
    return _hasher().hash("decoy password, never anyone's")


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _info(row: Staff) -> StaffInfo:
    return StaffInfo(
        id=row.id,
        login=row.login,
        name=row.name,
        role=Role(row.role),
        clinic_ids=tuple(row.clinic_ids),
        has_phone=row.phone_enc is not None,
        disabled=row.disabled_at is not None,
        locked_until=row.locked_until,
        session_generation=row.session_generation,
    )


def check_password(password: str, login: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip().lower() == login.lower():
        raise StaffError("the password must not be the login")


async def _hash_password(password: str) -> str:
    # argon2 takes tens of milliseconds of CPU: off the event loop.
    return await asyncio.to_thread(_hasher().hash, password)


async def create_staff(
    db: Database,
    *,
    login: str,
    name: str,
    role: Role,
    clinics: Sequence[str],
    password: str,
    phone: str | None = None,
    cipher: IdentifierCipher | None = None,
) -> StaffInfo:
    login = login.strip().lower()
    if not login or len(login) > 64 or not login.isprintable() or " " in login:
        raise StaffError("the login must be 1-64 characters without spaces")
    if not 1 <= len(name.strip()) <= 100:
        raise StaffError("the name must be 1-100 characters")
    if role not in STAFF_ROLES:
        raise StaffError(f"a staff role is one of {', '.join(r.value for r in STAFF_ROLES)}")
    if role is Role.ADMIN and clinics:
        raise StaffError("an admin sees every clinic: do not pass --clinic")
    if role is Role.COORDINATOR and not clinics:
        raise StaffError("a coordinator needs at least one --clinic")
    check_password(password, login)
    phone_enc = phone_hash = None
    if phone:
        if cipher is None:
            raise StaffError("storing a phone needs IDENTIFIER_KEYS and IDENTIFIER_HMAC_KEY")
        try:
            number = valid_phone(phone, "phone")
        except ClinicError as exc:
            raise StaffError(str(exc)) from None
        phone_enc, phone_hash = cipher.encrypt(number), cipher.lookup_hash(number)
    try:
        clinic_ids = await resolve_clinics(db, clinics)
    except TokenError as exc:
        raise StaffError(str(exc)) from None
    now = datetime.now(UTC)
    row = Staff(
        login=login,
        name=name.strip(),
        role=role.value,
        clinic_ids=list(clinic_ids),
        phone_enc=phone_enc,
        phone_hash=phone_hash,
        password_hash=await _hash_password(password),
        failed_attempts=0,
        session_generation=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with db.transaction() as session:
            session.add(row)
    except IntegrityError:
        raise StaffError(f"a staff account with login {login!r} exists") from None
    return _info(row)


async def list_staff(db: Database) -> list[StaffInfo]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Staff).order_by(Staff.login))).scalars()
        return [_info(row) for row in rows]


async def clinic_coordinators(db: Database, clinic_id: int) -> list[StaffInfo]:
    """The clinic's active coordinators with a staff account, by name (whom the console
    offers as a task's assignee)."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Staff)
                .where(Staff.role == Role.COORDINATOR.value, Staff.disabled_at.is_(None))
                .order_by(Staff.name, Staff.login)
            )
        ).scalars()
        found = [_info(row) for row in rows]
    # clinic_ids is a list column (JSON on SQLite): filtered here, as assignable_login does.
    return [staff for staff in found if clinic_id in staff.clinic_ids]


async def get_staff(db: Database, staff_id: int) -> StaffInfo | None:
    async with db.sessions() as session:
        row = await session.get(Staff, staff_id)
    return _info(row) if row is not None else None


async def assignable_login(db: Database, login: str, clinic_id: int) -> str | None:
    """The login of an active account that may follow up work at this clinic (an admin, or
    a coordinator of it), or None."""
    async with db.sessions() as session:
        row = (
            await session.execute(select(Staff).where(Staff.login == login.strip().lower()))
        ).scalar_one_or_none()
    if row is None or row.disabled_at is not None:
        return None
    if row.role == Role.ADMIN.value or clinic_id in row.clinic_ids:
        return row.login
    return None


async def _end_sessions(session: AsyncSession, row: Staff, now: datetime) -> None:
    """Every console session and every token of this person end now."""
    row.session_generation += 1
    row.updated_at = now
    await session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == row.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def _by_login(db: Database, login: str) -> int:
    async with db.sessions() as session:
        staff_id = (
            await session.execute(select(Staff.id).where(Staff.login == login.strip().lower()))
        ).scalar_one_or_none()
    if staff_id is None:
        raise StaffError(f"no staff account with login {login!r}")
    return staff_id


async def disable_staff(db: Database, login: str) -> StaffInfo:
    staff_id = await _by_login(db, login)
    now = datetime.now(UTC)
    async with db.transaction() as session:
        row = await session.get(Staff, staff_id, with_for_update=True)
        assert row is not None  # accounts are disabled, never deleted
        if row.disabled_at is None:
            row.disabled_at = now
            await _end_sessions(session, row, now)
    return _info(row)


async def reset_password(db: Database, login: str, password: str) -> StaffInfo:
    """A new password; clears a lockout and ends every session made with the old one."""
    staff_id = await _by_login(db, login)
    check_password(password, login)
    password_hash = await _hash_password(password)
    now = datetime.now(UTC)
    async with db.transaction() as session:
        row = await session.get(Staff, staff_id, with_for_update=True)
        assert row is not None
        row.password_hash = password_hash
        row.failed_attempts, row.locked_until = 0, None
        await _end_sessions(session, row, now)
    return _info(row)


async def sign_out_everywhere(db: Database, staff_id: int) -> None:
    now = datetime.now(UTC)
    async with db.transaction() as session:
        row = await session.get(Staff, staff_id, with_for_update=True)
        if row is not None:
            await _end_sessions(session, row, now)


async def authenticate(
    db: Database, login: str, password: str, now: datetime | None = None
) -> StaffInfo:
    """The account if the password is right; SignInRefused otherwise, counting failures."""
    now = now or datetime.now(UTC)
    refused: SignInRefused | None = None
    async with db.transaction() as session:
        # FOR UPDATE: concurrent guesses at one login are counted one after another.
        row = (
            await session.execute(
                select(Staff).where(Staff.login == login.strip().lower()).with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            await asyncio.to_thread(_matches, _decoy_hash(), password)
            refused = SignInRefused("invalid")
        elif row.locked_until is not None and row.locked_until > now:
            refused = SignInRefused("locked", row.locked_until)
        elif not await asyncio.to_thread(_matches, row.password_hash, password):
            row.failed_attempts += 1
            if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
                row.failed_attempts, row.locked_until = 0, now + LOCKOUT
                refused = SignInRefused("locked", row.locked_until)
            else:
                refused = SignInRefused("invalid")
        elif row.disabled_at is not None:
            refused = SignInRefused("invalid")
        else:
            row.failed_attempts, row.locked_until = 0, None
            if _hasher().check_needs_rehash(row.password_hash):
                row.password_hash = await _hash_password(password)
    # Raised after the block: the failure count above must be committed, not rolled back.
    if refused is not None:
        raise refused
    assert row is not None
    return _info(row)


async def mint_staff_token(
    db: Database, staff: StaffInfo, lifetime: timedelta, now: datetime | None = None
) -> str:
    """A token with the person's role and clinics, expiring after `lifetime`."""
    now = now or datetime.now(UTC)
    token, row = new_token_row(
        staff.role,
        staff.clinic_ids,
        f"console {staff.login}",
        now,
        now + lifetime,
        staff_id=staff.id,
    )
    async with db.transaction() as session:
        session.add(row)
    return token
