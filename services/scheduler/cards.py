"""Patient cards: one scan at the counter records the observed dose.

A patient's card carries an opaque code (`Patient.card_code`, made on insert; a QR code
and its digits), never the patient id: a card found in the street names nobody, and a
lost card is replaced by a new code that retires the old one. A USB barcode scanner types
the code into the console, which asks `POST /clinics/{id}/card-scans`: the code is looked
up within that clinic only, so another clinic's card records nothing and reads "not a
patient of this clinic". The dose goes in through the same idempotent insert as any other
(one a local day), and a second scan answers with the time of the first.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from sqlalchemy import select

from services.scheduler.doses import check_time, insert_doses
from services.scheduler.models import Dose, Patient, new_card_code
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.schemas import Aware, DoseIn
from services.scheduler.timeplan import local_today
from shared.access.tokens import Principal
from shared.errors import InvalidInput, NotFound

# What scanners type, tolerated: spaces, dashes, lower case (Caps Lock), a trailing newline.
_NOISE = re.compile(r"[\s-]+")
_CODE = re.compile(r"[0-9A-F]{16}")


class CardOut(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_id: int
    clinic_number: str
    display_name: str
    code: str


class ScanIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    taken_at: Aware | None = None  # now when unset: the scan is the observation
    mg: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None

    openapi_example: ClassVar[dict[str, Any]] = {"code": "3F9A0C17B2D4E865"}


class ScanOut(msgspec.Struct, kw_only=True):
    patient_id: int
    clinic_number: str
    display_name: str
    recorded: bool  # False: the day's dose was recorded already, at `taken_at`
    taken_at: datetime  # the day's (first) dose
    local_date: str


def normalise_code(typed: str) -> str:
    code = _NOISE.sub("", typed).upper()
    if not _CODE.fullmatch(code):
        raise InvalidInput("code: not a patient card's code (16 letters and digits)")
    return code


def _card(patient: Patient) -> CardOut:
    assert patient.card_code is not None
    return CardOut(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        clinic_number=patient.clinic_number,
        display_name=patient.display_name,
        code=patient.card_code,
    )


async def get_card(ctx: Scheduler, principal: Principal, patient_id: int) -> CardOut:
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        if patient.card_code is None:  # a row inserted past the ORM's default
            patient.card_code = new_card_code()
        return _card(patient)


async def replace_card(ctx: Scheduler, principal: Principal, patient_id: int) -> CardOut:
    """A new code for a lost card: the old one records nothing from now on."""
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        patient.card_code = new_card_code()
        return _card(patient)


async def scan_card(ctx: Scheduler, principal: Principal, clinic_id: int, scan: ScanIn) -> ScanOut:
    if not principal.can_access_clinic(clinic_id):  # the route's guard checked it too
        raise NotFound(f"no clinic {clinic_id}")
    code = normalise_code(scan.code)
    now = ctx.clock()
    taken_at = scan.taken_at or now
    check_time(taken_at, now)
    async with ctx.db.sessions() as session:
        patient = (
            await session.execute(
                select(Patient).where(Patient.card_code == code, Patient.clinic_id == clinic_id)
            )
        ).scalar_one_or_none()
    if patient is None:
        # One answer for an unknown code and another clinic's: nothing about other clinics.
        raise NotFound(f"code: this card is not a patient of clinic {clinic_id}")
    recorded = await insert_doses(ctx, [(patient, DoseIn(taken_at=taken_at, mg=scan.mg))])
    day = local_today(taken_at, patient.time_zone)
    async with ctx.db.sessions() as session:
        first = (
            await session.execute(
                select(Dose.taken_at).where(Dose.patient_id == patient.id, Dose.local_date == day)
            )
        ).scalar_one()
    return ScanOut(
        patient_id=patient.id,
        clinic_number=patient.clinic_number,
        display_name=patient.display_name,
        recorded=recorded == 1,
        taken_at=first,
        local_date=day.isoformat(),
    )
