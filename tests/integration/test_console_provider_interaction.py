"""The reports page's provider-interaction section over HTTP: last month's figures (means,
distribution, response rate) from the feedback service, a month under five respondents
shown as hidden with the reason, and another clinic's page not found."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.feedback.models import SurveyAnswer, SurveyRun
from services.feedback.reports.provider_interaction import ITEMS
from shared.db import Database
from tests.integration.consoleutil import World
from tests.integration.test_console import Client, sign_in
from tests.integration.test_console import client as client  # the fixtures
from tests.integration.test_console import world as world

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _months_back(n: int) -> date:
    today = datetime.now(UTC).astimezone(SHANGHAI)
    index = today.year * 12 + today.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


async def _answered(db: Database, clinic_id: int, month: date, values: list[list[int]]) -> None:
    """One completed questionnaire per list of values, each by another client, on the 10th."""
    at = datetime(month.year, month.month, 10, 12, tzinfo=SHANGHAI).astimezone(UTC)
    async with db.transaction() as session:
        for n, answers in enumerate(values):
            run = SurveyRun(
                survey_key="provider_interaction", patient_id=1000 * month.month + n,
                clinic_id=clinic_id, state="completed", question_index=5, asked_at=at,
                started_at=at - timedelta(hours=1), finished_at=at, started_by="test",
            )  # fmt: skip
            session.add(run)
            await session.flush()
            session.add_all(
                SurveyAnswer(run_id=run.id, question_key=k, state="answered", value=v, at=at)
                for k, v in zip(ITEMS, answers, strict=True)
            )


async def test_reports_page_shows_last_months_figures_and_hides_a_small_month(
    world: World, client: Client, feedback_db: Database
) -> None:
    last, before = _months_back(1), _months_back(2)
    await _answered(feedback_db, world.yx, last, [[5, 5, 4, 4, 3]] * 4 + [[1, 5, 4, 4, 3]])
    await _answered(feedback_db, world.yx, before, [[2] * 5] * 3)  # three clients: hidden
    await sign_in(client)
    page = await client.get(f"/clinics/{world.yx}/reports")
    assert page.status_code == 200, page.text
    section = page.text.split('id="provider-interaction"')[1].split("</section>")[0]
    assert "服务对象对工作人员的评价" in section
    rows = section.split('class="provider-interaction"')[1].split("</table>")[0].split("<tr>")
    month = next(r for r in rows if f"<td>{last:%Y-%m}</td>" in r)
    # Ended, respondents, rate, overall mean (21 + 25 + 20 + 20 + 15) / 25, then each item's.
    cells = [c.split("</td>")[0] for c in month.split("<td>")[1:]]
    assert cells == [f"{last:%Y-%m}", "5", "5", "100%", "4.04", "4.2", "5.0", "4.0", "4.0", "3.0"]
    small = next(r for r in rows if f"<td>{before:%Y-%m}</td>" in r)
    assert "不显示：作答人数少于5人" in small
    assert "<td>2.0</td>" not in small
    assert 'aria-labelledby="provider-chart"' in section
    answers = section.split('class="provider-answers"')[1].split("</table>")[0]
    assert "<tr><td>认真倾听</td><td>1</td><td>0</td><td>0</td><td>0</td><td>4</td></tr>" in answers
    assert (await client.get(f"/clinics/{world.km}/reports")).status_code == 404
