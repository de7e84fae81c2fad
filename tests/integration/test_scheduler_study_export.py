"""A study's analysis file over HTTP and by CLI (issue 21 part 3): one row per randomised
participant and time point reached, adherence, urine tests, lessons and assessment scores
in their period, retention and the reason for a loss; identified for admins, the keyed
pseudonym for researchers; the data dictionary names every column; the flow counts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from mmt import app as mmt
from services.scheduler.assessment_models import Assessment
from services.scheduler.models import Dose, LessonProgress, UrineTest
from services.scheduler.ratings import record_rating
from services.scheduler.studies.export import add_months
from services.scheduler.studies.models import StudyParticipant
from shared.messages import RatingGiven
from tests.conftest import TokenFactory
from tests.integration.test_scheduler_studies import CONSENT, STRATA, World
from tests.integration.test_scheduler_studies import world as world  # the fixture

BASELINE = date.today() - timedelta(days=100)  # month 3 is over, month 6 would not be


async def _participant(world: World, number: str, doses: int) -> int:
    patient = await world.patient(number)
    body = {
        "study_id": world.yuxi,
        "consent": CONSENT,
        "strata": STRATA,
        "baseline_on": BASELINE.isoformat(),
    }
    assert (await world.call(f"{patient}/studies", body)).status_code == 201
    done = await world.call(f"{patient}/studies/{world.yuxi}/randomise")
    assert done.status_code == 200, done.text
    at = datetime.now(UTC)
    async with world.db.transaction() as session:
        for i in range(doses):  # within month 3's period, and one before baseline
            session.add(
                Dose(
                    patient_id=patient,
                    local_date=BASELINE + timedelta(days=i),
                    taken_at=at,
                    recorded_at=at,
                )
            )
        session.add(
            Dose(
                patient_id=patient,
                local_date=BASELINE - timedelta(days=5),
                taken_at=at,
                recorded_at=at,
            )
        )
        for i, result in enumerate(("negative", "positive", "negative")):
            taken = BASELINE + timedelta(days=10 * (i + 1))
            session.add(
                UrineTest(patient_id=patient, taken_on=taken, result=result, recorded_at=at)
            )
        lesson_at = datetime.combine(BASELINE + timedelta(days=3), datetime.min.time(), UTC)
        for key, state in (("a", "opened"), ("b", "sent"), ("c", "skipped")):
            session.add(
                LessonProgress(
                    patient_id=patient, track="core", lesson_key=key, state=state, at=lesson_at
                )
            )
        session.add(
            Assessment(
                patient_id=patient,
                clinic_id=world.yx,
                instrument_code="motivation",
                instrument_version=1,
                time_point="month-3",
                answers={},
                scores={"total": 42.0, "desire_for_help": 3.5, "readiness": None},
                mode="staff",
                assessed_by="Dr Li",
                assessed_at=at,
                recorded_by="test",
                recorded_at=at,
            )
        )
    rated_at = datetime.combine(BASELINE + timedelta(days=4), datetime.min.time(), UTC)
    for rating in (5, 2):
        event = RatingGiven(
            patient_id=patient, clinic_id=world.yx, rating=rating, occurred_at=rated_at
        )
        for _ in range(2):  # the bus delivers at least once: a redelivery adds nothing
            async with world.db.transaction() as session:
                await record_rating(event, session)
    return patient


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
async def seeded(world: World) -> tuple[int, int]:
    """Two randomised participants (the second lost to follow-up, moved, 30 days after
    baseline) and one enrolled but never randomised."""
    first = await _participant(world, "E-1", doses=45)
    second = await _participant(world, "E-2", doses=0)
    lost = await world.call(
        f"{second}/studies/{world.yuxi}/lost", {"reason": "moved", "on": str(date.today())}
    )
    assert lost.status_code == 200, lost.text
    async with world.db.transaction() as session:  # as if the study had run since baseline
        await session.execute(
            update(StudyParticipant)
            .where(StudyParticipant.patient_id == second)
            .values(lost_on=BASELINE + timedelta(days=30))
        )
    waiting = await world.patient("E-3")  # enrolled, never randomised: no row, in the flow
    body = {"study_id": world.yuxi, "strata": STRATA}
    assert (await world.call(f"{waiting}/studies", body)).status_code == 201

    return first, second


async def test_the_analysis_file_dictionary_and_flow(
    world: World, seeded: tuple[int, int], make_token: TokenFactory
) -> None:
    first, second = seeded
    answer = await world.client.get(f"/api/v1/studies/{world.yuxi}/export", headers=world.admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    rows = {(r["participant"], r["time_point"]): r for r in _rows(answer.text)}
    assert set(rows) == {(str(p), t) for p in (first, second) for t in ("baseline", "month-3")}
    base, month3 = rows[(str(first), "baseline")], rows[(str(first), "month-3")]
    end = add_months(BASELINE, 3) - timedelta(days=1)
    assert (base["period_start"], base["period_end"]) == (
        str(BASELINE - timedelta(days=30)),
        str(BASELINE - timedelta(days=1)),
    )
    assert (base["days_dosed"], base["days_expected"]) == ("1", "30")
    assert (month3["period_start"], month3["period_end"]) == (str(BASELINE), str(end))
    expected = (end - BASELINE).days + 1
    assert (month3["days_dosed"], month3["days_expected"]) == ("45", str(expected))
    assert float(month3["adherence"]) == round(45 / expected, 4)
    assert (month3["urine_tests"], month3["urine_negative"]) == ("3", "2")
    assert month3["urine_negative_share"] == "0.6667"
    assert (month3["lessons_sent"], month3["lessons_opened"]) == ("2", "1")  # skipped: not sent
    assert (month3["ratings"], month3["rating_mean"], base["ratings"]) == ("2", "3.5", "0")
    assert (month3["motivation.total"], month3["motivation.readiness"]) == ("42.0", "")
    assert base["motivation.total"] == ""  # assessed at month 3, not at baseline
    assert (month3["retained"], month3["lost_reason"]) == ("1", "")
    gone = rows[(str(second), "month-3")]
    assert (gone["retained"], gone["lost_reason"], gone["days_expected"]) == ("0", "moved", "30")
    assert month3["stratum_sex"] == "male"

    researcher = {"Authorization": f"Bearer {await make_token('researcher', ['YX'])}"}
    blind = await world.client.get(f"/api/v1/studies/{world.yuxi}/export", headers=researcher)
    assert blind.status_code == 200, blind.text
    participants = {r["participant"] for r in _rows(blind.text)}
    assert len(participants) == 2
    assert all(len(p) == 16 and not p.isdigit() for p in participants)
    coordinator = await world.client.get(f"/api/v1/studies/{world.yuxi}/export")
    assert coordinator.status_code == 403

    dictionary = await world.client.get(
        f"/api/v1/studies/{world.yuxi}/dictionary", headers=researcher
    )
    variables = {r["variable"]: r for r in _rows(dictionary.text)}
    assert list(variables) == list(_rows(answer.text)[0])  # every column, in order
    assert variables["adherence"]["label_zh_CN"] == "服药依从性"
    assert variables["motivation.desire_for_help"]["type"] == "number"

    counts = (await world.client.get(f"/api/v1/studies/{world.yuxi}/flow")).json()
    assert (counts["enrolled"], counts["consented"], counts["randomised"]) == (3, 2, 2)
    assert sum(arm["allocated"] for arm in counts["arms"]) == 2
    assert sum(arm["lost"].get("moved", 0) for arm in counts["arms"]) == 1


@pytest.mark.usefixtures("database_env")
def test_the_command_line_exports_and_counts(seeded: tuple[int, int]) -> None:
    runner = CliRunner()
    printed = runner.invoke(mmt, ["study", "export", "yuxi-wechat"])
    assert printed.exit_code == 0, printed.output
    exported = _rows(printed.output)
    assert {(r["participant"], r["time_point"]) for r in exported} == {
        (str(p), t) for p in seeded for t in ("baseline", "month-3")
    }
    shown = runner.invoke(mmt, ["study", "flow", "yuxi-wechat"])
    assert shown.exit_code == 0, shown.output
    assert "enrolled 3, consented 2, baseline 2, randomised 2" in shown.output
    assert "moved 1" in shown.output
    missing = runner.invoke(mmt, ["study", "export", "no-such-study"])
    assert missing.exit_code == 1


@pytest.mark.usefixtures("database_env")
def test_the_command_line_writes_the_report(seeded: tuple[int, int], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    written = CliRunner().invoke(mmt, ["study", "report", "yuxi-wechat", "-o", str(page)])
    assert written.exit_code == 0, written.output
    html = page.read_text(encoding="utf-8")
    assert "Enrolled 3; consented 2; baseline recorded 2; randomised 2" in html
    assert "<td>moved 1</td>" in html
    assert "motivation.total" in html  # the assessment's score among the outcomes
    assert "<svg" in html
