"""Enrolment and the patient record on the real database: validation, scope, encryption."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.scheduler import patients
from services.scheduler.models import Outbox, Patient
from services.scheduler.schemas import PatientPatch, PauseIn, TransferIn
from shared.access.tokens import Principal, Role
from shared.bus import decode
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound
from tests.integration.schedutil import ADMIN, clinic, context, enrol, patient_in

pytestmark = pytest.mark.usefixtures("secrets_env")


async def test_enrolment_stores_identifiers_encrypted_and_announces_hashes_only(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    made = await enrol(
        ctx,
        yx,
        "0001",
        phone="138 0013 8000",
        wechat_openid="o" + "x" * 27,
        channel_order=["wechat", "sms"],
    )
    assert made.phone == "+8613800138000"  # normalised to E.164
    assert made.has_wechat
    async with scheduler_db.sessions() as session:
        row = (await session.execute(select(Patient))).scalar_one()
        outbox = (await session.execute(select(Outbox))).scalars().all()
    assert row.phone_enc is not None
    assert "13800138000" not in row.phone_enc
    assert row.phone_hash == ctx.require_cipher().lookup_hash("+8613800138000")
    [event] = [decode({"m": o.payload}) for o in outbox]
    assert event.tag() == "PatientEnrolled.v1"
    assert "13800138000" not in o_payload_text(outbox)


def o_payload_text(outbox: list[Outbox]) -> str:
    return b"".join(o.payload for o in outbox).decode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"phone": "12345"}, "phone is not a valid"),
        ({"channel_order": ["wechat"]}, "no wechat_openid"),
        ({"channel_order": ["sms", "sms"]}, "lists a channel twice"),
        ({"wechat_openid": "short", "channel_order": ["sms"]}, "wechat_openid must be"),
    ],
)
async def test_bad_enrolments_are_refused_with_a_reason_and_write_nothing(
    scheduler_db: Database,
    access_db: Database,
    changes: dict[str, object],
    reason: str,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    with pytest.raises(InvalidInput, match=reason):
        await patients.enrol(ctx, ADMIN, patient_in(yx, "0002", **changes))
    async with scheduler_db.sessions() as session:
        assert (await session.execute(select(Patient))).first() is None


async def test_duplicate_clinic_number_is_a_conflict(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    await enrol(ctx, yx, "0003")
    with pytest.raises(Conflict, match="already has a patient numbered '0003'"):
        await enrol(ctx, yx, "0003")


async def test_coordinators_reach_only_their_clinics_patients(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    mine = await enrol(ctx, yx, "0004")
    theirs = await enrol(ctx, km, "0004")
    coordinator = Principal("coord0000000", Role.COORDINATOR, frozenset({yx}))
    assert (await patients.get(ctx, coordinator, mine.id)).id == mine.id
    with pytest.raises(NotFound):
        await patients.get(ctx, coordinator, theirs.id)
    with pytest.raises(NotFound):
        await patients.enrol(ctx, coordinator, patient_in(km, "0005"))
    found = await patients.search(
        ctx,
        coordinator,
        clinic_id=None,
        clinic_number=None,
        phone=None,
        state=None,
        after_id=None,
        limit=50,
    )
    assert [p.id for p in found] == [mine.id]
    by_phone = await patients.search(
        ctx,
        ADMIN,
        clinic_id=None,
        clinic_number=None,
        phone="13800130004",
        state=None,
        after_id=None,
        limit=50,
    )
    assert sorted(p.id for p in by_phone) == sorted([mine.id, theirs.id])


async def test_pause_resume_discharge_and_transfer(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    p = await enrol(ctx, yx, "0006")
    paused = await patients.pause(
        ctx,
        ADMIN,
        p.id,
        PauseIn(reason="compulsory detoxification", resume_on=date.today() + timedelta(days=90)),
    )
    assert (paused.state, paused.pause_reason) == ("paused", "compulsory detoxification")
    with pytest.raises(InvalidInput, match="future date"):
        await patients.pause(ctx, ADMIN, p.id, PauseIn(reason="x", resume_on=date.today()))
    assert (await patients.resume(ctx, ADMIN, p.id)).state == "active"
    moved = await patients.transfer(ctx, ADMIN, p.id, TransferIn(clinic_id=km, clinic_number="K-1"))
    assert (moved.clinic_id, moved.clinic_number) == (km, "K-1")
    updated = await patients.update(
        ctx, ADMIN, p.id, PatientPatch(dose_time="08:15", lesson_weekdays=[5, 1, 3], language="en")
    )
    assert (updated.dose_time, updated.lesson_weekdays, updated.language) == (
        "08:15",
        [1, 3, 5],
        "en",
    )
    with pytest.raises(InvalidInput, match="no wechat_openid"):
        await patients.update(ctx, ADMIN, p.id, PatientPatch(channel_order=["wechat"]))
    assert (await patients.get(ctx, ADMIN, p.id)).channel_order == ["sms"]  # unchanged
    gone = await patients.discharge(ctx, ADMIN, p.id)
    assert gone.state == "discharged"
    with pytest.raises(Conflict):
        await patients.resume(ctx, ADMIN, p.id)
