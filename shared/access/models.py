"""Tables of the shared `access` schema."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    Time,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime

SCHEMA = "access"  # logical; shared.db translates it
_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA)


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    help_phone: Mapped[str] = mapped_column(String(20))  # the clinic's, never a patient's
    # The on-call coordinator's phone: urgent needs are texted here (staff, not patient).
    alert_phone: Mapped[str | None] = mapped_column(String(20))
    opens_at: Mapped[time] = mapped_column(Time())
    closes_at: Mapped[time] = mapped_column(Time())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # public part of the token
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the whole token
    role: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    clinic_ids: Mapped[list[int]] = mapped_column(JSON)  # empty: every clinic (admin only)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The staff member a console sign-in minted it for: the audit log's token_id then
    # names a person. None for tokens made with `mmt token create`.
    staff_id: Mapped[int | None] = mapped_column(_ID, ForeignKey("access.staff.id"), index=True)


class Staff(Base):
    """A person who signs in to the console (shared/access/staff.py)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)  # lower case
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    clinic_ids: Mapped[list[int]] = mapped_column(JSON)  # empty: every clinic (admin only)
    # The alert phone, encrypted and hashed like a patient's (shared/crypto.py): a
    # coordinator's own number is personal data too.
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, with its parameters
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped by "sign out everywhere", a password reset and disabling: a console session
    # made under an older generation is over.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Append-only (a database trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    service: Mapped[str] = mapped_column(String(20))
    token_id: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("access.api_tokens.id"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))  # the template, e.g. /api/v1/clinics/{id}
    action: Mapped[str] = mapped_column(String(10))  # read, create, update, delete
    status: Mapped[int] = mapped_column(Integer)
    clinic_id: Mapped[int | None] = mapped_column(Integer, index=True)
    resource_type: Mapped[str | None] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(64), index=True)
