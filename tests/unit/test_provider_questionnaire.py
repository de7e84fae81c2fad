"""The provider-interaction questionnaire's definition (built in, checked like a clinic's
survey, discreet, one SMS a question) and its report's calendar months."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
import pytest

from services.feedback.reports.provider_interaction import window
from services.feedback.surveys.definitions import (
    ANONYMOUS,
    BUILT_IN,
    LANGUAGES,
    PROVIDER_INTERACTION,
    Survey,
    render,
    validate,
)
from shared.errors import InvalidInput
from shared.sms import segments
from shared.stigma import find_stigma

SURVEY = BUILT_IN[PROVIDER_INTERACTION]


def test_the_questionnaire_is_short_scaled_discreet_and_anonymous() -> None:
    validate(SURVEY)
    assert [q.key for q in SURVEY.questions] == [
        "listened",
        "respect",
        "clear",
        "own_plan",
        "again",
    ]
    assert {q.type for q in SURVEY.questions} == {"scale"}
    assert PROVIDER_INTERACTION in ANONYMOUS
    for language in LANGUAGES:
        assert SURVEY.title[language]
        for index in range(len(SURVEY.questions)):
            text = render(SURVEY, index, language)
            assert segments(text) == 1, (language, text)
            assert not find_stigma(text)
    assert render(SURVEY, 1, "zh-CN") == (
        "(2/5) 和我谈话的工作人员尊重我，不评判我。1=很不同意，5=很同意（回复1-5）"
    )
    assert "匿名" in render(SURVEY, 0, "zh-CN")


def test_a_broken_copy_is_refused_naming_each_question_and_field() -> None:
    data = msgspec.to_builtins(SURVEY)
    data["key"] = "provider_copy"
    data["questions"][1]["text"] = {"en": "Did staff respect you?"}
    data["questions"][3]["text"]["zh-CN"] = "工作人员帮您戒毒了吗？"
    data["questions"][4]["options"] = {"zh-CN": ["是", "否"]}
    with pytest.raises(InvalidInput) as refused:
        validate(msgspec.convert(data, Survey))
    problems = str(refused.value).split("; ")
    assert problems == [
        "questions[2] (respect).text: zh-CN is required",
        "questions[4] (own_plan): '戒毒' must not appear (lock screens are read)",
        "questions[5] (again).options: only choice questions have options",
    ]


def test_months_default_to_the_last_three_ended_in_the_clinics_time_zone() -> None:
    # 2027-01-01 01:00 in Shanghai is still December in UTC: January has begun there.
    now = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    months = window("Asia/Shanghai", None, None, now)
    assert (months.first, months.last) == (date(2026, 10, 1), date(2026, 12, 1))
    assert window("UTC", None, None, now).last == date(2026, 11, 1)
    wrapped = window("UTC", "2026-11", "2027-02", now)
    assert wrapped.starts() == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    since, until = wrapped.bounds()
    assert (since.isoformat(), until.isoformat()) == (
        "2026-11-01T00:00:00+00:00",
        "2027-03-01T00:00:00+00:00",
    )
    for first, last, message in [
        ("2026-1", None, "from must be a month"),
        ("2026-12", "2026-11", "from: after to"),
        ("2024-11", "2026-11", "to: at most 24 months"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            window("UTC", first, last, now)
