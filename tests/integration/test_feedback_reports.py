"""Reports and exports on the real database: ratings by lesson, module and arm, a survey's
answer distributions, needs by category, and CSV exports in both forms, within clinics."""

from __future__ import annotations

import csv
import io

from shared.access.clinics import ClinicIn, create_clinic
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from shared.messages import LessonSent, PatientEnrolled
from tests.conftest import TokenFactory
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import Client, handle, said

OTHER_PHONE = "+8613700137000"


def _rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


async def _seed(
    client: Client, replies: Replies, feedback_db: Database, clinic_id: int, coordinator: str
) -> None:
    """Patient 7 (intervention) rates two lessons, states needs and answers the survey;
    patient 8 (control) rates once."""
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    await handle(
        feedback_db,
        PatientEnrolled(
            patient_id=8,
            clinic_id=clinic_id,
            phone_hash=cipher.lookup_hash(OTHER_PHONE),
            openid_hash=None,
            language="zh-CN",
            study_arm="control",
        ),
    )
    await said(client, replies, "4", "SM-r1")  # rates core/why-daily (the fixture's lesson)
    await handle(
        feedback_db,
        LessonSent(
            message_id="m2",
            patient_id=7,
            clinic_id=clinic_id,
            track="core",
            lesson_key="staying-well",
            version=1,
            module="wellbeing",
        ),
    )
    await said(client, replies, "5", "SM-r2")
    await said(
        client, replies, "2", "SM-r3", sender=OTHER_PHONE
    )  # no recent lesson: not tied to one
    await said(client, replies, "I need a lawyer, the police came", "SM-n1")
    await said(client, replies, "=HYPERLINK(1)", "SM-n2")
    started = await client.post(
        f"/api/v1/clinics/{clinic_id}/surveys/yuxi_evaluation/runs",
        json={"study_arm": "intervention"},
        headers={"Authorization": f"Bearer {coordinator}"},
    )
    assert started.json()["started"] == 1
    for n, answer in enumerate(["1", "5", "3", "2", "5"]):
        await said(client, replies, answer, f"SM-y{n}")


async def test_aggregates_by_lesson_module_arm_and_survey_question(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, _ = world
    coordinator = await make_token("coordinator", ["YX"])
    await _seed(client, replies, feedback_db, clinic_id, coordinator)
    researcher = {"Authorization": f"Bearer {await make_token('researcher', ['YX'])}"}

    by_lesson = await client.get("/api/v1/reports/ratings", headers=researcher)
    assert by_lesson.status_code == 200, by_lesson.text
    assert [(r["track"], r["group"], r["ratings"], r["average"]) for r in by_lesson.json()] == [
        (None, None, 1, 2.0),
        ("core", "staying-well", 1, 5.0),
        ("core", "why-daily", 1, 4.0),
    ]
    by_module = await client.get("/api/v1/reports/ratings?by=module", headers=researcher)
    assert [(r["group"], r["ratings"]) for r in by_module.json()] == [
        (None, 1),
        (None, 1),
        ("wellbeing", 1),
    ]
    by_arm = await client.get("/api/v1/reports/ratings?by=arm", headers=researcher)
    assert [(r["group"], r["average"], r["distribution"]) for r in by_arm.json()] == [
        ("control", 2.0, {"2": 1}),
        ("intervention", 4.5, {"4": 1, "5": 1}),
    ]
    bad = await client.get("/api/v1/reports/ratings?by=patient", headers=researcher)
    assert bad.status_code == 400

    report = await client.get("/api/v1/reports/surveys/yuxi_evaluation", headers=researcher)
    body = report.json()
    assert body["runs"] == {"completed": 1}
    assert [(q["key"], q["answered"], q["distribution"]) for q in body["questions"]] == [
        ("usage", 1, {"1": 1}),
        ("helpful", 1, {"5": 1}),
        ("frequency", 1, {"3": 1}),
        ("motivation", 1, {"2": 1}),
        ("recommend", 1, {"5": 1}),
    ]
    control = await client.get(
        "/api/v1/reports/surveys/yuxi_evaluation?study_arm=control", headers=researcher
    )
    assert control.json()["runs"] == {}

    needs = await client.get("/api/v1/reports/needs", headers=researcher)
    assert [(n["category"], n["status"], n["count"]) for n in needs.json()] == [
        ("legal", "new", 1),
        ("other", "new", 1),
    ]


async def test_exports_identified_for_staff_de_identified_for_researchers(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    access_db: Database,
    replies: Replies,
) -> None:
    clinic_id, _ = world
    coordinator = await make_token("coordinator", ["YX"])
    await _seed(client, replies, feedback_db, clinic_id, coordinator)
    staff = {"Authorization": f"Bearer {coordinator}"}
    researcher = {"Authorization": f"Bearer {await make_token('researcher', ['YX'])}"}

    identified = await client.get("/api/v1/exports/replies.csv", headers=staff)
    assert identified.status_code == 200
    assert identified.headers["content-type"].startswith("text/csv")
    rows = _rows(identified.text)
    assert len(rows) == 10  # 3 ratings, 2 needs, 5 survey answers
    texts = [r["text"] for r in rows if r["kind"] == "need"]
    assert texts == ["I need a lawyer, the police came", "'=HYPERLINK(1)"]  # never a formula
    assert {r["patient_id"] for r in rows} == {"7", "8"}

    refused = await client.get("/api/v1/exports/replies.csv", headers=researcher)
    assert refused.status_code == 403

    research = await client.get("/api/v1/exports/research/replies.csv", headers=researcher)
    rows = _rows(research.text)
    assert len(rows) == 10
    assert "text" not in rows[0]
    assert "patient_id" not in rows[0]
    assert "lawyer" not in research.text
    assert "HYPERLINK" not in research.text
    pseudonyms = {r["patient"] for r in rows}
    assert len(pseudonyms) == 2
    assert all(len(p) == 16 for p in pseudonyms)
    assert all(len(r["received_on"]) == 10 for r in rows)  # a date, not a time
    again = _rows(
        (await client.get("/api/v1/exports/research/replies.csv", headers=researcher)).text
    )
    assert {r["patient"] for r in again} == pseudonyms  # stable: a study can follow a person

    answers = _rows(
        (
            await client.get(
                "/api/v1/exports/research/survey-answers.csv?survey=yuxi_evaluation",
                headers=researcher,
            )
        ).text
    )
    assert [(r["question_key"], r["value"]) for r in answers] == [
        ("usage", "1"),
        ("helpful", "5"),
        ("frequency", "3"),
        ("motivation", "2"),
        ("recommend", "5"),
    ]
    assert {r["patient"] for r in answers} <= pseudonyms

    other = await create_clinic(
        access_db, ClinicIn(code="KM", name="Kunming", help_phone="0871 63123456")
    )
    outsider = {"Authorization": f"Bearer {await make_token('coordinator', ['KM'])}"}
    empty = await client.get("/api/v1/exports/replies.csv", headers=outsider)
    assert _rows(empty.text) == []
    asked = await client.get(f"/api/v1/exports/replies.csv?clinic_id={clinic_id}", headers=outsider)
    assert _rows(asked.text) == []
    assert other.id != clinic_id
    naive = await client.get("/api/v1/exports/replies.csv?since=2026-11-01T00:00:00", headers=staff)
    assert naive.status_code == 400
    assert "UTC offset" in naive.json()["detail"]


async def test_feedback_and_needs_filter_by_patient_and_dates(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, _ = world
    coordinator = await make_token("coordinator", ["YX"])
    await _seed(client, replies, feedback_db, clinic_id, coordinator)
    staff = {"Authorization": f"Bearer {coordinator}"}
    of_8 = await client.get("/api/v1/feedback?patient_id=8", headers=staff)
    assert [(f["patient_id"], f["rating"]) for f in of_8.json()] == [(8, 2)]
    needs_7 = await client.get("/api/v1/needs?patient_id=7", headers=staff)
    assert len(needs_7.json()) == 2
    future = "2099-01-01T00:00:00+00:00"
    later = await client.get("/api/v1/needs", params={"since": future}, headers=staff)
    assert later.json() == []
    until = await client.get("/api/v1/feedback", params={"until": future}, headers=staff)
    assert len(until.json()) == 10
    naive = await client.get("/api/v1/needs?until=2099-01-01T00:00:00", headers=staff)
    assert naive.status_code == 400
