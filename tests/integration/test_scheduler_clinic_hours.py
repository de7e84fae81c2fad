"""A clinic's weekly hours and take-home doses: a dose time before the opening or between
a split day's intervals moves to the next opening, a closed weekday suppresses with its
reason, a special day overrides its weekday; a clinic that gives take-home doses has a
notice planned once the day before a closed day (and delivered), one that does not has
none; survey questions wait out a closed day only when the clinic says so; the API (422)
and `mmt calendar hours` (exit 2) refuse hours that make no sense, naming the field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler import patients, planner
from services.scheduler.calendar_days import ClinicDayIn, clear_day, set_day
from services.scheduler.calendar_week import CalendarIn, set_calendar
from services.scheduler.clinic_calendar import CLOSED_REASON
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Occurrence, Outbox
from services.scheduler.readmodel import ask_survey_question
from services.scheduler.schemas import PauseIn
from shared.bus import decode
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.messages import SurveyRequested
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import ADMIN, clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")
NOW = datetime(2026, 12, 9, 16, 0, tzinfo=UTC)  # midnight in Yuxi: Thursday Dec 10 begins
THURSDAY, FRIDAY = date(2026, 12, 10), date(2026, 12, 11)
SPLIT = ["08:00-11:30", "14:00-17:00"]
WEEK = {"mon": SPLIT, "tue": SPLIT, "wed": SPLIT, "thu": SPLIT, "fri": SPLIT, "sat": [], "sun": []}
Plans = dict[tuple[str, date], tuple[str, datetime, str | None, str]]


async def _plans(db: Database, patient_id: int) -> Plans:
    async with db.sessions() as session:
        rows = (
            await session.execute(select(Occurrence).where(Occurrence.patient_id == patient_id))
        ).scalars()
        return {(r.kind, r.local_date): (r.state, r.due_at, r.reason, r.slot) for r in rows}


def _at(day: date, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(
        tzinfo=ZoneInfo("Asia/Shanghai")
    )


async def test_weekly_hours_move_dose_times_close_weekdays_and_yield_to_special_days(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db, "YX")
    early = (await enrol(ctx, yx, "0001", track=None)).id  # 07:30: before the opening
    noon = (await enrol(ctx, yx, "0002", track=None, dose_time="12:30")).id  # the break
    inside = (await enrol(ctx, yx, "0003", track=None, dose_time="09:00")).id
    made = await set_calendar(ctx, ADMIN, yx, CalendarIn(week=WEEK))
    assert made.week == WEEK
    assert made.replanned == 6  # two days of three patients' dose reminders
    assert (await _plans(scheduler_db, early))[("dose", FRIDAY)][:2] == (
        "planned",
        _at(FRIDAY, "08:00"),
    )
    assert (await _plans(scheduler_db, noon))[("dose", FRIDAY)][1] == _at(FRIDAY, "14:00")
    assert (await _plans(scheduler_db, inside))[("dose", FRIDAY)][1] == _at(FRIDAY, "09:00")
    # Closed on Fridays: suppressed with the reason, as a closed special day is.
    await set_calendar(ctx, ADMIN, yx, CalendarIn(week={**WEEK, "fri": []}))
    for patient in (early, noon, inside):
        plans = await _plans(scheduler_db, patient)
        assert plans[("dose", FRIDAY)][::2] == ("suppressed", CLOSED_REASON)
        assert plans[("dose", THURSDAY)][0] == "planned"
    # A special day overrides its weekday: open at other hours that Friday.
    await set_day(ctx, ADMIN, yx, FRIDAY, ClinicDayIn(opens_at="07:00", closes_at="12:00"))
    assert (await _plans(scheduler_db, early))[("dose", FRIDAY)][:2] == (
        "planned",
        _at(FRIDAY, "07:30"),
    )
    assert (await _plans(scheduler_db, noon))[("dose", FRIDAY)][1] == _at(FRIDAY, "07:00")
    await clear_day(ctx, ADMIN, yx, FRIDAY)
    assert (await _plans(scheduler_db, early))[("dose", FRIDAY)][0] == "suppressed"
    # No weekly hours again: every dose time is the patient's own.
    await set_calendar(ctx, ADMIN, yx, CalendarIn())
    assert (await _plans(scheduler_db, noon))[("dose", FRIDAY)][:2] == (
        "planned",
        _at(FRIDAY, "12:30"),
    )


async def test_take_home_doses_bring_one_notice_the_day_before_a_closed_day(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db, "YX")
    early = (await enrol(ctx, yx, "0001", track=None)).id
    noon = (await enrol(ctx, yx, "0002", track=None, dose_time="12:30", language="en")).id
    away = (await enrol(ctx, yx, "0003", track=None)).id
    await patients.pause(ctx, ADMIN, away, PauseIn(reason="住院"))
    closed_friday = {**WEEK, "fri": []}
    await set_calendar(ctx, ADMIN, yx, CalendarIn(week=closed_friday))
    assert not [k for k in await _plans(scheduler_db, early) if k[0] == "closure_notice"]

    await set_calendar(ctx, ADMIN, yx, CalendarIn(week=closed_friday, take_home=True))
    await planner.plan_ahead(scheduler_db, ctx.config, NOW)  # the worker's tick: no second
    slot = f"closure_notice:{FRIDAY.isoformat()}"
    # On Thursday at the dose-reminder time of Thursday (moved to the opening, as the dose).
    assert (await _plans(scheduler_db, early))[("closure_notice", THURSDAY)] == (
        "planned",
        _at(THURSDAY, "08:00"),
        None,
        slot,
    )
    noons = await _plans(scheduler_db, noon)
    # Closed on Saturdays too: Friday's notice goes at the usual time, Friday being closed.
    assert sorted(k[1] for k in noons if k[0] == "closure_notice") == [THURSDAY, FRIDAY]
    assert noons[("closure_notice", FRIDAY)][1] == _at(FRIDAY, "12:30")
    assert await _plans(scheduler_db, away) == {}  # paused: nothing planned

    console = ConsoleChannel("sms")
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None)
    for hhmm in ("08:00", "14:00"):  # each within its window
        await planner.release_due(scheduler_db, ctx.config, _at(THURSDAY, hhmm).astimezone(UTC))
    async with scheduler_db.sessions() as session:
        sends = select(Outbox.payload).where(Outbox.message_name == "SendMessage")
        commands = (await session.execute(sends)).scalars().all()
    for payload in commands:
        async with scheduler_db.transaction() as session:
            await dispatcher.handle(decode({"m": payload}), session)  # type: ignore[arg-type]
    texts = sorted(m.text for m in console.sent if m.kind == "closure_notice")
    assert len(texts) == 2  # one each, delivered
    assert any("明天门诊休息，请按约定安排。" in t for t in texts)
    assert any("the clinic is closed tomorrow" in t for t in texts)
    assert not any("methadone" in t or "美沙酮" in t for t in texts)  # discreet

    # Open that Friday after all (a special day): Thursday's unsent notices go.
    await set_day(ctx, ADMIN, yx, FRIDAY, ClinicDayIn(opens_at="08:00", closes_at="11:00"))
    later = (await enrol(ctx, yx, "0004", track=None, dose_time="16:00")).id
    assert ("closure_notice", THURSDAY) not in await _plans(scheduler_db, later)


async def test_survey_questions_wait_out_a_closed_day_only_when_the_clinic_says_so(
    scheduler_db: Database, access_db: Database
) -> None:
    ctx = context(scheduler_db, access_db)  # the real clock: the handler reads it
    yx = await clinic(access_db, "YX")
    patient = await enrol(ctx, yx, "0001", track=None, quiet_start="00:00", quiet_end="00:00")
    zone = ZoneInfo("Asia/Shanghai")
    holiday = datetime.now(zone).date() + timedelta(days=2)
    at = _at(holiday, "10:00")

    async def due(key: str) -> datetime:
        async with scheduler_db.sessions() as session:
            return (
                await session.execute(
                    select(Occurrence.due_at).where(Occurrence.slot == f"survey:1:{key}")
                )
            ).scalar_one()

    async def ask(key: str) -> datetime:
        event = SurveyRequested(
            patient_id=patient.id, run_id=1, question_key=key, text="Q?", not_before=at
        )
        async with scheduler_db.transaction() as session:
            await ask_survey_question(event, session)
        return await due(key)

    await set_day(ctx, ADMIN, yx, holiday, ClinicDayIn(closed=True))
    assert await ask("q1") == at  # closed for doses; surveys as usual
    await set_day(ctx, ADMIN, yx, holiday, ClinicDayIn(closed=True, skip_surveys=True))
    await set_day(
        ctx, ADMIN, yx, holiday + timedelta(days=1), ClinicDayIn(closed=True, skip_surveys=True)
    )
    assert await ask("q2") == _at(holiday + timedelta(days=2), "10:00")
    # The question planned before the flag waits too (each day's change moved it on).
    assert await due("q1") == _at(holiday + timedelta(days=2), "10:00")


@pytest.fixture
async def client(
    app_settings: Settings, access_db: Database, scheduler_db: Database, make_token: TokenFactory
) -> AsyncIterator[tuple[AsyncTestClient[Litestar], int]]:
    yx = await clinic(access_db, "YX")
    await enrol(context(scheduler_db, access_db), yx, "0001", track=None)
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as http:
        http.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        yield http, yx


async def test_the_hours_api_refuses_nonsense_with_422_naming_the_field(
    client: tuple[AsyncTestClient[Litestar], int],
) -> None:
    http, yx = client
    url = f"/api/v1/clinics/{yx}/calendar"
    assert (await http.get(url)).json()["week"] is None
    for week, reason in [
        ({**WEEK, "funday": []}, "week.funday: unknown weekday"),
        ({k: v for k, v in WEEK.items() if k != "tue"}, "week.tue: missing"),
        ({**WEEK, "mon": ["8:00-11:30"]}, "week.mon[0]: '8:00-11:30' is not HH:MM-HH:MM"),
        ({**WEEK, "wed": ["12:00-08:00"]}, "week.wed[0]: 12:00-08:00 ends before it starts"),
        ({**WEEK, "fri": ["08:00-12:00", "11:00-17:00"]}, "week.fri[1]: overlaps week.fri[0]"),
        ({day: [] for day in WEEK}, "week: closed every day"),
    ]:
        refused = await http.put(url, json={"week": week})
        assert refused.status_code == 422, week
        assert reason in refused.json()["detail"]
    made = await http.put(url, json={"week": WEEK, "take_home": True})
    assert made.status_code == 200, made.text
    assert made.json()["take_home"] is True
    assert made.json()["replanned"] >= 1  # at least tomorrow's dose reminder
    assert (await http.get(url)).json()["week"]["mon"] == SPLIT


@pytest.mark.usefixtures("database_env")
def test_mmt_calendar_hours_sets_shows_and_refuses_with_exit_2(
    client: tuple[AsyncTestClient[Litestar], int],
) -> None:
    runner = CliRunner()
    args = ["calendar", "hours", "set", "YX"]
    made = runner.invoke(mmt, [*args, "mon-fri=08:00-11:30,14:00-17:00", "sat,sun=closed"])
    assert made.exit_code == 0, made.output
    assert "mon: 08:00-11:30, 14:00-17:00" in made.output
    assert "sun: closed" in made.output
    assert "take-home doses on closed days: no" in made.output
    # Days not named keep their hours; --take-home alone keeps the week.
    runner.invoke(mmt, [*args, "sat=08:00-12:00"])
    shown = runner.invoke(mmt, [*args, "--take-home"]).output
    assert "sat: 08:00-12:00" in shown
    assert "take-home doses on closed days: yes" in shown
    for bad, reason in [
        ("funday=08:00-12:00", "'funday': unknown weekday"),
        ("mon=8:00-12:00", "week.mon[0]: '8:00-12:00' is not HH:MM-HH:MM"),
        ("mon=12:00-08:00", "ends before it starts"),
        ("mon=08:00-12:00,11:00-13:00", "week.mon[1]: overlaps week.mon[0]"),
        ("mon", "give DAYS=HOURS"),
        ("fri-mon=08:00-12:00", "a range runs forwards"),
    ]:
        refused = runner.invoke(mmt, [*args, bad])
        assert refused.exit_code == 2, (bad, refused.output)
        assert reason in refused.output
    assert runner.invoke(mmt, ["calendar", "hours", "show", "KM"]).exit_code == 1
    cleared = runner.invoke(mmt, ["calendar", "hours", "clear", "YX"])
    assert "no weekly hours" in cleared.output
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    quiet = runner.invoke(mmt, ["calendar", "set", "YX", day, "--closed", "--skip-surveys"])
    assert f"{day}: closed, no surveys" in quiet.output
