"""WeChat's keyword-field rules: what is cut, what is refused, and why, before any send."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.scheduler.rendering import Record, render
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels import message_fields as mf
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat_fields import (
    ELLIPSIS,
    FieldRefused,
    check,
    field_type,
    fit,
    keyword_values,
    mapping_problems,
)
from shared.stigma import find_stigma

AT = datetime(2026, 12, 3, 8, 5, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_a_long_thing_is_cut_with_an_ellipsis_within_twenty_characters() -> None:
    value = fit("thing2", "新的一课：如何在冬天睡个好觉，以及早上起床的小窍门")
    assert len(value) == 20
    assert value == "新的一课：如何在冬天睡个好觉，以及早上…"
    assert value.endswith(ELLIPSIS)
    assert fit("thing2", "今日提醒") == "今日提醒"  # short enough: as it is
    assert fit("thing2", "x" * 20) == "x" * 20  # exactly twenty: not cut


def test_a_thing_is_put_on_one_line() -> None:
    assert fit("thing1", "今天\n记得\r\n来") == "今天 记得 来"


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("phrase3", "六个汉字太长", "phrase: at most 5 Chinese characters"),
        ("phrase3", "Visit", "phrase: at most 5 Chinese characters"),
        ("character_string4", "a" * 33, "character_string: at most 32 letters"),
        ("character_string4", "编号12", "character_string: at most 32 letters"),
        ("number5", "12a", "number: at most 32 digits"),
        ("number5", "1" * 33, "number: at most 32 digits"),
        ("time2", "明天上午", "time: a 24-hour time"),
        ("time2", "2026-12-03 08:30", "time: a 24-hour time"),
        ("time2", "25:00", "time: a 24-hour time"),
        ("date6", "12月3日", "date: a date"),
        ("amount7", "88", "amount: a currency sign"),
        ("letter8", "abc1", "letter: at most 32 letters"),
        ("phrase3", "提\n醒", "no line breaks"),
        ("time2", "08:30\n", "no line breaks"),
        ("thing1", "", "thing: at most 20 characters"),  # empty: WeChat refuses it too
        ("keyword1", "门诊", "not a typed keyword field"),
        ("first", "门诊", "not a typed keyword field"),
    ],
)
def test_a_value_breaking_its_rule_is_refused_with_the_rule_named(
    field: str, value: str, rule: str
) -> None:
    with pytest.raises(FieldRefused) as caught:
        fit(field, value)
    assert caught.value.field == field
    assert rule in caught.value.rule
    if value:
        assert value not in str(caught.value)  # the patient's text is never the reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phrase3", "今日提醒"),
        ("character_string4", "A-2026/12#03"),
        ("number5", "12.5"),
        ("time2", "08:30"),
        ("time2", "2026年12月3日 08:30"),
        ("time2", "2026年12月3日 08:30~2026年12月3日 09:00"),
        ("date6", "2026年12月3日"),
        ("amount7", "¥10.50"),
        ("amount7", "10元"),
        ("phone_number9", "+86-0877-2012345"),
        ("name10", "王小明"),
        ("name10", "L.W."),
    ],
)
def test_values_that_keep_their_rule_go_as_they_are(field: str, value: str) -> None:
    check(field, value)
    assert fit(field, value) == value


def test_the_type_is_the_name_s_prefix() -> None:
    assert field_type("character_string12") == "character_string"
    assert field_type("thing1") == "thing"
    assert field_type("thing") is None  # a keyword has a number
    assert field_type("remark") is None


def message(fields: dict[str, str], kind: str = "dose") -> OutboundMessage:
    return OutboundMessage("m-1", "oOPENID", "今天记得按时来门诊。", kind, fields)


def test_keyword_values_fill_shorten_and_refuse_by_name() -> None:
    notification = "新的一课：如何在冬天睡个好觉，以及早上起床的小窍门"
    link = "https://x.example/l/1"
    fields = render(
        "lesson",
        "zh-CN",
        explicit=False,
        name="L.W.",
        lesson_notification=notification,
        link=link,
        local=AT,
    ).fields
    template = WeChatTemplate(
        template_id="T",
        data={"phrase1": "title", "thing2": "summary", "time3": "local_time", "thing4": "=门诊"},
    )
    values = keyword_values(message(fields, "lesson"), template)
    assert values == {
        "phrase1": "新的小课",
        "thing2": "新的一课：如何在冬天睡个好觉，以及早上…",
        "time3": "2026年12月3日 08:05",
        "thing4": "门诊",
    }
    english = render("dose", "en", explicit=False, name="L.W.", local=AT).fields
    with pytest.raises(SendFailed) as caught:
        keyword_values(message(english), WeChatTemplate(template_id="T", data={"phrase1": "title"}))
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "field_rule"
    assert caught.value.reason == (
        "wechat: the dose template's phrase1 (phrase: at most 5 Chinese characters)"
    )


@pytest.mark.parametrize("kind", mf.KINDS)
@pytest.mark.parametrize("explicit", [False, True])
def test_every_kind_renders_every_field_a_mapping_may_name_and_none_outs_a_patient(
    kind: str, explicit: bool
) -> None:
    rendered = render(
        kind,
        "zh-CN",
        explicit=explicit,
        name="L.W.",
        lesson_notification="新的一课：睡个好觉",
        link="https://x.example/l/1",
        record=Record(days=7, days_dosed=6, last_test_on=None, last_test_result=None),
        survey_text="这周过得怎么样？",
        local=AT,
    )
    assert set(rendered.fields) | {mf.TEXT} == mf.provided(kind)
    for name in (mf.TITLE, mf.LOCAL_TIME, mf.LOCAL_DATE):  # shown whatever the wording
        assert find_stigma(rendered.fields[name]) == []
    check("phrase1", rendered.fields[mf.TITLE])
    check("time2", rendered.fields[mf.LOCAL_TIME])
    check("date3", rendered.fields[mf.LOCAL_DATE])


def test_a_good_mapping_has_no_problems() -> None:
    good = {
        "dose": WeChatTemplate(
            template_id="T1",
            data={"thing1": "title", "time2": "local_time", "thing3": "text", "phrase4": "=提醒"},
        ),
        "lesson": WeChatTemplate(
            template_id="T2", data={"thing1": "summary", "date2": "local_date"}
        ),
    }
    assert mapping_problems(good) == []


@pytest.mark.parametrize(
    ("kind", "data", "problem"),
    [
        ("dose", {}, "WECHAT_TEMPLATES dose: no keyword fields; WeChat would show an empty card"),
        (
            "dose",
            {"first": "summary"},
            "WECHAT_TEMPLATES dose field first: WeChat no longer shows first or remark",
        ),
        (
            "dose",
            {"thing1": "title", "remark": "=谢谢"},
            "dose field remark: WeChat no longer shows",
        ),
        ("dose", {"keyword1": "title"}, "dose field keyword1: unknown field type"),
        (
            "dose",
            {"phrase2": "=今日门诊提醒"},
            "dose field phrase2: the literal breaks the rule: phrase: at most 5 Chinese characters",
        ),
        (
            "dose",
            {"thing2": "=" + "长" * 21},
            "dose field thing2: the literal breaks the rule: thing: at most 20 characters",
        ),
        (
            "dose",
            {"thing2": "=美沙酮门诊"},
            "dose field thing2: the literal names a word that could out a patient",
        ),
        (
            "dose",
            {"thing1": "clinic_name"},
            "dose field thing1: source 'clinic_name' is never provided for dose messages",
        ),
        (
            "dose",
            {"thing1": "url"},
            "dose field thing1: source 'url' is never provided for dose messages",
        ),
        (
            "lesson",
            {"thing1": "url"},
            "lesson field thing1: source 'url' cannot keep the rule of a thing field",
        ),
        (
            "dose",
            {"time1": "summary"},
            "dose field time1: source 'summary' cannot keep the rule of a time field",
        ),
        ("dosage", {"thing1": "title"}, "WECHAT_TEMPLATES dosage: no such message kind"),
    ],
)
def test_a_bad_mapping_is_refused_naming_kind_field_and_rule(
    kind: str, data: dict[str, str], problem: str
) -> None:
    problems = mapping_problems({kind: WeChatTemplate(template_id="T", data=data)})
    assert len(problems) == 1
    assert problem in problems[0]
