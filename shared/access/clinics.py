"""Clinics: first-class records every service can rely on (time zone, hours, HELP phone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec
import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shared.access.models import Clinic
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{1,31}")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class ClinicError(InvalidInput):
    pass


class ClinicConflict(Conflict):
    pass


class ClinicNotFound(NotFound):
    pass


class ClinicIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: str
    name: str
    time_zone: str = "Asia/Shanghai"
    help_phone: str
    opens_at: str = "07:00"
    closes_at: str = "17:00"
    alert_phone: str | None = None  # urgent needs are texted here at once


class ClinicPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str | None = None
    time_zone: str | None = None
    help_phone: str | None = None
    opens_at: str | None = None
    closes_at: str | None = None
    alert_phone: str | None = None  # "" removes it


class ClinicOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    time_zone: str
    help_phone: str
    opens_at: str
    closes_at: str
    alert_phone: str | None


def _out(clinic: Clinic) -> ClinicOut:
    return ClinicOut(
        id=clinic.id,
        code=clinic.code,
        name=clinic.name,
        time_zone=clinic.time_zone,
        help_phone=clinic.help_phone,
        opens_at=clinic.opens_at.strftime("%H:%M"),
        closes_at=clinic.closes_at.strftime("%H:%M"),
        alert_phone=clinic.alert_phone,
    )


def valid_time_zone(name: str) -> str:
    if name not in available_timezones():
        try:
            ZoneInfo(name)
        # OSError: on a system tz database a region name ("Asia") is a directory, and
        # ZoneInfo raises IsADirectoryError instead of ZoneInfoNotFoundError.
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ClinicError(
                f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai"
            ) from exc
    return name


def valid_phone(number: str, field: str = "help_phone") -> str:
    """A clinic's number in E.164 (its public one, or its on-call staff's: not health data)."""
    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ClinicError(f"{field} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ClinicError(f"{field} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _time(field: str, value: str) -> time:
    if not _HHMM.fullmatch(value):
        raise ClinicError(f"{field} must be HH:MM (24-hour), got {value!r}")
    return time.fromisoformat(value)


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise ClinicError("name must be 1 to 200 characters")
    return name


async def create_clinic(db: Database, data: ClinicIn) -> ClinicOut:
    if not _CODE.fullmatch(data.code):
        raise ClinicError("code must be 2-32 letters, digits or '-', not starting with '-'")
    opens, closes = _time("opens_at", data.opens_at), _time("closes_at", data.closes_at)
    if closes <= opens:
        raise ClinicError("closes_at must be after opens_at")
    now = datetime.now(UTC)
    clinic = Clinic(
        code=data.code,
        name=_name(data.name),
        time_zone=valid_time_zone(data.time_zone),
        help_phone=valid_phone(data.help_phone),
        alert_phone=valid_phone(data.alert_phone, "alert_phone") if data.alert_phone else None,
        opens_at=opens,
        closes_at=closes,
        created_at=now,
        updated_at=now,
    )
    try:
        async with db.transaction() as session:
            session.add(clinic)
    except IntegrityError as exc:
        raise ClinicConflict(f"a clinic with code {data.code!r} exists") from exc
    return _out(clinic)


async def list_clinics(db: Database, principal: Principal) -> list[ClinicOut]:
    query = select(Clinic).order_by(Clinic.code)
    if not principal.all_clinics:
        query = query.where(Clinic.id.in_(principal.clinic_ids))
    async with db.sessions() as session:
        return [_out(c) for c in (await session.execute(query)).scalars()]


async def get_clinic(db: Database, principal: Principal, clinic_id: int) -> ClinicOut:
    if not principal.can_access_clinic(clinic_id):
        raise ClinicNotFound(f"no clinic {clinic_id}")
    async with db.sessions() as session:
        clinic = await session.get(Clinic, clinic_id)
    if clinic is None:
        raise ClinicNotFound(f"no clinic {clinic_id}")
    return _out(clinic)


async def update_clinic(
    db: Database, principal: Principal, clinic_id: int, patch: ClinicPatch
) -> ClinicOut:
    if not principal.can_access_clinic(clinic_id):
        raise ClinicNotFound(f"no clinic {clinic_id}")
    async with db.transaction() as session:
        clinic = await session.get(Clinic, clinic_id, with_for_update=True)
        if clinic is None:
            raise ClinicNotFound(f"no clinic {clinic_id}")
        if patch.name is not None:
            clinic.name = _name(patch.name)
        if patch.time_zone is not None:
            clinic.time_zone = valid_time_zone(patch.time_zone)
        if patch.help_phone is not None:
            clinic.help_phone = valid_phone(patch.help_phone)
        if patch.alert_phone is not None:
            clinic.alert_phone = (
                valid_phone(patch.alert_phone, "alert_phone") if patch.alert_phone else None
            )
        if patch.opens_at is not None:
            clinic.opens_at = _time("opens_at", patch.opens_at)
        if patch.closes_at is not None:
            clinic.closes_at = _time("closes_at", patch.closes_at)
        if clinic.closes_at <= clinic.opens_at:
            raise ClinicError("closes_at must be after opens_at")  # rolls the change back
        clinic.updated_at = datetime.now(UTC)
    return _out(clinic)
