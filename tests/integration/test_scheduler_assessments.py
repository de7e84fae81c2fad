"""Assessments over HTTP and through the patient's link: questionnaires loaded, answers
recorded and scored with the version (422 naming a wrong answer's question), clinic scope,
history; the follow-up plan, the clinic's due list with the overdue flagged, the reminders
planned; the self-assessment page (good, tampered, expired, discharged, sent twice)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml  # type: ignore[import-untyped]
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler import planner
from services.scheduler.assessment_cli import read_questionnaires
from services.scheduler.assessment_links import AssessmentLinks
from services.scheduler.assessment_models import Assessment, AssessmentDue
from services.scheduler.assessment_plan import KIND, attach_schedule, follow_up_points
from services.scheduler.assessments import store_questionnaire
from services.scheduler.dispatch import Dispatcher
from services.scheduler.models import Message, Occurrence, Patient
from services.scheduler.record_links import RecordLink
from services.scheduler.settings import SchedulerSettings
from shared.channels import ChannelRegistry
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.messages import SendMessage
from shared.settings import Settings
from tests.conftest import TokenFactory, build_service_app
from tests.integration.schedutil import clinic, context
from tests.unit.test_assessment_definition import SHIPPED, SHIPPED_CASES

BASE = "https://mmt.example.cn"
YUXI = yaml.safe_load(
    (Path(__file__).parents[2] / "studies" / "yuxi-wechat.yaml").read_text(encoding="utf-8")
)
Client = AsyncTestClient[Litestar]
MOTIVATION, MOTIVATION_SCORES = SHIPPED_CASES[0][1], SHIPPED_CASES[0][2]
HIV, HIV_SCORES = SHIPPED_CASES[2][1], SHIPPED_CASES[2][2]


@dataclass
class World:
    client: Client
    db: Database
    secret: str
    yx: int
    km: int
    admin: dict[str, str]
    patient: int  # a YX patient, English
    other: int  # a KM patient


def _enrolment(clinic_id: int, number: str) -> dict[str, object]:
    return {
        "clinic_id": clinic_id,
        "clinic_number": number,
        "display_name": "W.L.",
        "phone": "13900139000",
        "language": "en",
        "consent": {"version": "2026-01", "given_at": "2026-11-20T09:00:00+08:00"},
    }


@pytest.fixture
async def world(
    monkeypatch: pytest.MonkeyPatch,
    app_settings: Settings,
    secrets_env: dict[str, str],
    access_db: Database,
    scheduler_db: Database,
    make_token: TokenFactory,
) -> AsyncIterator[World]:
    monkeypatch.setenv("SCHEDULER_PUBLIC_URL", BASE)
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    found, problems = read_questionnaires([SHIPPED])
    assert problems == []
    for _name, form in found:
        await store_questionnaire(scheduler_db, form, None, "test")
    admin = {"Authorization": f"Bearer {await make_token('admin')}"}
    async with AsyncTestClient(app=build_service_app("scheduler", app_settings)) as client:
        client.headers["Authorization"] = f"Bearer {await make_token('coordinator', ['YX'])}"
        patient = (await client.post("/api/v1/patients", json=_enrolment(yx, "A-1"))).json()
        other = await client.post("/api/v1/patients", json=_enrolment(km, "B-1"), headers=admin)
        yield World(
            client,
            scheduler_db,
            secrets_env["LESSON_LINK_SECRET"],
            yx,
            km,
            admin,
            patient["id"],
            other.json()["id"],
        )


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def test_answers_are_scored_and_kept_with_the_version_and_wrong_ones_named(
    world: World,
) -> None:
    client, path = world.client, f"/api/v1/patients/{world.patient}/assessments"
    listed = await client.get("/api/v1/assessment-instruments", params={"clinic_id": world.yx})
    assert {row["code"] for row in listed.json()} == {case[0] for case in SHIPPED_CASES}

    body = {"instrument": "treatment-motivation", "answers": MOTIVATION, "assessed_by": "Dr Li"}
    first = await client.post(path, json={**body, "assessed_at": "2026-11-25T09:00:00+08:00"})
    assert first.status_code == 201, first.text
    assert first.json()["scores"] == MOTIVATION_SCORES
    assert (first.json()["version"], first.json()["mode"]) == (1, "staff")
    again = await client.post(path, json={**body, "assessed_at": "2026-11-25T09:00:00+08:00"})
    assert again.json()["already_recorded"] is True
    assert again.json()["id"] == first.json()["id"]

    # One answer left out and one null: two missing where the score allows one.
    fewer = {**HIV, "hiv-8": None}
    del fewer["hiv-7"]
    later = {"instrument": "hiv-knowledge", "answers": fewer, "assessed_by": "Dr Li"}
    missing = await client.post(path, json={**later, "assessed_at": _now()})
    assert missing.status_code == 201
    assert missing.json()["scores"] == {"awareness": None}
    assert missing.json()["answers"] == {f"hiv-{i}": "true" for i in range(1, 7)}
    wrong = {**body, "answers": {**MOTIVATION, "pr-2": "7", "zz": "1"}, "assessed_at": _now()}
    bad = await client.post(path, json=wrong)
    assert bad.status_code == 422
    assert "answers.pr-2: '7' is not one of 1, 2, 3, 4, 5" in bad.json()["detail"]
    assert "answers.zz: not a question" in bad.json()["detail"]

    history = (await client.get(path)).json()
    assert [row["instrument"] for row in history] == ["hiv-knowledge", "treatment-motivation"]
    assert history[1]["answers"] == MOTIVATION

    # Another clinic's patient is not there, to record or to read.
    elsewhere = f"/api/v1/patients/{world.other}/assessments"
    assert (await client.post(elsewhere, json={**body, "assessed_at": _now()})).status_code == 404
    assert (await client.get(elsewhere)).status_code == 404
    async with world.db.sessions() as session:
        rows = (await session.execute(select(Assessment))).scalars().all()
    assert len(rows) == 2


async def test_the_plan_lists_what_is_due_flags_the_overdue_and_plans_reminders(
    world: World,
) -> None:
    client = world.client
    today = datetime.now(UTC).astimezone().date()
    plan = {
        "instruments": ["hiv-knowledge", "treatment-motivation"],
        "points": [
            {"time_point": "baseline", "due_on": (today - timedelta(days=3)).isoformat()},
            {"time_point": "month-2", "due_on": (today + timedelta(days=2)).isoformat()},
            {"time_point": "month-3", "due_on": (today + timedelta(days=40)).isoformat()},
        ],
    }
    path = f"/api/v1/patients/{world.patient}/assessment-plan"
    planned = await client.put(path, json=plan)
    assert planned.status_code == 200, planned.text
    assert len(planned.json()) == 6
    due = await client.get(f"/api/v1/clinics/{world.yx}/assessments-due")
    rows = [(r["instrument"], r["time_point"], r["overdue"]) for r in due.json()]
    assert rows == [
        ("hiv-knowledge", "baseline", True),
        ("treatment-motivation", "baseline", True),
        ("hiv-knowledge", "month-2", False),
        ("treatment-motivation", "month-2", False),
    ]  # month-3 is beyond the week ahead
    until = (today + timedelta(days=60)).isoformat()
    later = await client.get(f"/api/v1/clinics/{world.yx}/assessments-due?until={until}")
    assert len(later.json()) == 6
    assert (await client.get(f"/api/v1/clinics/{world.km}/assessments-due")).status_code == 404

    # A reminder on each day to come, none for the day gone by.
    async with world.db.sessions() as session:
        reminders = (
            await session.execute(select(Occurrence).where(Occurrence.kind == KIND))
        ).scalars()
        days = sorted((row.local_date, row.state) for row in reminders)
    assert [state for _day, state in days] == ["planned"] * 4
    assert {day for day, _state in days} == {today + timedelta(days=2), today + timedelta(40)}

    # Recorded at its time point, the baseline is done and leaves the due list.
    done = await client.post(
        f"/api/v1/patients/{world.patient}/assessments",
        json={
            "instrument": "hiv-knowledge",
            "answers": HIV,
            "assessed_by": "Dr Li",
            "assessed_at": _now(),
            "time_point": "baseline",
        },
    )
    assert done.status_code == 201, done.text
    states = {
        (r["instrument"], r["time_point"]): r["state"] for r in (await client.get(path)).json()
    }
    assert states[("hiv-knowledge", "baseline")] == "done"
    assert states[("treatment-motivation", "baseline")] == "overdue"
    due = await client.get(f"/api/v1/clinics/{world.yx}/assessments-due")
    assert ("hiv-knowledge", "baseline") not in [
        (r["instrument"], r["time_point"]) for r in due.json()
    ]
    twice = await client.post(
        f"/api/v1/patients/{world.patient}/assessments",
        json={
            "instrument": "hiv-knowledge",
            "answers": HIV,
            "assessed_by": "Dr Li",
            "assessed_at": "2026-11-30T10:00:00+08:00",
            "time_point": "baseline",
        },
    )
    assert twice.status_code == 409
    # Moved, a time point not done takes its reminder with it.
    moved = {**plan, "points": plan["points"][1:2]}
    moved["points"] = [{"time_point": "month-2", "due_on": (today + timedelta(5)).isoformat()}]
    assert (await client.put(path, json=moved)).status_code == 200
    async with world.db.sessions() as session:
        reminders = (
            await session.execute(select(Occurrence).where(Occurrence.kind == KIND))
        ).scalars()
        moved_days = sorted(row.local_date for row in reminders)
    assert moved_days == [today + timedelta(5)] * 2 + [today + timedelta(40)] * 2
    elsewhere = await client.put(f"/api/v1/patients/{world.other}/assessment-plan", json=plan)
    assert elsewhere.status_code == 404


async def test_a_study_attaches_its_follow_up_schedule_through_the_hook(world: World) -> None:
    start = date(2027, 1, 31)
    points = follow_up_points(start, [("baseline", 0), ("month-2", 2), ("month-3", 3)])
    assert points == [
        ("baseline", date(2027, 1, 31)),
        ("month-2", date(2027, 3, 31)),
        ("month-3", date(2027, 4, 30)),  # the month's last day
    ]
    async with world.db.transaction() as session:
        patient = await session.get(Patient, world.patient)
        assert patient is not None
        rows = await attach_schedule(
            session,
            patient,
            ["treatment-motivation"],
            points,
            study_id=7,
            created_by="study",
            now=datetime.now(UTC),
        )
    assert [(row.time_point, row.study_id) for row in rows] == [
        ("baseline", 7),
        ("month-2", 7),
        ("month-3", 7),
    ]
    plan = (await world.client.get(f"/api/v1/patients/{world.patient}/assessment-plan")).json()
    assert [row["due_on"] for row in plan] == [day.isoformat() for _label, day in points]


async def test_a_participant_is_planned_at_the_study_s_time_points_from_the_baseline(
    world: World,
) -> None:
    client = world.client
    study = await client.post("/api/v1/studies", json={"definition": YUXI}, headers=world.admin)
    assert study.status_code == 201, study.text
    study_id = study.json()["id"]
    path = f"/api/v1/patients/{world.patient}/assessment-plan/study/{study_id}"
    body = {"instruments": ["treatment-motivation", "hcv-knowledge"]}
    assert (await client.put(path, json=body)).status_code == 404  # not in the study
    enrolled = await client.post(
        f"/api/v1/patients/{world.patient}/studies",
        json={
            "study_id": study_id,
            "consent": {"version": "yuxi-v1", "given_at": "2026-11-30T09:00:00+08:00"},
            "strata": {"sex": "male", "age_band": "40-49"},
        },
    )
    assert enrolled.status_code == 201, enrolled.text
    no_baseline = await client.put(path, json=body)
    assert no_baseline.status_code == 409
    assert "no baseline" in no_baseline.json()["detail"]
    baseline = f"/api/v1/patients/{world.patient}/studies/{study_id}/baseline"
    assert (await client.post(baseline, json={"on": "2026-11-30"})).status_code == 200
    planned = await client.put(path, json=body)
    assert planned.status_code == 200, planned.text
    rows = [(r["instrument"], r["time_point"], r["due_on"], r["study_id"]) for r in planned.json()]
    assert rows == [
        ("hcv-knowledge", "baseline", "2026-11-30", study_id),
        ("treatment-motivation", "baseline", "2026-11-30", study_id),
        ("hcv-knowledge", "month-3", "2027-02-28", study_id),  # 30 November + 3 months
        ("treatment-motivation", "month-3", "2027-02-28", study_id),
    ]


async def _link(world: World, instrument: str = "hiv-knowledge") -> tuple[int, str]:
    plan = {
        "instruments": [instrument],
        "points": [{"time_point": "baseline", "due_on": date.today().isoformat()}],
    }
    path = f"/api/v1/patients/{world.patient}/assessment-plan"
    [row] = (await world.client.put(path, json=plan)).json()
    issued = await world.client.post(f"{path}/{row['id']}/link")
    assert issued.status_code == 201, issued.text
    url = issued.json()["url"]
    assert url.startswith(f"{BASE}/a/")
    # The token names the time point's opaque reader, never the patient.
    link = AssessmentLinks(world.secret, BASE).read(url.removeprefix(f"{BASE}/a/"))
    async with world.db.sessions() as session:
        due = await session.get(AssessmentDue, row["id"])
    assert due is not None
    assert (link.reader, link.language) == (due.reader, "en")
    return row["id"], url.removeprefix(BASE)


async def test_the_patient_answers_once_through_the_link_in_their_language(
    world: World,
) -> None:
    client = world.client
    _due_id, page = await _link(world)
    shown = await client.get(page)
    assert shown.status_code == 200
    assert "HIV knowledge" in shown.text
    assert "Don&#x27;t know" in shown.text or "Don't know" in shown.text
    assert shown.headers["cache-control"] == "no-store"

    wrong = await client.post(page, data={**HIV, "hiv-3": "maybe"})
    assert wrong.status_code == 422
    assert 'class="wrong"><legend>3. Mosquito bites' in wrong.text
    assert 'value="true" checked' in wrong.text  # what was given stays chosen

    sent = await client.post(page, data=HIV)
    assert sent.status_code == 200, sent.text
    assert "Thank you" in sent.text
    [row] = (await client.get(f"/api/v1/patients/{world.patient}/assessments")).json()
    assert (row["mode"], row["assessed_by"], row["time_point"]) == ("self", "patient", "baseline")
    assert row["scores"] == HIV_SCORES

    assert (await client.post(page, data=HIV)).status_code == 409  # not twice
    assert (await client.get(page)).status_code == 409
    plan = (await client.get(f"/api/v1/patients/{world.patient}/assessment-plan")).json()
    assert plan[0]["state"] == "done"
    assert (
        await client.post(f"/api/v1/patients/{world.patient}/assessment-plan/{plan[0]['id']}/link")
    ).status_code == 409

    token = page.removeprefix("/a/")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert (await client.get(f"/a/{tampered}")).status_code == 404
    # A record page's token is not an assessment page's.
    assert (await client.get(f"/r/{token}")).status_code == 404


async def test_an_expired_link_or_a_discharged_patient_shows_nothing(world: World) -> None:
    client = world.client
    due_id, page = await _link(world, "treatment-motivation")
    async with world.db.sessions() as session:
        due = await session.get(AssessmentDue, due_id)
        assert due is not None
        reader = due.reader
    past = AssessmentLinks(world.secret, BASE, clock=lambda: time.time() - 15 * 86_400)
    expired = past.url(RecordLink(reader, "en"))
    assert expired is not None
    assert (await client.get(expired.removeprefix(BASE))).status_code == 410
    assert (await client.post(expired.removeprefix(BASE), data=MOTIVATION)).status_code == 410

    assert (await client.get(page)).status_code == 200
    discharged = await client.post(f"/api/v1/patients/{world.patient}/discharge")
    assert discharged.status_code in (200, 201), discharged.text
    assert (await client.get(page)).status_code == 410
    assert (await client.post(page, data=MOTIVATION)).status_code == 410
    async with world.db.sessions() as session:
        assert (await session.execute(select(Assessment))).first() is None


async def test_the_reminder_carries_the_link_discreetly_and_is_skipped_once_answered(
    world: World, access_db: Database
) -> None:
    path = f"/api/v1/patients/{world.patient}/assessment-plan"
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    plan = {
        "instruments": ["hiv-knowledge", "methadone-knowledge"],
        "points": [{"time_point": "month-2", "due_on": today.isoformat()}],
    }
    assert (await world.client.put(path, json=plan)).status_code == 200
    async with world.db.sessions() as session:
        reminders = (
            (await session.execute(select(Occurrence).where(Occurrence.kind == KIND)))
            .scalars()
            .all()
        )
    # Answered by staff before its reminder goes, the methadone one is not sent.
    answered = {f"methadone-{i}": "true" for i in range(1, 9)}
    recorded = await world.client.post(
        f"/api/v1/patients/{world.patient}/assessments",
        json={
            "instrument": "methadone-knowledge",
            "answers": answered,
            "assessed_by": "Dr Li",
            "assessed_at": _now(),
            "time_point": "month-2",
        },
    )
    assert recorded.status_code == 201, recorded.text
    at = reminders[0].due_at
    await planner.release_due(world.db, SchedulerSettings(), at)
    console = ConsoleChannel("sms")
    ctx = context(world.db, access_db)
    dispatcher = Dispatcher(world.db, ctx.cipher, ChannelRegistry([console]), None)
    dispatcher.assessment_links = AssessmentLinks(world.secret, BASE)
    dispatcher.clock = lambda: at
    async with world.db.sessions() as session:
        sent = (
            await session.execute(
                select(Message.id, Message.occurrence_id).where(Message.kind == KIND)
            )
        ).all()
    assert len(sent) == 2
    for message_id, _occurrence in sent:
        async with world.db.transaction() as session:
            await dispatcher.handle(SendMessage(message_id=message_id), session)
    [text] = [message.text for message in console.sent]
    assert text.startswith("W.L., the clinic asks you to fill in a short form: https://")
    assert "methadone" not in text.lower()  # discreet: nothing says what it is about
    assert "HIV" not in text
    page = text.rsplit(" ", 1)[1].removeprefix(BASE)
    shown = await world.client.get(page)
    assert shown.status_code == 200
    assert "HIV knowledge" in shown.text
    async with world.db.sessions() as session:
        states = sorted(
            (
                await session.execute(
                    select(Message.state, Message.reason).where(Message.kind == KIND)
                )
            ).all()
        )
    assert states == [("delivered", None), ("skipped", "the questionnaire was answered already")]


@pytest.mark.usefixtures("database_env")
def test_mmt_assessment_import_loads_every_file_once_and_refuses_a_changed_version(
    scheduler_db: Database, access_db: Database, tmp_path: Path
) -> None:
    runner = CliRunner()
    shipped = runner.invoke(mmt, ["assessment", "import", str(SHIPPED)])
    assert shipped.exit_code == 0, shipped.output
    assert "hiv-knowledge: version 1 loaded from" in shipped.output
    again = runner.invoke(mmt, ["assessment", "import", str(SHIPPED / "hiv-knowledge.yaml")])
    assert "hiv-knowledge: version 1 unchanged from" in again.output
    changed = tmp_path / "hiv.yaml"
    text = (SHIPPED / "hiv-knowledge.yaml").read_text(encoding="utf-8")
    changed.write_text(text.replace("HIV knowledge", "HIV facts"), encoding="utf-8")
    refused = runner.invoke(mmt, ["assessment", "import", str(changed)])
    assert refused.exit_code == 1
    assert "exists with different content: give the changed definition a new version" in (
        refused.output
    )
    nowhere = runner.invoke(mmt, ["assessment", "import", str(changed), "--clinic", "XX"])
    assert nowhere.exit_code == 1
