"""Staff training in the content service: lessons read once per version, the provider
knowledge quiz's rounds (baseline, 3, 6, 9 months) due on their dates, scored on known
answers, refused when taken, not due or badly answered, and reported per clinic; a staff
member of one clinic never sees another's; over HTTP with console sign-in tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from services.content.app import create_app
from services.content.service import versions
from services.content.training import me, programmes, quiz, report
from services.content.training.quiz import AnswerRefused
from services.content.training.schemas import ProgrammeIn, QuizIn, QuizQuestion
from shared.access.staff import get_staff, mint_staff_token
from shared.access.tokens import Principal, Role
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.integration.schedutil import clinic
from tests.integration.trainingutil import (
    RIGHT,
    TRACK,
    principal,
    publish_staff_track,
    staff_member,
    wrong,
)

START = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # the 31st: later rounds fall on month ends
ADMIN = Principal("admin0000000", Role.ADMIN, frozenset())
OARS = "staff-mi-oars"


@dataclass
class Clinics:
    yx: int
    km: int
    a: int  # coordinators: a and c of YX, b of KM
    b: int
    c: int

    def of(self, staff_id: int) -> Principal:
        return principal(staff_id, {self.km if staff_id == self.b else self.yx})


@pytest.fixture
async def clinics(content_db: Database, access_db: Database) -> Clinics:
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    await publish_staff_track(content_db)
    a = await staff_member(access_db, "a.wang", ["YX"], START)
    b = await staff_member(access_db, "b.li", ["KM"], START)
    c = await staff_member(access_db, "c.zhao", ["YX"], START)
    return Clinics(yx, km, a, b, c)


async def test_a_lesson_is_read_once_per_version_and_a_new_version_is_unread_again(
    content_db: Database, access_db: Database, clinics: Clinics
) -> None:
    reader = clinics.of(clinics.a)
    first = await me.mark_read(content_db, reader, TRACK, OARS, START)
    again = await me.mark_read(content_db, reader, TRACK, OARS, START + timedelta(hours=1))
    assert (first.version, first.already) == (1, False)
    assert (again.read_at, again.already) == (START, True)  # the first reading's time kept

    mine = await me.my_training(content_db, access_db, reader, "en", START)
    assert (len(mine.lessons), mine.lessons_read) == (8, 1)
    (oars,) = [lesson for lesson in mine.lessons if lesson.key == OARS]
    assert oars.read_at == START
    assert oars.title == "Four core skills: ask, affirm, reflect, summarise"
    others = await me.my_training(content_db, access_db, clinics.of(clinics.c), "en", START)
    assert others.lessons_read == 0  # c's list is c's own

    await versions.start_draft(content_db, TRACK)
    await versions.publish(content_db, TRACK)
    mine = await me.my_training(content_db, access_db, reader, "zh-CN", START)
    assert {lesson.version for lesson in mine.lessons} == {2}
    assert mine.lessons_read == 0  # version 2 is not read yet
    newer = await me.mark_read(content_db, reader, TRACK, OARS, START + timedelta(days=1))
    assert (newer.version, newer.already) == (2, False)

    with pytest.raises(NotFound):
        await me.mark_read(content_db, reader, TRACK, "no-such-lesson", START)
    with pytest.raises(NotFound):
        await me.mark_read(content_db, reader, "core", OARS, START)


async def test_rounds_are_due_from_their_date_until_the_next_ones(
    content_db: Database, access_db: Database, clinics: Clinics
) -> None:
    reader = clinics.of(clinics.a)

    async def statuses(now: datetime) -> dict[str, str]:
        mine = await me.my_training(content_db, access_db, reader, "zh-CN", now)
        return {r.round: r.status for r in mine.rounds}

    mine = await me.my_training(content_db, access_db, reader, "zh-CN", START)
    windows = {r.round: (r.opens_at, r.closes_at) for r in mine.rounds}
    assert windows == {
        "baseline": (START, datetime(2026, 4, 30, 9, 0, tzinfo=UTC)),  # 31 Jan + 3 months
        "month-3": (datetime(2026, 4, 30, 9, tzinfo=UTC), datetime(2026, 7, 31, 9, tzinfo=UTC)),
        "month-6": (datetime(2026, 7, 31, 9, tzinfo=UTC), datetime(2026, 10, 31, 9, tzinfo=UTC)),
        "month-9": (datetime(2026, 10, 31, 9, tzinfo=UTC), datetime(2027, 1, 31, 9, tzinfo=UTC)),
    }
    before = START - timedelta(seconds=1)
    assert set((await statuses(before)).values()) == {"upcoming"}
    assert await statuses(START) == {
        "baseline": "due",
        "month-3": "upcoming",
        "month-6": "upcoming",
        "month-9": "upcoming",
    }
    assert await statuses(datetime(2026, 5, 1, tzinfo=UTC)) == {
        "baseline": "missed",
        "month-3": "due",
        "month-6": "upcoming",
        "month-9": "upcoming",
    }
    assert set((await statuses(datetime(2027, 2, 1, tzinfo=UTC))).values()) == {"missed"}


async def test_a_round_is_scored_once_refused_when_not_due_and_422_names_a_bad_answer(
    content_db: Database, access_db: Database, clinics: Clinics
) -> None:
    a, b = clinics.of(clinics.a), clinics.of(clinics.b)
    day_one = START + timedelta(days=1)
    shown = await quiz.questions(content_db, access_db, a, "baseline", "en", day_one)
    assert [q.id for q in shown.questions] == list(RIGHT)
    assert shown.status == "due"
    assert all(len(q.options) == 3 for q in shown.questions)
    assert not any("answer" in name for name in QuizQuestion.__struct_fields__)

    two_wrong = wrong(RIGHT, f"{TRACK}/staff-words-matter", f"{TRACK}/{OARS}")
    result = await quiz.take(
        content_db, access_db, a, "baseline", QuizIn(answers=two_wrong), day_one
    )
    assert (result.questions, result.correct, result.score) == (8, 6, 0.75)
    assert [x.id for x in result.answers if not x.correct] == [
        f"{TRACK}/staff-words-matter",
        f"{TRACK}/{OARS}",
    ]
    with pytest.raises(Conflict, match="once only"):
        await quiz.take(content_db, access_db, a, "baseline", QuizIn(answers=RIGHT), day_one)
    with pytest.raises(Conflict, match="not due until 2026-04-30"):
        await quiz.take(content_db, access_db, a, "month-3", QuizIn(answers=RIGHT), day_one)
    with pytest.raises(NotFound, match="no quiz round 'month-12'"):
        await quiz.take(content_db, access_db, a, "month-12", QuizIn(answers=RIGHT), day_one)
    mine = await me.my_training(content_db, access_db, a, "zh-CN", day_one)
    assert (mine.rounds[0].status, mine.rounds[0].score) == ("done", 0.75)

    # Bad answers: each named, nothing stored; the right ones then count.
    missing = {qid: c for qid, c in RIGHT.items() if not qid.endswith(OARS)}
    with pytest.raises(AnswerRefused) as refused:
        await quiz.take(content_db, access_db, b, "baseline", QuizIn(answers=missing), day_one)
    assert refused.value.status_code == 422
    assert f"{TRACK}/{OARS}: not answered" in str(refused.value)
    odd = {**RIGHT, "core/why-daily": 0, f"{TRACK}/staff-mi-spirit": 3}
    with pytest.raises(AnswerRefused) as refused:
        await quiz.take(content_db, access_db, b, "baseline", QuizIn(answers=odd), day_one)
    assert "core/why-daily: no such question in this quiz" in str(refused.value)
    assert f"{TRACK}/staff-mi-spirit: 3 is not an option (0-2)" in str(refused.value)
    perfect = await quiz.take(content_db, access_db, b, "baseline", QuizIn(answers=RIGHT), day_one)
    assert perfect.score == 1.0

    # A round whose window has passed is closed.
    late = datetime(2026, 5, 2, tzinfo=UTC)
    with pytest.raises(Conflict, match="closed on 2026-04-30"):
        await quiz.take(
            content_db, access_db, clinics.of(clinics.c), "baseline", QuizIn(answers=RIGHT), late
        )


async def test_the_report_per_clinic_on_known_data_and_a_coordinator_sees_only_their_clinics(
    content_db: Database, access_db: Database, clinics: Clinics
) -> None:
    day_one = START + timedelta(days=1)
    words, oars = f"{TRACK}/staff-words-matter", f"{TRACK}/{OARS}"
    taken = {
        clinics.a: wrong(RIGHT, words, oars),  # 0.75
        clinics.c: RIGHT,  # 1.0
        clinics.b: wrong(RIGHT, *list(RIGHT)[:4]),  # 0.5
    }
    for staff_id, answers in taken.items():
        await quiz.take(
            content_db,
            access_db,
            clinics.of(staff_id),
            "baseline",
            QuizIn(answers=answers),
            day_one,
        )
    for key in ("staff-mi-oars", "staff-mi-spirit"):
        await me.mark_read(content_db, clinics.of(clinics.a), TRACK, key, day_one)

    now = datetime(2026, 5, 1, tzinfo=UTC)  # month-3 open for everyone, taken by no one
    yx, km = await report.clinic_reports(content_db, access_db, ADMIN, None, now)
    assert (yx.clinic_id, yx.staff, yx.lessons, yx.lessons_read) == (clinics.yx, 2, 8, 2)
    assert yx.lessons_read_share == 0.125
    baseline, month3, month6, _ = yx.rounds
    assert (baseline.staff, baseline.took, baseline.mean_score) == (2, 2, 0.875)
    shares = {q.id: q.share_correct for q in baseline.questions}
    assert shares[words] == shares[oars] == 0.5
    assert sum(1 for s in shares.values() if s == 1.0) == 6
    assert (month3.staff, month3.took, month3.mean_score, month3.questions) == (2, 0, None, [])
    assert month6.staff == 0  # not opened yet
    assert (km.staff, km.rounds[0].took, km.rounds[0].mean_score) == (1, 1, 0.5)
    assert km.lessons_read_share == 0.0

    yx_only = clinics.of(clinics.a)
    assert [
        r.clinic_id for r in await report.clinic_reports(content_db, access_db, yx_only, None, now)
    ] == [clinics.yx]
    with pytest.raises(NotFound):
        await report.clinic_reports(content_db, access_db, yx_only, clinics.km, now)


async def test_a_clinic_programme_start_moves_its_staffs_rounds_until_someone_answers(
    content_db: Database, access_db: Database, clinics: Clinics
) -> None:
    march = ProgrammeIn(starts_on="2026-03-01")
    made = await programmes.set_start(content_db, access_db, ADMIN, clinics.yx, march, START)
    midnight_in_yuxi = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert made.starts_at == midnight_in_yuxi

    async def start_of(staff_id: int) -> datetime:
        mine = await me.my_training(content_db, access_db, clinics.of(staff_id), "en", START)
        return mine.started_at

    assert await start_of(clinics.a) == midnight_in_yuxi  # created before: the programme's
    assert await start_of(clinics.b) == START  # KM has no programme start
    april = datetime(2026, 4, 1, tzinfo=UTC)
    late = await staff_member(access_db, "d.late", ["YX"], april)
    assert await start_of(late) == april  # created after: their own
    with pytest.raises(Conflict, match="not due until 2026-02-28T16:00:00"):
        await quiz.take(
            content_db, access_db, clinics.of(clinics.a), "baseline", QuizIn(answers=RIGHT), START
        )

    with pytest.raises(InvalidInput, match="starts_on: 2026-02-30 is not a day"):
        await programmes.set_start(
            content_db, access_db, ADMIN, clinics.yx, ProgrammeIn(starts_on="2026-02-30"), START
        )
    with pytest.raises(NotFound):
        await programmes.set_start(content_db, access_db, ADMIN, 99, march, START)
    day = datetime(2026, 3, 2, tzinfo=UTC)
    reader = clinics.of(clinics.a)
    await quiz.take(content_db, access_db, reader, "baseline", QuizIn(answers=RIGHT), day)
    same = await programmes.set_start(content_db, access_db, ADMIN, clinics.yx, march, day)
    assert same.set_at == START  # the same again changes nothing
    with pytest.raises(Conflict, match="have answered quiz rounds"):
        await programmes.set_start(
            content_db, access_db, ADMIN, clinics.yx, ProgrammeIn(starts_on="2026-04-01"), day
        )
    listed = await programmes.list_starts(content_db, clinics.of(clinics.b))
    assert listed == []  # KM's coordinator does not see YX's


Client = AsyncTestClient[Litestar]


@pytest.fixture
async def http(app_settings: Settings, clinics: Clinics) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings=app_settings)) as client:
        yield client


async def _token(access_db: Database, staff_id: int) -> dict[str, str]:
    info = await get_staff(access_db, staff_id)
    assert info is not None
    token = await mint_staff_token(access_db, info, timedelta(hours=1))
    return {"Authorization": f"Bearer {token}"}


async def test_over_http_a_staff_member_reads_answers_and_sees_only_their_own(
    http: Client, access_db: Database, clinics: Clinics, make_token: TokenFactory
) -> None:
    a, b = await _token(access_db, clinics.a), await _token(access_db, clinics.b)
    read = await http.post(f"/api/v1/training/lessons/{TRACK}/{OARS}/read", headers=a)
    assert read.status_code == 200, read.text
    assert read.json()["already"] is False
    shown = await http.get("/api/v1/training/quiz/baseline?language=en", headers=a)
    assert shown.status_code == 200, shown.text
    assert "quiz_answer" not in shown.text
    assert len(shown.json()["questions"]) == 8

    # Someone whose training started yesterday (the API's clock is the real one).
    yesterday = datetime.now(UTC) - timedelta(days=1)
    d = await _token(access_db, await staff_member(access_db, "d.sun", ["YX"], yesterday))
    bad = await http.post(
        "/api/v1/training/quiz/baseline", headers=d, json={"answers": {f"{TRACK}/{OARS}": 0}}
    )
    assert bad.status_code == 422
    assert f"{TRACK}/staff-mi-spirit: not answered" in bad.json()["detail"]
    taken = await http.post("/api/v1/training/quiz/baseline", headers=d, json={"answers": RIGHT})
    assert taken.status_code == 201, taken.text
    assert taken.json()["score"] == 1.0
    again = await http.post("/api/v1/training/quiz/baseline", headers=d, json={"answers": RIGHT})
    assert again.status_code == 409
    early = await http.post("/api/v1/training/quiz/month-3", headers=d, json={"answers": RIGHT})
    assert early.status_code == 409
    assert "not due until" in early.json()["detail"]
    unknown_field = await http.post("/api/v1/training/quiz/baseline", headers=a, json={"x": 1})
    assert unknown_field.status_code == 400

    mine_a = (await http.get("/api/v1/training/me", headers=a)).json()
    mine_b = (await http.get("/api/v1/training/me", headers=b)).json()
    assert (mine_a["staff_id"], mine_a["lessons_read"]) == (clinics.a, 1)
    assert (mine_b["staff_id"], mine_b["lessons_read"]) == (clinics.b, 0)

    mine = await http.get(f"/api/v1/training/report?clinic_id={clinics.yx}", headers=a)
    assert mine.status_code == 200
    assert mine.json()[0]["lessons_read"] == 1
    other = await http.get(f"/api/v1/training/report?clinic_id={clinics.km}", headers=a)
    assert other.status_code == 404

    put = await http.put(
        f"/api/v1/training/programmes/{clinics.yx}", headers=a, json={"starts_on": "2026-03-01"}
    )
    assert put.status_code == 403
    # A token made with `mmt token create` is no one's: no training of its own.
    plain = {"Authorization": f"Bearer {await make_token('coordinator', ['YX'])}"}
    assert (await http.get("/api/v1/training/me", headers=plain)).status_code == 403
    researcher = {"Authorization": f"Bearer {await make_token('researcher')}"}
    both = await http.get("/api/v1/training/report", headers=researcher)
    assert [r["clinic_id"] for r in both.json()] == [clinics.yx, clinics.km]
    assert (await http.get("/api/v1/training/me", headers=researcher)).status_code == 403


async def test_the_staff_quizs_answers_are_for_curriculum_editors_only(
    http: Client, make_token: TokenFactory
) -> None:
    """The knowledge quiz is made of the staff lessons' questions: the staff it assesses
    read those lessons through the API without the answers, and cannot export the file
    that holds them; editors see everything. A patients' track is shown whole."""

    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    coordinator = headers(await make_token("coordinator", ["YX"]))
    editor = headers(await make_token("content-editor"))
    path = f"/api/v1/tracks/{TRACK}/versions/1"

    def answers(body: dict[str, Any]) -> list[int | None]:
        return [
            lesson.get("quiz_answer")
            for module in body["content"]["modules"]
            for lesson in module["lessons"]
        ]

    read = await http.get(path, headers=coordinator)
    assert read.status_code == 200, read.text
    assert set(answers(read.json())) == {None}
    edited = await http.get(path, headers=editor)
    assert len([a for a in answers(edited.json()) if a is not None]) == 8
    refused = await http.get(f"{path}/export", headers=coordinator)
    assert refused.status_code == 403
    assert "quiz's answers" in refused.json()["detail"]
    assert (await http.get(f"{path}/export", headers=editor)).status_code == 200
