"""A clinic's special days: a closed day's dose reminder is planned suppressed with its
reason, a shortened day moves a dose time outside its hours to the opening (across a DST
change too), each change re-plans the day at once, and the API refuses what makes no sense
and stays within the clinic. Also: a pause with a resume date resumes by itself, and a
transferred patient's time zone follows the new clinic unless it was set apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler import patients, planner
from services.scheduler.calendar_days import ClinicDayIn, clear_day, set_day
from services.scheduler.clinic_calendar import CLOSED_REASON
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Occurrence, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.readmodel import store_curriculum
from services.scheduler.schemas import PauseIn, TransferIn
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.errors import InvalidInput
from shared.messages import Cadence, CurriculumPublished, LessonText, PublishedLesson
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import ADMIN, clinic, context, dispatch_due, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
NOW = datetime(2026, 12, 9, 16, 0, tzinfo=UTC)  # midnight in Yuxi: Dec 10 begins
TOMORROW = date(2026, 12, 11)


async def _doses(db: Database, patient_id: int) -> dict[date, tuple[str, datetime, str | None]]:
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(Occurrence).where(
                    Occurrence.patient_id == patient_id, Occurrence.kind == "dose"
                )
            )
        ).scalars()
        return {row.local_date: (row.state, row.due_at, row.reason) for row in rows}


async def _yuxi(scheduler_db: Database, access_db: Database) -> tuple[Scheduler, int, int, int]:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db, "YX")
    early = await enrol(ctx, yx, "0001", track=None)  # 07:30
    late = await enrol(ctx, yx, "0002", track=None, dose_time="13:00")
    return ctx, yx, early.id, late.id


def _at(day: date, hhmm: str, zone: str = "Asia/Shanghai") -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(tzinfo=ZoneInfo(zone))


async def test_a_closed_day_suppresses_its_dose_reminder_and_reopening_plans_it_again(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx, yx, early, late = await _yuxi(scheduler_db, access_db)
    assert (await _doses(scheduler_db, early))[TOMORROW][:2] == (
        "planned",
        _at(TOMORROW, "07:30"),
    )
    closed = await set_day(ctx, ADMIN, yx, TOMORROW, ClinicDayIn(closed=True, note="春节"))
    assert closed.closed
    for patient in (early, late):
        plans = await _doses(scheduler_db, patient)
        assert plans[TOMORROW][0] == "suppressed"
        assert plans[TOMORROW][2] == CLOSED_REASON
        assert plans[TOMORROW - timedelta(days=1)][0] == "planned"  # other days as they were
    await clear_day(ctx, ADMIN, yx, TOMORROW)
    assert (await _doses(scheduler_db, early))[TOMORROW] == (
        "planned",
        _at(TOMORROW, "07:30"),
        None,
    )


async def test_a_shortened_day_moves_dose_times_outside_its_hours_to_the_opening(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx, yx, early, late = await _yuxi(scheduler_db, access_db)
    other = await clinic(access_db, "KM")
    elsewhere = await enrol(ctx, other, "0003", track=None)
    changed = await set_day(
        ctx, ADMIN, yx, TOMORROW, ClinicDayIn(opens_at="09:00", closes_at="12:00")
    )
    assert (changed.opens_at, changed.closes_at) == ("09:00", "12:00")
    assert changed.replanned == 2
    before_opening = (await _doses(scheduler_db, early))[TOMORROW]
    after_closing = (await _doses(scheduler_db, late))[TOMORROW]
    assert before_opening[:2] == ("planned", _at(TOMORROW, "09:00"))
    assert after_closing[:2] == ("planned", _at(TOMORROW, "09:00"))
    # Another clinic's patient keeps their time; a dose time inside the hours stays too.
    assert (await _doses(scheduler_db, elsewhere.id))[TOMORROW][1] == _at(TOMORROW, "07:30")
    await set_day(ctx, ADMIN, yx, TOMORROW, ClinicDayIn(opens_at="07:00", closes_at="16:00"))
    assert (await _doses(scheduler_db, early))[TOMORROW][1] == _at(TOMORROW, "07:30")
    assert (await _doses(scheduler_db, late))[TOMORROW][1] == _at(TOMORROW, "13:00")


async def test_holiday_hours_on_the_day_american_clocks_spring_forward(
    scheduler_db: Database, access_db: Database
) -> None:
    zone = "America/New_York"
    saturday = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # 07:00 EST; DST begins Sunday 02:00
    ctx = context(scheduler_db, access_db, clock=lambda: saturday)
    ny = await clinic(access_db, "NY", tz=zone)
    patient = await enrol(
        ctx, ny, "0001", track=None, dose_time="08:00", quiet_start="00:00", quiet_end="00:00"
    )
    sunday = date(2026, 3, 8)
    assert (await _doses(scheduler_db, patient.id))[sunday][1] == datetime(
        2026, 3, 8, 12, 0, tzinfo=UTC
    )  # 08:00 EDT
    await set_day(ctx, ADMIN, ny, sunday, ClinicDayIn(opens_at="10:00", closes_at="14:00"))
    state, due, _ = (await _doses(scheduler_db, patient.id))[sunday]
    assert state == "planned"
    assert due == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # 10:00 EDT, not EST's 15:00 UTC
    assert due.astimezone(ZoneInfo(zone)).hour == 10


@pytest.fixture
async def api(
    app_settings: Settings, access_db: Database, scheduler_db: Database, make_token: TokenFactory
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], int, int]]:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        yield client, yx, km


async def test_the_calendar_api_refuses_nonsense_and_stays_in_the_clinic(
    api: tuple[AsyncTestClient[Litestar], int, int],
) -> None:
    client, yx, km = api
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    url = f"/api/v1/clinics/{yx}/days/{day}"
    for body, reason in [
        ({"closed": True, "opens_at": "08:00"}, "a closed day has no hours"),
        ({"opens_at": "08:00"}, "give both, or closed: true"),
        ({"opens_at": "12:00", "closes_at": "08:00"}, "closes_at: must be after opens_at"),
        ({"opens_at": "8:00", "closes_at": "12:00"}, "opens_at"),
        ({"closed": True, "why": "x"}, "why"),
    ]:
        refused = await client.put(url, json=body)
        assert refused.status_code == 400, body
        assert reason in refused.text
    past = await client.put(f"/api/v1/clinics/{yx}/days/2020-01-01", json={"closed": True})
    assert past.status_code == 400
    assert "in the past" in past.text
    foreign = await client.put(f"/api/v1/clinics/{km}/days/{day}", json={"closed": True})
    assert foreign.status_code == 404
    made = await client.put(url, json={"closed": True, "note": "春节"})
    assert made.status_code == 200
    listed = (await client.get(f"/api/v1/clinics/{yx}/days")).json()
    assert [(d["day"], d["closed"], d["note"]) for d in listed] == [(day, True, "春节")]
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(f"/api/v1/clinics/{yx}/days")).json() == []


async def test_a_pause_with_a_resume_date_resumes_by_itself_and_reminders_follow(
    scheduler_db: Database, access_db: Database
) -> None:
    clock = [NOW]
    ctx = context(scheduler_db, access_db, clock=lambda: clock[0])
    yx = await clinic(access_db, "YX")
    patient = await enrol(ctx, yx, "0001", track=None)
    back = date(2026, 12, 13)
    await patients.pause(ctx, ADMIN, patient.id, PauseIn(reason="住院", resume_on=back))
    assert await _doses(scheduler_db, patient.id) == {}  # nothing planned while away

    async def tick(at: datetime) -> None:  # the worker's planning tick (worker.plan)
        clock[0] = at
        await planner.resume_due(scheduler_db, at)
        await planner.plan_ahead(scheduler_db, ctx.config, at)

    await tick(_at(date(2026, 12, 12), "23:30").astimezone(UTC))  # the evening before
    assert (await patients.get(ctx, ADMIN, patient.id)).state == "paused"
    assert await _doses(scheduler_db, patient.id) == {}
    await tick(_at(back, "00:10").astimezone(UTC))
    resumed = await patients.get(ctx, ADMIN, patient.id)
    assert (resumed.state, resumed.resume_on) == ("active", None)
    assert (await _doses(scheduler_db, patient.id))[back][:2] == ("planned", _at(back, "07:30"))

    console = ConsoleChannel("sms")
    at_dose_time = _at(back, "07:30").astimezone(UTC)
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None)
    await dispatch_due(scheduler_db, dispatcher, at_dose_time)
    [sent] = list(console.sent)
    assert sent.kind == "dose"


async def test_a_transferred_patient_s_time_zone_follows_the_new_clinic_unless_set_apart(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db, "YX")
    urumqi = await clinic(access_db, "UR", tz="Asia/Urumqi")
    ny = await clinic(access_db, "NY", tz="America/New_York")
    following = await enrol(ctx, yx, "0001", track=None)  # the clinic's zone
    apart = await enrol(ctx, yx, "0002", track=None, time_zone="Asia/Tokyo")
    moved = await patients.transfer(
        ctx, ADMIN, following.id, TransferIn(clinic_id=urumqi, clinic_number="U-1")
    )
    assert moved.time_zone == "Asia/Urumqi"
    plans = await _doses(scheduler_db, following.id)
    day = date(2026, 12, 10)  # Urumqi's tomorrow: still Dec 9 there at NOW
    assert plans[day][:2] == ("planned", _at(day, "07:30", "Asia/Urumqi"))
    assert TOMORROW not in plans  # Yuxi's plans went with Yuxi's zone
    kept = await patients.transfer(
        ctx, ADMIN, apart.id, TransferIn(clinic_id=ny, clinic_number="N-1")
    )
    assert kept.time_zone == "Asia/Tokyo"  # chosen apart from the clinic's: it stays


@pytest.fixture
async def yuxi_now(scheduler_db: Database, access_db: Database) -> int:
    """Clinic YX and a patient of it, planned at the real time (the CLI's clock)."""
    yx = await clinic(access_db, "YX")
    await enrol(context(scheduler_db, access_db), yx, "0001", track=None)
    return yx


@pytest.mark.usefixtures("database_env")
def test_mmt_calendar_sets_lists_and_clears_days_and_refuses_with_reasons(yuxi_now: int) -> None:
    runner = CliRunner()
    day = (datetime.now(UTC) + timedelta(days=1)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    made = runner.invoke(
        mmt, ["calendar", "set", "YX", day.isoformat(), "--closed", "--note", "春节"]
    )
    assert made.exit_code == 0, made.output
    assert f"{day.isoformat()}: closed (春节)" in made.output
    assert "1 dose reminders planned again" in made.output
    listed = runner.invoke(mmt, ["calendar", "list", str(yuxi_now)])
    assert listed.output.strip() == f"{day.isoformat()}: closed (春节)"
    hours = ["calendar", "set", "YX", day.isoformat(), "--opens", "09:00", "--closes", "12:00"]
    assert "open 09:00-12:00" in runner.invoke(mmt, hours).output
    for args, reason in [
        (["set", "YX", day.isoformat(), "--opens", "9:00", "--closes", "12:00"], "opens_at"),
        (["set", "YX", day.isoformat(), "--opens", "12:00", "--closes", "09:00"], "after opens"),
        (["set", "YX", "2020-01-01", "--closed"], "in the past"),
        (["set", "YX", "tomorrow", "--closed"], "is not a date"),
        (["set", "KM", day.isoformat(), "--closed"], "unknown clinic(s): KM"),
    ]:
        refused = runner.invoke(mmt, ["calendar", *args])
        assert refused.exit_code == 1, args
        assert reason in refused.output, refused.output
    cleared = runner.invoke(mmt, ["calendar", "clear", "YX", day.isoformat()])
    assert cleared.exit_code == 0
    assert runner.invoke(mmt, ["calendar", "list", "YX"]).output.strip() == "no special days"


async def test_a_closed_day_keeps_lessons_away_only_when_the_clinic_says_so(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx, yx, early, _late = await _yuxi(scheduler_db, access_db)
    friday = CurriculumPublished(
        track="core",
        version=1,
        titles={"zh-CN": "核心"},
        next_track=None,
        cadence=Cadence(lessons_per_week=1, weekdays=[5], local_time="19:00"),
        lessons=[
            PublishedLesson(
                key="l1",
                position=1,
                module="m",
                texts={"zh-CN": LessonText(title="第1课", notification="今天的健康小课堂")},
            )
        ],
    )
    async with scheduler_db.transaction() as session:
        await store_curriculum(friday, session)
        await session.execute(update(Patient).where(Patient.id == early).values(track="core"))
    await planner.plan_ahead(scheduler_db, ctx.config, NOW)

    async def lessons() -> list[date]:
        async with scheduler_db.sessions() as session:
            rows = await session.execute(
                select(Occurrence.local_date).where(
                    Occurrence.patient_id == early, Occurrence.kind == "lesson"
                )
            )
            return list(rows.scalars())

    assert await lessons() == [TOMORROW]  # a Friday
    await set_day(ctx, ADMIN, yx, TOMORROW, ClinicDayIn(closed=True))
    assert await lessons() == [TOMORROW]  # closed for doses; lessons as usual
    away = await set_day(ctx, ADMIN, yx, TOMORROW, ClinicDayIn(closed=True, skip_lessons=True))
    assert away.skip_lessons
    assert await lessons() == []
    await clear_day(ctx, ADMIN, yx, TOMORROW)
    assert await lessons() == [TOMORROW]
    with pytest.raises(InvalidInput, match="only a closed day keeps lessons away"):
        await set_day(
            ctx,
            ADMIN,
            yx,
            TOMORROW,
            ClinicDayIn(skip_lessons=True, opens_at="09:00", closes_at="12:00"),
        )
