"""Risk assessments: instruments loaded as data, assessments recorded by staff, history.

An instrument belongs to one clinic, or to every clinic (`EVERY_CLINIC`, as `mmt risk
import` loads the starter one); a clinic's own version of a code is used before the shared
one. Recording an assessment scores it with the instrument's newest version; when the band
is higher than the patient's previous one on the same instrument, an alert is raised for
follow-up (the dropout alerts' table, kind `risk_rise`, with a `RiskAlertRaised` event in the
same transaction). A request sent twice (same patient, instrument and moment) is recorded
once and raises nothing more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.instruments import (
    list_visible,
    load_sent,
    newest_definition,
    owner_of,
    store_definition,
)
from services.scheduler.models import Alert, Outbox, Patient
from services.scheduler.patients import Scheduler, load_patient
from services.scheduler.risk_definition import (
    CODE,
    Instrument,
    band_rank,
    decode_instrument,
    validate_instrument,
)
from services.scheduler.risk_models import RiskAssessment, RiskInstrument
from services.scheduler.schemas import Aware
from services.scheduler.timeplan import local_today
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.db import Database
from shared.errors import Conflict, InvalidInput
from shared.messages import RiskAlertRaised

ALERT_KIND = "risk_rise"


class InstrumentOut(msgspec.Struct, kw_only=True):
    clinic_id: int | None  # None: every clinic may use it
    code: str
    version: int
    titles: dict[str, str]
    items: int
    bands: dict[str, int]  # band -> lowest total
    outcome: str | None = None  # on loading: "loaded" or "unchanged"


class AssessmentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    instrument: Annotated[str, msgspec.Meta(pattern=f"^{CODE.pattern}$")]
    answers: dict[str, Annotated[str, msgspec.Meta(max_length=40)]]  # item key -> value
    # The staff member who assessed, as they sign.
    assessed_by: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    assessed_at: Aware


class AssessmentOut(msgspec.Struct, kw_only=True):
    id: int
    patient_id: int
    instrument: str
    version: int
    answers: dict[str, str]
    total: int
    band: str
    previous_band: str | None
    alert_id: int | None  # the follow-up alert this assessment raised
    assessed_by: str
    assessed_at: datetime
    already_recorded: bool = False


def _instrument_out(row: RiskInstrument, outcome: str | None = None) -> InstrumentOut:
    instrument = decode_instrument(row.definition)
    return InstrumentOut(
        clinic_id=owner_of(row),
        code=row.code,
        version=row.version,
        titles=instrument.titles,
        items=len(instrument.items),
        bands={rule.band: rule.min for rule in instrument.bands},
        outcome=outcome,
    )


async def store_instrument(
    db: Database, instrument: Instrument, clinic_id: int | None, loaded_by: str
) -> InstrumentOut:
    """Keep a validated instrument (instruments.store_definition)."""
    key = (instrument.code, instrument.version)
    definition = msgspec.to_builtins(instrument)
    row, outcome = await store_definition(db, RiskInstrument, key, definition, clinic_id, loaded_by)
    return _instrument_out(row, outcome)


async def load_instrument(
    ctx: Scheduler, principal: Principal, clinic_id: int | None, data: Any
) -> InstrumentOut:
    return await load_sent(
        ctx.db, principal, clinic_id, data, validate_instrument, store_instrument, "instrument"
    )


async def list_instruments(
    ctx: Scheduler, principal: Principal, clinic_id: int | None
) -> list[InstrumentOut]:
    return await list_visible(ctx.db, RiskInstrument, principal, clinic_id, _instrument_out)


async def _instrument_for(session: AsyncSession, clinic_id: int, code: str) -> Instrument:
    """The clinic's own newest version of `code`, else the shared one's."""
    return decode_instrument(await newest_definition(session, RiskInstrument, clinic_id, code))


def _out(row: RiskAssessment, previous: str | None, alert_id: int | None) -> AssessmentOut:
    return AssessmentOut(
        id=row.id,
        patient_id=row.patient_id,
        instrument=row.instrument_code,
        version=row.instrument_version,
        answers=row.answers,
        total=row.total,
        band=row.band,
        previous_band=previous,
        alert_id=alert_id,
        assessed_by=row.assessed_by,
        assessed_at=row.assessed_at,
    )


async def _previous(session: AsyncSession, row: RiskAssessment) -> RiskAssessment | None:
    return (
        await session.execute(
            select(RiskAssessment)
            .where(
                RiskAssessment.patient_id == row.patient_id,
                RiskAssessment.instrument_code == row.instrument_code,
                RiskAssessment.assessed_at < row.assessed_at,
            )
            .order_by(RiskAssessment.assessed_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def checked_assessor(assessed_by: str, assessed_at: datetime, now: datetime) -> str:
    """The assessor's name as recorded; refused without an offset or in the future."""
    if assessed_at.tzinfo is None:
        raise InvalidInput("assessed_at: give the time with its offset, e.g. +08:00")
    if assessed_at > now:
        raise InvalidInput("assessed_at: is in the future")
    assessor = assessed_by.strip()
    if not assessor or len(assessor) > 80:
        raise InvalidInput("assessed_by: give the assessor's name (1 to 80 characters)")
    return assessor


async def record_assessment(
    ctx: Scheduler, principal: Principal, patient_id: int, data: AssessmentIn
) -> AssessmentOut:
    now = ctx.clock()
    assessor = checked_assessor(data.assessed_by, data.assessed_at, now)
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id, lock=True)
        instrument = await _instrument_for(session, patient.clinic_id, data.instrument)
        total, band = instrument.score(data.answers)
        existing = (
            await session.execute(
                select(RiskAssessment).where(
                    RiskAssessment.patient_id == patient.id,
                    RiskAssessment.instrument_code == instrument.code,
                    RiskAssessment.assessed_at == data.assessed_at,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return await _repeat(session, existing, data)
        row = RiskAssessment(
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            instrument_code=instrument.code,
            instrument_version=instrument.version,
            answers=dict(data.answers),
            total=total,
            band=band,
            assessed_by=assessor,
            assessed_at=data.assessed_at,
            recorded_by=principal.token_id,
            recorded_at=now,
        )
        session.add(row)
        await session.flush()
        previous = await _previous(session, row)
        before = previous.band if previous is not None else None
        alert_id = None
        if before is not None and band_rank(band) > band_rank(before):
            alert_id = await _raise_alert(session, patient, row, before, now)
        return _out(row, before, alert_id)


async def _repeat(
    session: AsyncSession, existing: RiskAssessment, data: AssessmentIn
) -> AssessmentOut:
    """The same request again (a retry): what was recorded, and nothing raised twice."""
    if existing.answers != dict(data.answers):
        raise Conflict("an assessment with this instrument at this time exists with other answers")
    previous = await _previous(session, existing)
    alert = (
        await session.execute(
            select(Alert.id).where(
                Alert.patient_id == existing.patient_id,
                Alert.kind == ALERT_KIND,
                Alert.details["assessment_id"].as_integer() == existing.id,
            )
        )
    ).scalar_one_or_none()
    out = _out(existing, previous.band if previous is not None else None, alert)
    out.already_recorded = True
    return out


async def _raise_alert(
    session: AsyncSession, patient: Patient, row: RiskAssessment, before: str, now: datetime
) -> int | None:
    """One open risk alert at a time, and at most one a day (the dropout alerts' rule)."""
    today = local_today(now, patient.time_zone)
    standing = (
        await session.execute(
            select(Alert.id).where(
                Alert.patient_id == patient.id,
                Alert.kind == ALERT_KIND,
                or_(Alert.state == "open", Alert.raised_on == today),
            )
        )
    ).first()
    if standing is not None:
        return None
    alert = Alert(
        patient_id=patient.id,
        clinic_id=patient.clinic_id,
        kind=ALERT_KIND,
        raised_on=today,
        state="open",
        details={
            "assessment_id": row.id,
            "instrument": row.instrument_code,
            "from_band": before,
            "to_band": row.band,
        },
    )
    session.add(alert)
    await session.flush()
    add_to_outbox(
        session,
        Outbox,
        RiskAlertRaised(
            alert_id=alert.id,
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            instrument=row.instrument_code,
            from_band=before,
            to_band=row.band,
        ),
    )
    return alert.id


async def history(ctx: Scheduler, principal: Principal, patient_id: int) -> list[AssessmentOut]:
    """Every assessment of the patient, newest first, each with the band before it."""
    async with ctx.db.sessions() as session:
        patient = await load_patient(session, principal, patient_id)
        rows = list(
            (
                await session.execute(
                    select(RiskAssessment)
                    .where(RiskAssessment.patient_id == patient.id)
                    .order_by(RiskAssessment.assessed_at, RiskAssessment.id)
                )
            ).scalars()
        )
        alerts = {
            int(details["assessment_id"]): alert_id
            for alert_id, details in (
                await session.execute(
                    select(Alert.id, Alert.details).where(
                        Alert.patient_id == patient.id, Alert.kind == ALERT_KIND
                    )
                )
            ).all()
            if isinstance(details, dict) and "assessment_id" in details
        }
    last: dict[str, str] = {}
    out = []
    for row in rows:
        out.append(_out(row, last.get(row.instrument_code), alerts.get(row.id)))
        last[row.instrument_code] = row.band
    return out[::-1]
