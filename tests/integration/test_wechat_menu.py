"""The account's menu: `mmt wechat menu` publishes wechat/menu.json through the fake WeChat
(refusals named), and a click on "我的记录" is a record request, as typing 记录 is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.fakes.process import RunningFake, running_fake
from mmt import app as mmt
from mmt.wechat_cli import MENU_FILE
from shared.db import Database
from shared.settings import get_settings
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import events
from tests.integration.test_feedback_wechat import (  # noqa: F401 (the client fixture)
    Client,
    accepted,
    answers,
    client,
    event_xml,
    stored,
)

APP_ID, SECRET = "wxmenutest00000001", "menu-test-app-secret"


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    with running_fake("wechat", "--app-id", APP_ID, "--app-secret", SECRET) as running:
        yield running


@pytest.fixture
def account(
    fake: RunningFake, monkeypatch: pytest.MonkeyPatch, redis_url: str, isolation: str
) -> Iterator[RunningFake]:
    fake.reset()
    for name, value in {
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_API_BASE_URL": fake.url,
        "REDIS_URL": redis_url,
        "BUS_PREFIX": isolation,  # the cached access token goes under the test's prefix
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()


def test_the_repo_s_menu_is_published_as_it_is_in_the_file(account: RunningFake) -> None:
    result = CliRunner().invoke(mmt, ["wechat", "menu"])
    assert result.exit_code == 0, result.output
    assert "我的记录" in result.output
    assert account.get("/_fake/menu") == json.loads(MENU_FILE.read_text(encoding="utf-8"))
    assert account.stats()["menus"] == 1


def test_a_menu_wechat_refuses_or_cannot_read_exits_1_saying_why(
    account: RunningFake, tmp_path: Path
) -> None:
    runner = CliRunner()
    too_many = tmp_path / "four.json"
    buttons = [{"type": "click", "name": f"b{i}", "key": f"K{i}"} for i in range(4)]
    too_many.write_text(json.dumps({"button": buttons}), encoding="utf-8")
    refused = runner.invoke(mmt, ["wechat", "menu", "--file", str(too_many)])
    assert refused.exit_code == 1
    assert "WeChat refused the menu: wechat 40016: invalid button size" in refused.output
    long_name = tmp_path / "long.json"
    long_name.write_text(
        json.dumps({"button": [{"type": "click", "name": "我的记录和检查结果", "key": "K"}]}),
        encoding="utf-8",
    )
    refused = runner.invoke(mmt, ["wechat", "menu", "--file", str(long_name)])
    assert "40018" in refused.output
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "button": [\n    {"type": "click",,}\n', encoding="utf-8")
    unreadable = runner.invoke(mmt, ["wechat", "menu", "--file", str(broken)])
    assert unreadable.exit_code == 1
    assert f"{broken}:3: not JSON" in unreadable.output
    assert account.get("/_fake/menu") == {}  # nothing was published


def test_without_an_official_account_nothing_is_published(
    account: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANNEL_WECHAT", "console")
    result = CliRunner().invoke(mmt, ["wechat", "menu"])
    assert result.exit_code == 1
    assert "CHANNEL_WECHAT is not wechat" in result.output
    assert account.stats().get("requests", 0) == 0


async def test_a_click_on_my_record_is_a_record_request_once(
    client: Client,  # noqa: F811
    feedback_db: Database,
    replies: Replies,
) -> None:
    await accepted(client, event_xml("CLICK", "MY_RECORD"))
    await accepted(client, event_xml("CLICK", "MY_RECORD"))  # WeChat's retry
    assert [text for _, text in await answers(replies)] == ["已收到，您的记录稍后发给您。"]
    requested = [e for e in await events(feedback_db) if e.tag() == "RecordRequested.v1"]
    assert [e.patient_id for e in requested] == [3]  # type: ignore[attr-defined]

    await accepted(client, event_xml("CLICK", "HELP"))
    assert "+868772012345" in (await answers(replies))[-1][1]
    before = await stored(feedback_db)
    await accepted(client, event_xml("CLICK", "SOMETHING_ELSE"))
    assert await replies.settle() == 0  # not taken: nothing enqueued
    assert len(await answers(replies)) == 2
    assert await stored(feedback_db) == before
