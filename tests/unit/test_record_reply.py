"""The record reply: dates dosed, the latest urine result, the risk band and the next
appointment, in zh-CN and en, discreet or explicit, always within two SMS segments (and
what was cut to get there)."""

from __future__ import annotations

from datetime import date

import pytest

from services.scheduler.record_reply import Record, record_text
from services.scheduler.rendering import render
from shared import sms
from shared.stigma import find_stigma

FULL = Record(
    days=7,
    days_dosed=4,
    last_test_on="2026-11-28",
    last_test_result="negative",
    dose_dates=(date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)),
    band="medium",
    next_appointment=(date(2026, 12, 10), "09:30"),
)
LINK = "https://mmt.example.cn/r/AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEi"


@pytest.mark.parametrize(
    ("language", "explicit", "expected"),
    [
        (
            "zh-CN",
            False,
            "L.W.，过去7天你到门诊4天（11/29、11/30、12/1、12/2）。最近一次检查（11/28）：结果正常。"
            "门诊评估：多留意。下次预约：12/10 09:30。",
        ),
        (
            "zh-CN",
            True,
            "L.W.，过去7天你服药4天（11/29、11/30、12/1、12/2）。最近一次尿检（11/28）：结果正常。"
            "风险评估：中。下次预约：12/10 09:30。",
        ),
        (
            "en",
            False,
            "L.W., last 7 days: 4 visits (Nov 29, 30, Dec 1, 2). Last check-up Nov 28: all "
            "clear. Check-in: take care. Next appointment: Dec 10 09:30.",
        ),
        (
            "en",
            True,
            "L.W., last 7 days: 4 doses (Nov 29, 30, Dec 1, 2). Last urine test Nov 28: all "
            "clear. Risk level: medium. Next appointment: Dec 10 09:30.",
        ),
    ],
)
def test_the_whole_record_in_each_language_and_wording(
    language: str, explicit: bool, expected: str
) -> None:
    text, cut = record_text(FULL, language, explicit, "L.W.")
    assert text == expected
    assert cut == []
    assert sms.segments(text) <= 2
    if not explicit:  # a lock screen shows nothing of the treatment, a test or "risk"
        assert find_stigma(text) == []
        assert "尿" not in text
        assert "风险" not in text
        assert "isk" not in text


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("explicit", [False, True])
def test_with_the_page_link_the_reply_still_fits_two_segments_cutting_in_order(
    language: str, explicit: bool
) -> None:
    text, cut = record_text(Record(**{**FULL.__dict__, "link": LINK}), language, explicit, "L.W.")
    assert sms.segments(text) <= 2
    assert text.endswith(f" {LINK}")  # the link is never cut: the page shows everything
    order = ["dates", "band", "appointment", "name", "urine result"]
    assert cut == order[: len(cut)]
    if language == "zh-CN":
        assert cut  # 134 UCS-2 characters cannot hold it all beside a 70-character link
        assert "过去7天你" in text
    else:
        assert cut == []  # plain English is GSM-7: 306 characters
    assert sms.segments(text) <= 2


def test_nothing_recorded_yet_is_said_and_nothing_is_made_up() -> None:
    empty = Record(days=7, days_dosed=0, last_test_on=None, last_test_result=None)
    assert (
        record_text(empty, "zh-CN", False, "L.W.")[0] == "L.W.，过去7天你到门诊0天。暂无检查记录。"
    )
    assert record_text(empty, "en", True, "L.W.")[0] == (
        "L.W., last 7 days: 0 doses. No urine test recorded yet."
    )


def test_a_long_name_is_cut_before_the_urine_result() -> None:
    record = Record(**{**FULL.__dict__, "link": LINK})
    text, cut = record_text(record, "zh-CN", False, "名" * 40)
    assert cut == ["dates", "band", "appointment", "name"]
    assert "名" not in text
    assert "结果正常" in text
    assert sms.segments(text) <= 2


def test_a_wechat_card_summary_is_the_reply_without_its_link() -> None:
    rendered = render(
        "record_reply",
        "en",
        explicit=False,
        name="L.W.",
        record=Record(**{**FULL.__dict__, "link": LINK}),
    )
    assert rendered.text.endswith(LINK)
    assert rendered.fields["summary"] == rendered.text.removesuffix(f" {LINK}")
