"""The provider-interaction questionnaire on the real database: a client answers by SMS
digits in order, nobody reads one client's answers (runs without answers, no identified
export), and the per-clinic report: per month, means, distributions and response rate on
known data, months under five respondents or not yet ended hidden, clinic isolation, and a
researchers' CSV with pseudonyms and months only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.feedback.models import SurveyAnswer, SurveyRun
from services.feedback.reports import provider_interaction as provider
from services.feedback.reports.provider_interaction import CSV_COLUMNS, ITEMS
from services.feedback.surveys.provider_schedule import ask_again
from shared.access.clinics import ClinicIn, create_clinic
from shared.db import Database
from shared.messages import PatientUpdated, SurveyRequested
from shared.stigma import find_stigma
from tests.conftest import TokenFactory
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import Client, events, handle, said

KEY = "provider_interaction"
REPORT = "/api/v1/clinics/{}/reports/provider-interaction"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_client_answers_by_digits_in_order_and_no_one_reads_their_answers(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, pid = world
    staff = _auth(await make_token("coordinator", ["YX"]))
    started = await client.post(
        f"/api/v1/clinics/{clinic_id}/surveys/{KEY}/runs", json={}, headers=staff
    )
    assert started.status_code == 202, started.text
    assert started.json()["started"] == 1

    assert await said(client, replies, "0", "SM-p0") == "Please reply with a number from 1 to 5."
    assert "number from 1 to 5" in await said(client, replies, "6", "SM-p1")
    for n, digit in enumerate(["5", "４", "3", "2"]):
        assert await said(client, replies, digit, f"SM-p{n + 2}") == ""  # the next follows
    assert await said(client, replies, "1", "SM-p9") == "Thank you for your answers!"

    asked = [e for e in await events(feedback_db) if isinstance(e, SurveyRequested)]
    assert [e.question_key for e in asked] == ITEMS  # each once, in order, never re-asked
    assert asked[0].text.startswith("(1/5) Anonymous: the staff member I talk with listens")
    assert all(e.text.endswith("(reply 1-5)") and not find_stigma(e.text) for e in asked)
    async with feedback_db.sessions() as session:
        stored = (await session.execute(select(SurveyAnswer).order_by(SurveyAnswer.id))).scalars()
        assert [(a.question_key, a.value) for a in stored] == list(
            zip(ITEMS, [5, 4, 3, 2, 1], strict=True)
        )
        run = (await session.execute(select(SurveyRun))).scalar_one()
    assert (run.state, run.patient_id) == ("completed", pid)

    listed = await client.get(f"/api/v1/clinics/{clinic_id}/surveys/{KEY}/runs", headers=staff)
    assert [(r["state"], r["answers"]) for r in listed.json()] == [("completed", [])]
    identified = await client.get(f"/api/v1/exports/survey-answers.csv?survey={KEY}", headers=staff)
    assert identified.status_code == 400
    assert "anonymous" in identified.json()["detail"]
    everything = await client.get("/api/v1/exports/research/survey-answers.csv", headers=staff)
    assert everything.status_code == 200
    assert len(everything.text.splitlines()) == 1  # the header: this survey is left out
    summary = await client.get(f"/api/v1/reports/surveys/{KEY}", headers=staff)
    assert summary.status_code == 400
    assert "provider-interaction" in summary.json()["detail"]


def _at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


async def _seed(db: Database, clinic_id: int) -> None:
    """September 2026: five clients completed (the first at 01:00 on the 1st, Shanghai time,
    still August in UTC), one timed out after two answers. August: four clients, one twice.
    This month: five clients, not reported until it ends."""
    listened = [5, 4, 4, 3, 5]
    now = datetime.now(UTC)
    done: list[tuple[int, datetime, str, list[int]]] = [
        (100 + n, _at(2026, 9, 1, 1) if n == 0 else _at(2026, 9, 10 + n), "completed",
         [listened[n], 4, 4, 4, 4])
        for n in range(5)
    ]  # fmt: skip
    done.append((106, _at(2026, 9, 20), "timed_out", [1, 1]))
    done += [(200 + n % 4, _at(2026, 8, 5 + n), "completed", [2] * 5) for n in range(5)]
    done += [(300 + n, now, "completed", [1] * 5) for n in range(5)]
    async with db.transaction() as session:
        for patient_id, finished, state, values in done:
            run = SurveyRun(
                survey_key=KEY, patient_id=patient_id, clinic_id=clinic_id, study_arm="control",
                state=state, question_index=len(values), asked_at=finished, started_at=finished,
                finished_at=finished, started_by="test",
            )  # fmt: skip
            session.add(run)
            await session.flush()
            for key, value in zip(ITEMS, values, strict=False):
                session.add(
                    SurveyAnswer(
                        run_id=run.id, question_key=key, state="answered", value=value, at=finished
                    )
                )


async def test_report_per_month_means_distribution_rate_and_the_minimum_cell(
    client: Client, feedback_db: Database, world: tuple[int, int], make_token: TokenFactory
) -> None:
    clinic_id, _ = world
    await _seed(feedback_db, clinic_id)
    staff = _auth(await make_token("coordinator", ["YX"]))
    url = REPORT.format(clinic_id)
    shown = await client.get(f"{url}?from=2026-08&to=2026-09", headers=staff)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["from_month"], body["to_month"], body["minimum_respondents"]) == (
        "2026-08",
        "2026-09",
        5,
    )
    assert body["time_zone"] == "Asia/Shanghai"
    august, september = body["months"]
    # Five questionnaires, but four clients: a provider could tell them apart.
    assert august == {
        "period": "2026-08",
        "shown": False,
        "hidden": "too_few_respondents",
        "ended": 5,
        "respondents": None,
        "completed": None,
        "response_rate": None,
        "overall_mean": None,
        "items": [],
    }
    assert (september["shown"], september["respondents"], september["completed"]) == (True, 5, 5)
    assert (september["ended"], september["response_rate"]) == (6, 0.833)
    items = {i["key"]: i for i in september["items"]}
    assert list(items) == ITEMS
    assert items["listened"]["mean"] == 4.2
    assert items["listened"]["distribution"] == {"1": 0, "2": 0, "3": 1, "4": 2, "5": 2}
    assert items["again"] == {"key": "again", "mean": 4.0, "distribution": {
        "1": 0, "2": 0, "3": 0, "4": 5, "5": 0}}  # fmt: skip
    assert september["overall_mean"] == 4.04  # (21 + 4 * 20) / 25; partial answers left out
    assert body["total"] == {**september, "period": "2026-08..2026-09"}  # August stays hidden
    assert "at least 5 respondents" in body["rule"]

    now = datetime.now(UTC).astimezone(SHANGHAI)
    this_month = f"{now.year:04d}-{now.month:02d}"
    current = await client.get(f"{url}?from={this_month}&to={this_month}", headers=staff)
    (cell,) = current.json()["months"]
    assert (cell["hidden"], cell["ended"], cell["items"]) == ("month_not_ended", 5, [])
    assert current.json()["total"]["shown"] is False

    default = (await client.get(url, headers=staff)).json()
    assert len(default["months"]) == 3
    assert default["to_month"] < this_month  # the last month that has ended

    for query, field in [
        ("from=2026-13", "from"),
        ("to=26-01", "to"),
        ("from=2026-10&to=2026-09", "from"),
        ("from=2024-01&to=2026-09", "to"),
    ]:
        bad = await client.get(f"{url}?{query}", headers=staff)
        assert bad.status_code == 400, (query, bad.text)
        assert field in bad.text, query


async def test_clinic_isolation_and_the_researchers_csv(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    access_db: Database,
) -> None:
    clinic_id, _ = world
    await _seed(feedback_db, clinic_id)
    await create_clinic(access_db, ClinicIn(code="KM", name="Kunming", help_phone="0871 63123456"))
    url = REPORT.format(clinic_id)
    for role, path in [("coordinator", url), ("researcher", url), ("researcher", f"{url}.csv")]:
        outsider = _auth(await make_token(role, ["KM"]))
        hidden = await client.get(path, headers=outsider)
        assert hidden.status_code == 404, (role, path)
    admin = _auth(await make_token("admin"))
    assert (await client.get(REPORT.format(9999), headers=admin)).status_code == 404

    coordinator = _auth(await make_token("coordinator", ["YX"]))
    assert (await client.get(f"{url}.csv", headers=coordinator)).status_code == 403
    researcher = _auth(await make_token("researcher", ["YX"]))
    exported = await client.get(f"{url}.csv?from=2026-08&to=2099-12", headers=researcher)
    assert exported.status_code == 400  # more than 24 months
    exported = await client.get(f"{url}.csv?from=2026-08&to=2026-12", headers=researcher)
    assert exported.status_code == 200, exported.text
    assert exported.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(exported.text[1:])))
    assert list(rows[0]) == CSV_COLUMNS  # no patient id, run id, time or words
    assert len(rows) == 25 + 2 + 25  # August, September; not this month (not ended)
    assert {r["month"] for r in rows} == {"2026-08", "2026-09"}
    assert all(len(r["patient"]) == 16 and not r["patient"].isdigit() for r in rows)
    assert len({r["patient"] for r in rows}) == 4 + 6


async def test_the_same_figures_on_each_database(feedback_db_either: Database) -> None:
    await _seed(feedback_db_either, 1)
    now = datetime.now(UTC)
    months = provider.window("Asia/Shanghai", "2026-08", "2026-09", now)
    found = await provider.report(feedback_db_either, 1, months, now, "Asia/Shanghai")
    assert [(c.period, c.hidden, c.ended) for c in found.months] == [
        ("2026-08", "too_few_respondents", 5),
        ("2026-09", None, 6),
    ]
    assert (found.total.respondents, found.total.overall_mean) == (5, 4.04)
    assert (await provider.report(feedback_db_either, 2, months, now, "UTC")).total.ended == 0


async def test_asked_again_every_n_days_only_of_those_who_had_it(
    feedback_db_either: Database,
) -> None:
    db, now = feedback_db_either, datetime.now(UTC)
    for pid, opted_out in [(7, False), (8, False), (9, False), (10, True)]:
        await handle(
            db,
            PatientUpdated(
                patient_id=pid, clinic_id=1, phone_hash=f"h{pid}", openid_hash=None,
                language="zh-CN", study_arm=None, state="active", opted_out=opted_out,
            ),
        )  # fmt: skip
    async with db.transaction() as session:
        for pid, days in [(7, 92), (7, 200), (9, 10), (10, 100)]:  # 8 never had it
            began = now - timedelta(days=days)
            session.add(
                SurveyRun(
                    survey_key=KEY, patient_id=pid, clinic_id=1, state="completed",
                    question_index=5, asked_at=began, started_at=began, finished_at=began,
                    started_by="tok",
                )
            )  # fmt: skip
    every = timedelta(days=91)
    assert await ask_again(db, now, every) == 1
    assert await ask_again(db, now, every) == 0  # 7 is in it now: a second tick adds nothing
    (asked,) = [e for e in await events(db) if isinstance(e, SurveyRequested)]
    assert (asked.patient_id, asked.question_key) == (7, "listened")
    assert asked.text.startswith("(1/5) 匿名问卷")
    async with db.sessions() as session:
        opened = (await session.execute(select(SurveyRun).where(SurveyRun.state == "open"))).all()
    assert [(r.patient_id, r.started_by) for (r,) in opened] == [(7, "schedule")]
