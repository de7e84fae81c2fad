"""Surveys on the real database: a coordinator sends one, the patient answers by SMS a
question at a time, answers are kept, an unanswered question times out, a lesson's
helpfulness answer is its rating, and definitions are validated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.feedback import surveys
from services.feedback.models import InboundMessage, SurveyAnswer, SurveyRun
from services.feedback.surveys.lesson_question import LessonQuestions
from shared.db import Database
from shared.messages import (
    LessonSent,
    OptOutRequested,
    RatingGiven,
    SurveyRequested,
)
from tests.conftest import TokenFactory
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import Client, events, said


async def _runs(db: Database) -> list[SurveyRun]:
    async with db.sessions() as session:
        return list((await session.execute(select(SurveyRun).order_by(SurveyRun.id))).scalars())


async def _answers(db: Database) -> list[tuple[str, str, int | None, str | None]]:
    async with db.sessions() as session:
        rows = (await session.execute(select(SurveyAnswer).order_by(SurveyAnswer.id))).scalars()
        return [(a.question_key, a.state, a.value, a.text) for a in rows]


async def _asked(db: Database) -> list[SurveyRequested]:
    return [e for e in await events(db) if isinstance(e, SurveyRequested)]


async def _start(client: Client, token: str, clinic_id: int, key: str, **body: Any) -> Any:
    return await client.post(
        f"/api/v1/clinics/{clinic_id}/surveys/{key}/runs",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_yuxi_survey_one_question_at_a_time_to_the_end(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, pid = world
    token = await make_token("coordinator", ["YX"])
    response = await _start(client, token, clinic_id, "yuxi_evaluation", patient_ids=[pid, 999])
    assert response.status_code == 202, response.text
    assert response.json() == {
        "survey": "yuxi_evaluation",
        "started": 1,
        "already_in_a_survey": 0,
        "not_reachable": [999],
    }
    first = await _asked(feedback_db)
    assert [(e.patient_id, e.question_key) for e in first] == [(pid, "usage")]
    assert first[0].text.startswith("(1/5) How often do you read")
    assert "1 always 2 often 3 sometimes 4 rarely" in first[0].text

    # A second send leaves a patient in a survey alone.
    again = await _start(client, token, clinic_id, "yuxi_evaluation")
    assert (again.json()["already_in_a_survey"], again.json()["started"]) == (1, 0)

    assert await said(client, replies, "2", "SM-s1") == ""  # the next question follows
    wrong = await said(client, replies, "7", "SM-s2")  # question 2 is a 1-5 scale
    assert "number from 1 to 5" in wrong
    for sid, body in [("SM-s3", "5"), ("SM-s4", "３"), ("SM-s5", "1")]:
        await said(client, replies, body, sid)
    last = await said(client, replies, " 4 ", "SM-s6")
    assert "Thank you for your answers!" in last

    assert await _answers(feedback_db) == [
        ("usage", "answered", 2, None),
        ("helpful", "answered", 5, None),
        ("frequency", "answered", 3, None),
        ("motivation", "answered", 1, None),
        ("recommend", "answered", 4, None),
    ]
    (run,) = await _runs(feedback_db)
    assert (run.state, run.question_index, run.study_arm) == ("completed", 5, "intervention")
    assert [e.question_key for e in await _asked(feedback_db)] == [
        "usage",
        "helpful",
        "frequency",
        "motivation",
        "recommend",
    ]
    async with feedback_db.sessions() as session:
        kinds = (await session.execute(select(InboundMessage.kind))).scalars().all()
    assert sorted(kinds) == ["survey_answer"] * 5 + ["survey_invalid"]

    listed = await client.get(
        f"/api/v1/clinics/{clinic_id}/surveys/yuxi_evaluation/runs",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert listed.status_code == 200
    assert [a["value"] for a in listed.json()[0]["answers"]] == [2, 5, 3, 1, 4]


async def test_unanswered_question_times_out_and_stop_cancels(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, pid = world
    token = await make_token("coordinator", ["YX"])
    await _start(client, token, clinic_id, "yuxi_evaluation")
    timeout = timedelta(hours=48)
    assert await surveys.time_out(feedback_db, datetime.now(UTC), timeout) == 0
    later = datetime.now(UTC) + timeout + timedelta(minutes=1)
    assert await surveys.time_out(feedback_db, later, timeout) == 1
    assert await _answers(feedback_db) == [("usage", "timed_out", None, None)]
    assert (await _runs(feedback_db))[0].state == "timed_out"
    # With no question open, a digit is a lesson rating again.
    assert "Thank you for your rating!" in await said(client, replies, "4", "SM-t1")

    await _start(client, token, clinic_id, "yuxi_evaluation")
    await said(client, replies, "STOP", "SM-t2")
    assert [r.state for r in await _runs(feedback_db)] == ["timed_out", "cancelled"]
    assert any(isinstance(e, OptOutRequested) for e in await events(feedback_db))
    refused = await _start(client, token, clinic_id, "yuxi_evaluation", patient_ids=[pid])
    assert refused.json()["not_reachable"] == [pid]


async def test_lesson_helpfulness_answer_is_the_lesson_rating(
    client: Client, feedback_db: Database, world: tuple[int, int], replies: Replies
) -> None:
    clinic_id, pid = world
    sent = LessonSent(
        message_id="m2",
        patient_id=pid,
        clinic_id=clinic_id,
        track="core",
        lesson_key="staying-well",
        version=1,
        module="wellbeing",
    )
    questions = LessonQuestions(enabled=True, delay=timedelta(0))
    async with feedback_db.transaction() as session:
        await questions.on_lesson_sent(sent, session)
    (asked,) = await _asked(feedback_db)
    assert asked.text == "Was the last lesson helpful? 5 = very (reply 1-5)"
    assert asked.not_before == sent.occurred_at

    assert "Thank you for your answers!" in await said(client, replies, "5", "SM-l1")
    async with feedback_db.sessions() as session:
        row = (await session.execute(select(InboundMessage))).scalar_one()
    assert (row.kind, row.rating, row.lesson_key, row.module, row.study_arm) == (
        "rating",
        5,
        "staying-well",
        "wellbeing",
        "intervention",
    )
    ratings = [e for e in await events(feedback_db) if isinstance(e, RatingGiven)]
    assert [(r.rating, r.lesson_key) for r in ratings] == [(5, "staying-well")]


async def test_next_lesson_replaces_an_unanswered_lesson_question(
    feedback_db: Database, world: tuple[int, int]
) -> None:
    clinic_id, pid = world
    questions = LessonQuestions(enabled=True, delay=timedelta(hours=3))
    for n in (1, 2):
        sent = LessonSent(
            message_id=f"m{n}",
            patient_id=pid,
            clinic_id=clinic_id,
            track="core",
            lesson_key=f"lesson-{n}",
            version=1,
        )
        async with feedback_db.transaction() as session:
            await questions.on_lesson_sent(sent, session)
    runs = await _runs(feedback_db)
    assert [(r.lesson_key, r.state) for r in runs] == [
        ("lesson-1", "timed_out"),
        ("lesson-2", "open"),
    ]
    assert runs[1].asked_at > datetime.now(UTC) + timedelta(hours=2)


async def test_definitions_are_validated_and_never_replaced(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, pid = world
    headers = {"Authorization": f"Bearer {await make_token('coordinator', ['YX'])}"}
    bad = {
        "key": "clinic_check",
        "title": {"en": "Check"},
        "questions": [
            {"key": "q", "type": "choice", "text": {"zh-CN": "美沙酮够吗？"}, "options": {}},
        ],
    }
    refused = await client.post("/api/v1/surveys", json=bad, headers=headers)
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert "title: zh-CN is required" in detail
    assert "questions[1] (q).options" in detail
    assert "美沙酮" in detail
    good = {
        "key": "clinic_check",
        "title": {"zh-CN": "门诊回访"},
        "questions": [
            {"key": "wish", "type": "text", "text": {"zh-CN": "您最希望门诊改进什么？"}},
        ],
    }
    created = await client.post("/api/v1/surveys", json=good, headers=headers)
    assert created.status_code == 201, created.text
    assert (await client.post("/api/v1/surveys", json=good, headers=headers)).status_code == 409
    builtin = {**good, "key": "yuxi_evaluation"}
    assert (await client.post("/api/v1/surveys", json=builtin, headers=headers)).status_code == 409
    listed = await client.get("/api/v1/surveys", headers=headers)
    assert [s["key"] for s in listed.json()] == [
        "lesson_helpfulness",
        "yuxi_evaluation",
        "provider_interaction",
        "clinic_check",
    ]

    await _start(client, headers["Authorization"].split()[1], clinic_id, "clinic_check")
    # The patient's language is English; the question exists only in Chinese: it is sent.
    (asked,) = await _asked(feedback_db)
    assert asked.text == "您最希望门诊改进什么？ (reply in words)"
    answer = await said(client, replies, "Shorter queues in the morning", "SM-d1")
    assert "Thank you for your answers!" in answer
    assert await _answers(feedback_db) == [
        ("wish", "answered", None, "Shorter queues in the morning")
    ]
    assert pid == (await _runs(feedback_db))[0].patient_id


async def test_urgent_words_during_a_text_question_are_an_urgent_need(
    client: Client,
    feedback_db: Database,
    world: tuple[int, int],
    make_token: TokenFactory,
    replies: Replies,
) -> None:
    clinic_id, _ = world
    headers = {"Authorization": f"Bearer {await make_token('admin')}"}
    survey = {
        "key": "open_words",
        "title": {"zh-CN": "留言"},
        "questions": [{"key": "say", "type": "text", "text": {"zh-CN": "想对门诊说什么？"}}],
    }
    assert (await client.post("/api/v1/surveys", json=survey, headers=headers)).status_code == 201
    await _start(client, headers["Authorization"].split()[1], clinic_id, "open_words")
    reply = await said(client, replies, "I want to die", "SM-u1")
    assert "call 120 now" in reply
    assert await _answers(feedback_db) == []
    assert (await _runs(feedback_db))[0].state == "open"
