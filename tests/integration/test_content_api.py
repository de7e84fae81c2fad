"""The curriculum API as content editors, admins, coordinators and researchers use it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from services.content.app import create_app
from services.content.models import Outbox
from services.content.service.importer import import_files
from shared import sms
from shared.access.clinics import ClinicIn, create_clinic
from shared.bus import decode
from shared.channels.settings import WeChatSettings, WeChatTemplate
from shared.db import Database
from shared.lesson_links import LessonLinks, LessonLinkSettings
from shared.messages import CurriculumPublished, Message
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

PUBLIC_URL = "https://lessons.example.org/c"
LINKS = LessonLinks(LessonLinkSettings(lesson_link_secret="k" * 40, content_public_url=PUBLIC_URL))
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def tokens(access_db: Database, make_token: TokenFactory) -> dict[str, dict[str, str]]:
    await create_clinic(access_db, ClinicIn(code="YX-A", name="Yuxi A", help_phone="0877 2012345"))
    made = {
        "admin": await make_token("admin"),
        "content-editor": await make_token("content-editor"),
        "coordinator": await make_token("coordinator", ["YX-A"]),
        "researcher": await make_token("researcher"),
    }
    return {role: {"Authorization": f"Bearer {token}"} for role, token in made.items()}


@pytest.fixture
async def client(
    content_db: Database, access_db: Database, app_settings: Settings
) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(settings=app_settings, links=LINKS)) as test_client:
        yield test_client


async def events(db: Database) -> list[Message]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.seq))).scalars().all()
    return [decode({"m": row.payload}) for row in rows]


def lesson(
    key: str, module: str, notification: str = "新的一课已准备好。", **extra: Any
) -> dict[str, Any]:
    return {
        "module": module,
        "key": key,
        "translations": {
            "zh-CN": {
                "title": f"课 {key}",
                "notification": notification,
                "body": "第一段。\n\n第二段。",
            },
            "en": {
                "title": f"Lesson {key}",
                "notification": "A new lesson is ready.",
                "body": "One.",
            },
        },
        **extra,
    }


TRACK = {
    "code": "core",
    "titles": {"zh-CN": "核心课程", "en": "Core"},
    "lessons_per_week": 2,
    "weekdays": ["tue", "fri"],
    "time": "19:30",
}


async def test_an_editor_builds_publishes_and_revises_a_track(
    client: Client, tokens: dict[str, dict[str, str]], content_db: Database
) -> None:
    editor = tokens["content-editor"]
    created = await client.post("/api/v1/tracks", json=TRACK, headers=editor)
    assert created.status_code == 201, created.text
    assert created.json()["version"]["state"] == "draft"
    again = await client.post("/api/v1/tracks", json=TRACK, headers=editor)
    assert again.status_code == 409

    draft = "/api/v1/tracks/core/draft"
    for module in ("basics", "health"):
        added = await client.post(
            f"{draft}/modules", json={"code": module, "titles": {"zh-CN": module}}, headers=editor
        )
        assert added.status_code == 201, added.text
    quiz = {"question": "?", "options": ["a", "b"]}
    with_quiz = lesson("first", "basics", quiz_answer=1)
    for language in ("zh-CN", "en"):
        with_quiz["translations"][language]["quiz"] = quiz
    for body in (with_quiz, lesson("third", "health"), lesson("second", "basics")):
        added = await client.post(f"{draft}/lessons", json=body, headers=editor)
        assert added.status_code == 201, added.text
    moved = await client.patch(
        f"{draft}/modules/health", json={"position": 1, "titles": {"zh-CN": "健康"}}, headers=editor
    )
    assert [m["code"] for m in moved.json()["content"]["modules"]] == ["health", "basics"]
    cadence = await client.patch(
        draft, json={"lessons_per_week": 3, "weekdays": ["mon", "wed", "fri"]}, headers=editor
    )
    assert cadence.status_code == 200, cadence.text

    published = await client.post(f"{draft}/publish", headers=editor)
    assert published.status_code == 200, published.text
    assert published.json() | {"created_at": None, "published_at": None} == {
        "track": "core",
        "version": 1,
        "state": "published",
        "created_at": None,
        "published_at": None,
        "modules": 2,
        "lessons": 3,
    }
    (event,) = await events(content_db)
    assert isinstance(event, CurriculumPublished)
    assert [(x.position, x.key, x.has_quiz) for x in event.lessons] == [
        (1, "third", False),
        (2, "first", True),
        (3, "second", False),
    ]
    assert event.cadence.weekdays == [1, 3, 5]

    # Published: edits are refused with how to go on, and nothing changed.
    refused = await client.patch(f"{draft}/lessons/first", json={"tags": ["x"]}, headers=editor)
    assert refused.status_code == 409
    assert "published versions never change; POST /api/v1/tracks/core/draft" in refused.text
    started = await client.post(draft, headers=editor)
    assert started.status_code == 201
    assert started.json()["version"] == 2
    assert (await client.post(draft, headers=editor)).status_code == 409

    changed = await client.patch(
        f"{draft}/lessons/second",
        json={"module": "health", "position": 1, "translations": {"en": None}, "tags": ["new"]},
        headers=editor,
    )
    assert changed.status_code == 200, changed.text
    health = changed.json()["content"]["modules"][0]
    assert [x["key"] for x in health["lessons"]] == ["second", "third"]
    assert list(health["lessons"][0]["translations"]) == ["zh-CN"]
    assert (await client.delete(f"{draft}/lessons/first", headers=editor)).status_code == 200
    not_empty = await client.delete(f"{draft}/modules/health", headers=editor)
    assert not_empty.status_code == 409
    assert "still has 2 lesson(s)" in not_empty.text
    assert (await client.delete(f"{draft}/modules/basics", headers=editor)).status_code == 200

    listed = await client.get("/api/v1/tracks/core/versions", headers=editor)
    assert [(v["version"], v["state"], v["lessons"]) for v in listed.json()] == [
        (2, "draft", 2),
        (1, "published", 3),
    ]
    one = await client.get("/api/v1/tracks/core/versions/1", headers=editor)
    assert [m["code"] for m in one.json()["content"]["modules"]] == ["health", "basics"]
    track = await client.get("/api/v1/tracks/core", headers=editor)
    assert track.json() == {
        "code": "core",
        "audience": "patients",
        "titles": {"zh-CN": "核心课程", "en": "Core"},
        "published_version": 1,
        "draft_version": 2,
        "versions": 2,
    }


async def test_bad_content_is_refused_with_every_problem_and_nothing_changes(
    client: Client, tokens: dict[str, dict[str, str]], content_db: Database
) -> None:
    admin = tokens["admin"]
    assert (await client.post("/api/v1/tracks", json=TRACK, headers=admin)).status_code == 201
    draft = "/api/v1/tracks/core/draft"
    empty = await client.post(f"{draft}/publish", headers=admin)
    assert empty.status_code == 400
    assert empty.json()["problems"] == [
        {
            "file": None,
            "line": None,
            "field": "modules",
            "message": "a published track needs at least one module",
        }
    ]
    await client.post(
        f"{draft}/modules", json={"code": "m1", "titles": {"zh-CN": "一"}}, headers=admin
    )
    bad = lesson("bad-one", "m1", notification="美沙酮" + "很" * 140)
    refused = await client.post(f"{draft}/lessons", json=bad, headers=admin)
    assert refused.status_code == 400
    problems = [(p["field"], p["message"]) for p in refused.json()["problems"]]
    field = "modules[0].lessons[0].translations.zh-CN.notification"
    assert problems == [
        (field, "3 SMS segments (max 2): 143 UCS-2 characters"),
        (field, 'contains "美沙酮", which could out a patient on a lock screen'),
    ]
    assert refused.json()["detail"].startswith("lesson refused: 2 problems: ")
    del bad["translations"]["zh-CN"]["body"]
    untyped = await client.post(f"{draft}/lessons", json=bad, headers=admin)
    assert untyped.status_code == 400
    assert "body" in untyped.text

    no_zh = lesson("no-zh", "m1")
    del no_zh["translations"]["zh-CN"]
    missing = await client.post(f"{draft}/lessons", json=no_zh, headers=admin)
    assert missing.status_code == 400
    assert missing.json()["problems"][0]["field"] == "modules[0].lessons[0].translations.zh-CN"
    bad_week = await client.patch(draft, json={"weekdays": ["mon", "mon"]}, headers=admin)
    assert [p["message"] for p in bad_week.json()["problems"]] == ["names a weekday twice"]
    unknown = await client.patch(draft, json={"next": "nowhere"}, headers=admin)
    assert "no track 'nowhere'" in unknown.text

    unpublishable = await client.post(f"{draft}/publish", headers=admin)
    assert [p["field"] for p in unpublishable.json()["problems"]] == ["modules[0].lessons"]
    version = (await client.get("/api/v1/tracks/core/versions/1", headers=admin)).json()
    assert version["content"]["modules"] == [
        {"code": "m1", "titles": {"zh-CN": "一"}, "lessons": []}
    ]
    assert version["content"]["track"]["weekdays"] == ["tue", "fri"]
    assert await events(content_db) == []


async def test_coordinators_and_researchers_read_but_never_write(
    client: Client, tokens: dict[str, dict[str, str]], content_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path], publish=True)
    for role in ("coordinator", "researcher"):
        headers = tokens[role]
        assert (await client.get("/api/v1/tracks", headers=headers)).status_code == 200
        version = await client.get("/api/v1/tracks/core/versions/1", headers=headers)
        assert version.status_code == 200
        for method, path in [
            ("POST", "/api/v1/tracks"),
            ("POST", "/api/v1/tracks/core/draft"),
            ("PATCH", "/api/v1/tracks/core/draft"),
            ("POST", "/api/v1/tracks/core/draft/publish"),
            ("DELETE", "/api/v1/tracks/core/draft/lessons/daily-dose"),
        ]:
            response = await client.request(method, path, json=TRACK, headers=headers)
            assert response.status_code == 403, f"{role} {method} {path}"
    listed = await client.get("/api/v1/tracks", headers=tokens["coordinator"])
    assert [(t["code"], t["published_version"]) for t in listed.json()] == [
        ("core", 1),
        ("maintenance", 1),
    ]


async def test_preview_shows_what_each_channel_carries(
    client: Client, tokens: dict[str, dict[str, str]], content_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path], publish=True)
    path = "/api/v1/tracks/core/versions/1/lessons/daily-dose/preview"
    editor = tokens["content-editor"]

    sms_zh = (await client.get(path, params={"channel": "sms"}, headers=editor)).json()
    link = sms_zh["link"]
    assert link.startswith(f"{PUBLIC_URL}/lessons/")
    assert sms_zh["text"] == f"今天的健康小课已准备好，点开看看。 {link}"
    assert sms_zh["encoding"] == "UCS-2"
    assert sms_zh["segments"] == sms.segments(sms_zh["text"])
    assert sms_zh["notification_segments"] == 1

    sms_en = (
        await client.get(path, params={"channel": "sms", "language": "en"}, headers=editor)
    ).json()
    assert sms_en["encoding"] == "GSM-7"
    assert sms_en["text"].startswith("Your health lesson for today is ready. https://")

    wechat = (
        await client.get(path, params={"channel": "wechat", "language": "en"}, headers=editor)
    ).json()
    # No lesson template configured: nothing would show on WeChat, and the preview says so.
    assert (wechat["fields"], wechat["template_id"]) == ({}, None)
    assert wechat["problem"] == (
        "WECHAT_TEMPLATES has no lesson template: lessons go by the next channel"
    )
    assert wechat["text"] is None
    only_zh = "/api/v1/tracks/core/versions/1/lessons/sleep-well/preview"
    fallback = await client.get(only_zh, params={"language": "en"}, headers=editor)
    assert fallback.json()["language"] == "zh-CN"
    assert (await client.get(path, params={"channel": "fax"}, headers=editor)).status_code == 400
    assert (await client.get(path, params={"language": "fr"}, headers=editor)).status_code == 400
    missing = path.replace("daily-dose", "nope")
    assert (await client.get(missing, headers=editor)).status_code == 404

    # The sample link opens the real page, and a preview is not counted as a reading.
    page = await client.get(link.removeprefix(PUBLIC_URL))
    assert page.status_code == 200
    assert "每天按时服药" in page.text
    assert len(await events(content_db)) == 2  # the two CurriculumPublished


async def wechat_preview(
    content_db: Database,
    app_settings: Settings,
    headers: dict[str, str],
    tmp_path: Path,
    wechat: WeChatSettings,
    languages: tuple[str, ...],
) -> list[dict[str, Any]]:
    """The daily-dose lesson's WeChat preview in each language, under `wechat`."""
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path], publish=True)
    path = "/api/v1/tracks/core/versions/1/lessons/daily-dose/preview"
    app = create_app(settings=app_settings, links=LINKS, wechat=wechat)
    async with AsyncTestClient(app=app) as client:
        return [
            (
                await client.get(
                    path, params={"channel": "wechat", "language": language}, headers=headers
                )
            ).json()
            for language in languages
        ]


async def test_the_wechat_preview_shows_the_keyword_fields_as_they_will_be_sent(
    content_db: Database,
    app_settings: Settings,
    tokens: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    lesson_card = {"phrase1": "title", "thing2": "summary", "time3": "local_time"}
    wechat = WeChatSettings(
        wechat_templates={"lesson": WeChatTemplate(template_id="TPL-LESSON", data=lesson_card)},
        wechat_send_mode="subscribe",
    )
    shown, refused = await wechat_preview(
        content_db, app_settings, tokens["researcher"], tmp_path, wechat, ("zh-CN", "en")
    )
    assert (shown["template_id"], shown["send_mode"], shown["problem"]) == (
        "TPL-LESSON",
        "subscribe",
        None,
    )
    assert set(shown["fields"]) == {"phrase1", "thing2", "time3"}
    assert shown["fields"]["phrase1"] == "新的小课"
    assert shown["fields"]["thing2"] == "今天的健康小课已准备好，点开看看。"
    assert re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", shown["fields"]["time3"])
    # In English the title cannot be a phrase (Chinese only): the send would not go by
    # WeChat, and the editor reads why, naming the field and the rule.
    assert refused["fields"] == {}
    assert refused["problem"] == (
        "wechat: the lesson template's phrase1 (phrase: at most 5 Chinese characters)"
    )


async def test_the_wechat_preview_cuts_a_long_notification_as_wechat_requires(
    content_db: Database,
    app_settings: Settings,
    tokens: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    wechat = WeChatSettings(
        wechat_templates={"lesson": WeChatTemplate(template_id="T", data={"thing1": "summary"})}
    )
    [shown] = await wechat_preview(
        content_db, app_settings, tokens["researcher"], tmp_path, wechat, ("en",)
    )
    # "Your health lesson for today is ready." is 38 characters; a thing holds 20.
    assert shown["fields"] == {"thing1": "Your health lesson …"}
    assert shown["problem"] is None


async def test_export_round_trips_through_the_importer(
    client: Client, tokens: dict[str, dict[str, str]], content_db: Database, tmp_path: Path
) -> None:
    write(tmp_path, "core.yaml", CORE)
    write(tmp_path, "maintenance.yaml", MAINTENANCE)
    await import_files(content_db, [tmp_path], publish=True)
    exported = await client.get(
        "/api/v1/tracks/core/versions/1/export", headers=tokens["researcher"]
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/yaml")
    assert 'filename="core-v1.yaml"' in exported.headers["content-disposition"]
    write(tmp_path, "core.yaml", exported.text)
    (core, maintenance) = await import_files(content_db, [tmp_path])
    assert (core.outcome, maintenance.outcome) == ("unchanged", "unchanged")
    gone = await client.get("/api/v1/tracks/core/versions/7/export", headers=tokens["admin"])
    assert gone.status_code == 404
