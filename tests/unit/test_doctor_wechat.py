"""`mmt doctor` refuses a WeChat mapping WeChat would not show, naming kind, field and rule."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mmt import app

runner = CliRunner()


def test_doctor_names_the_kind_field_and_rule_of_a_bad_wechat_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.settings import get_settings

    templates = {
        "dose": {"template_id": "T1", "data": {"first": "summary", "thing2": "local_time"}},
        "lesson": {"template_id": "T2", "data": {"phrase1": "=今天的健康小课"}},
        "survey": {"template_id": "T3", "data": {}},
    }
    for name, value in {
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": "wxdoctor0000000001",
        "WECHAT_APP_SECRET": "doctor-app-secret",
        "WECHAT_TEMPLATES": json.dumps(templates, ensure_ascii=False),
        # Unreachable on purpose: the channel checks need neither.
        "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/db",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        result = runner.invoke(app, ["doctor"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert (
        "FAIL  channels: WECHAT_TEMPLATES dose field first: WeChat no longer shows first or "
        "remark (since 2023-05-04)"
    ) in result.output
    assert (
        "FAIL  channels: WECHAT_TEMPLATES lesson field phrase1: the literal breaks the rule: "
        "phrase: at most 5 Chinese characters"
    ) in result.output
    assert (
        "FAIL  channels: WECHAT_TEMPLATES survey: no keyword fields; WeChat would show an "
        "empty card"
    ) in result.output
    assert "WECHAT_TEMPLATES dose field thing2" not in result.output  # a good field passes
