"""Lesson pages: opened through signed links, measured by events, and safe with bad links."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from services.content.app import create_app
from services.content.models import Outbox
from services.content.service.importer import import_files
from shared.bus import decode
from shared.db import Database
from shared.lesson_links import LessonLink, LessonLinks, LessonLinkSettings
from shared.messages import LessonOpened, Message, QuizAnswered
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

LINKS = LessonLinks(LessonLinkSettings(lesson_link_secret="p" * 40))
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def client(
    content_db: Database, access_db: Database, app_settings: Settings, tmp_path: Path
) -> AsyncIterator[Client]:
    # A body with markup in it: it must reach the page as text.
    core = CORE.replace("睡前少看手机。", "<script>alert(1)</script> & 睡前少看手机。")
    write(tmp_path, "core.yaml", core)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path], publish=True)
    async with AsyncTestClient(app=create_app(settings=app_settings, links=LINKS)) as test_client:
        yield test_client


async def events(db: Database) -> list[Message]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.seq))).scalars().all()
    return [
        message
        for message in (decode({"m": row.payload}) for row in rows)
        if isinstance(message, LessonOpened | QuizAnswered)
    ]


def page_of(key: str, language: str = "zh-CN", version: int = 1, reader: str = "msg-42") -> str:
    return f"/lessons/{LINKS.token(LessonLink(reader, 'core', key, version, language))}"


async def test_opening_a_lesson_renders_it_and_records_who_read_it(
    client: Client, content_db: Database
) -> None:
    path = page_of("daily-dose", "en")  # once: a token made a second later differs
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    html = page.text
    assert '<html lang="en">' in html
    assert "<h1>Every day, on time</h1>" in html
    assert "<p>Come for your dose at the same time every day.</p>" in html
    assert "<p>If you miss one, call the clinic.</p>" in html
    token = path.removeprefix("/lessons/")
    assert f'action="{token}/quiz"' in html
    assert html.count('type="radio" name="choice"') == 3
    assert "src=" not in html
    assert "href=" not in html  # nothing external to fetch, nothing to leak the link to
    (opened,) = await events(content_db)
    assert isinstance(opened, LessonOpened)
    assert (opened.reader, opened.track, opened.lesson_key, opened.version, opened.language) == (
        "msg-42",
        "core",
        "daily-dose",
        1,
        "en",
    )


async def test_a_missing_translation_falls_back_to_zh_cn_and_text_is_escaped(
    client: Client, content_db: Database
) -> None:
    page = await client.get(page_of("sleep-well", "en"))
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 睡前少看手机。" in page.text
    assert "<script>" not in page.text
    assert "<form" not in page.text  # no quiz
    (opened,) = await events(content_db)
    assert isinstance(opened, LessonOpened)
    assert opened.language == "zh-CN"


async def test_answering_the_quiz_records_whether_it_was_right(
    client: Client, content_db: Database
) -> None:
    quiz = f"{page_of('daily-dose', reader='msg-7')}/quiz"
    right = await client.post(quiz, data={"choice": "1"})
    assert right.status_code == 200
    assert "回答正确！" in right.text
    wrong = await client.post(quiz, data={"choice": "2"})
    assert "这次没答对。" in wrong.text
    assert '正确答案： <span class="answer">联系门诊</span>' in wrong.text
    for nonsense in ("9", "-1", "x", ""):
        again = await client.post(quiz, data={"choice": nonsense})
        assert again.status_code == 400
        assert "请选择一个答案。" in again.text
        assert 'action="quiz"' in again.text  # posts back to the same URL
    assert (await client.post(quiz)).status_code == 400
    answers = await events(content_db)
    assert [(a.reader, a.choice, a.correct) for a in answers if isinstance(a, QuizAnswered)] == [
        ("msg-7", 1, True),
        ("msg-7", 2, False),
    ]
    assert len(answers) == 2

    no_quiz = await client.post(f"{page_of('sleep-well')}/quiz", data={"choice": "0"})
    assert no_quiz.status_code == 404


async def test_bad_links_say_so_and_reveal_nothing(
    client: Client, content_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = page_of("daily-dose")
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    other_secret = LessonLinks(LessonLinkSettings(lesson_link_secret="q" * 40))
    forged = f"/lessons/{other_secret.token(LessonLink('x', 'core', 'daily-dose', 1, 'en'))}"
    for path in (tampered, forged, "/lessons/nonsense", f"{tampered}/quiz"):
        method = "POST" if path.endswith("/quiz") else "GET"
        response = await client.request(method, path)
        assert response.status_code == 404, path
        assert "this link is not valid" in response.text.lower()
        assert "每天按时服药" not in response.text

    gone = await client.get(page_of("daily-dose", version=9))
    assert gone.status_code == 404
    assert (await client.get(page_of("no-such-lesson"))).status_code == 404

    fortnight_ago = time.time() - 15 * 86_400
    signed_then = LessonLinks(
        LessonLinkSettings(lesson_link_secret="p" * 40), clock=lambda: fortnight_ago
    )
    expired = (
        f"/lessons/{signed_then.token(LessonLink('msg-42', 'core', 'daily-dose', 1, 'zh-CN'))}"
    )
    response = await client.get(expired)
    assert response.status_code == 410
    assert "this link has expired" in response.text.lower()
    assert "每天按时服药" not in response.text
    assert (await client.post(f"{expired}/quiz", data={"choice": "1"})).status_code == 410
    assert await events(content_db) == []


async def test_without_a_secret_pages_answer_503_and_the_api_still_works(
    content_db: Database,
    access_db: Database,
    app_settings: Settings,
    make_token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LESSON_LINK_SECRET", raising=False)
    editor = {"Authorization": f"Bearer {await make_token('content-editor')}"}
    async with AsyncTestClient(app=create_app(settings=app_settings)) as client:
        page = await client.get(page_of("daily-dose"))
        assert page.status_code == 503
        assert "lesson links are not configured" in page.text.lower()
        assert (await client.get("/api/v1/tracks", headers=editor)).status_code == 200
