"""A patient's own record as a reply (记录 / 查询 / RECORD), in at most two SMS segments.

The reply says the days dosed in the last week with their dates, the latest urine result,
the current risk band and the next appointment, in the patient's language, discreetly
worded unless the clinic chose explicit wording for them, and ends with the link to their
record page when there is one. Discreet wording never names the treatment, a urine test or
"risk": a lock screen can be read by family or an employer.

Two segments are 134 characters of Chinese (UCS-2), 306 of plain English (GSM-7). When the
whole answer does not fit, parts are cut in this order until it does: the list of dates
(the count stays), the risk band, the next appointment (a patient can act on it), the name,
the urine result. The link is never cut: the page it opens shows everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from shared import sms

MAX_SEGMENTS = 2
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Record:
    """What the reply reads; dates are the patient's local ones."""

    days: int
    days_dosed: int
    last_test_on: str | None  # ISO date
    last_test_result: str | None  # negative, positive, invalid
    dose_dates: tuple[date, ...] = ()
    band: str | None = None  # low, medium, high: the latest risk assessment's
    next_appointment: tuple[date, str] | None = None  # local day and "HH:MM"
    link: str | None = None  # the record page
    test_cut: bool = False  # the urine result left out to fit


RESULT_WORDS = {
    "zh-CN": {"negative": "结果正常", "positive": "请找医生聊一聊", "invalid": "需要重新检查"},
    "en": {
        "negative": "all clear",
        "positive": "please talk to your doctor",
        "invalid": "needs to be redone",
    },
}
# What a band is called, and its words, by (language, explicit wording).
BAND_LABEL = {
    ("zh-CN", False): "门诊评估",
    ("zh-CN", True): "风险评估",
    ("en", False): "Check-in",
    ("en", True): "Risk level",
}
BAND_WORDS = {
    ("zh-CN", False): {"low": "良好", "medium": "多留意", "high": "请找医生聊聊"},
    ("zh-CN", True): {"low": "低", "medium": "中", "high": "高"},
    ("en", False): {"low": "doing well", "medium": "take care", "high": "please talk to us"},
    ("en", True): {"low": "low", "medium": "medium", "high": "high"},
}


def band_text(band: str, language: str, explicit: bool) -> str:
    key = ("en" if language == "en" else "zh-CN", explicit)
    word = BAND_WORDS[key].get(band, band)
    return f"{BAND_LABEL[key]}: {word}" if language == "en" else f"{BAND_LABEL[key]}：{word}"


def _zh_dates(dates: tuple[date, ...]) -> str:
    return "、".join(f"{d.month}/{d.day}" for d in dates)


def _en_date(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}"


def _en_dates(dates: tuple[date, ...]) -> str:
    """`Nov 30, Dec 1, 2, 4`: the month once per run of days in it."""
    parts = []
    for index, day in enumerate(dates):
        same_month = index > 0 and dates[index - 1].month == day.month
        parts.append(str(day.day) if same_month else _en_date(day))
    return ", ".join(parts)


def _zh(record: Record, explicit: bool, name: str) -> str:
    visits = "服药" if explicit else "到门诊"
    dates = f"（{_zh_dates(record.dose_dates)}）" if record.dose_dates else ""
    greeting = f"{name}，" if name else ""
    parts = [f"{greeting}过去{record.days}天你{visits}{record.days_dosed}天{dates}。"]
    if record.last_test_on is not None and not record.test_cut:
        result = RESULT_WORDS["zh-CN"].get(record.last_test_result or "", "")
        test = "尿检" if explicit else "检查"
        on = date.fromisoformat(record.last_test_on)
        parts.append(f"最近一次{test}（{on.month}/{on.day}）：{result}。")
    elif not record.test_cut:
        parts.append("暂无检查记录。")
    if record.band is not None:
        parts.append(band_text(record.band, "zh-CN", explicit) + "。")
    if record.next_appointment is not None:
        day, at = record.next_appointment
        parts.append(f"下次预约：{day.month}/{day.day} {at}。")
    return "".join(parts)


def _en(record: Record, explicit: bool, name: str) -> str:
    visits = "doses" if explicit else "visits"
    dates = f" ({_en_dates(record.dose_dates)})" if record.dose_dates else ""
    last = f"{name}, last" if name else "Last"
    parts = [f"{last} {record.days} days: {record.days_dosed} {visits}{dates}."]
    test = "urine test" if explicit else "check-up"
    if record.last_test_on is not None and not record.test_cut:
        result = RESULT_WORDS["en"].get(record.last_test_result or "", "")
        on = _en_date(date.fromisoformat(record.last_test_on))
        parts.append(f"Last {test} {on}: {result}.")
    elif not record.test_cut:
        parts.append(f"No {test} recorded yet.")
    if record.band is not None:
        parts.append(band_text(record.band, "en", explicit) + ".")
    if record.next_appointment is not None:
        day, at = record.next_appointment
        parts.append(f"Next appointment: {_en_date(day)} {at}.")
    return " ".join(parts)


def _text(record: Record, language: str, explicit: bool, name: str) -> str:
    body = _en(record, explicit, name) if language == "en" else _zh(record, explicit, name)
    return f"{body} {record.link}" if record.link else body


# Each cut leaves out one part; applied in order until the reply fits (module docstring).
_CUTS: tuple[tuple[str, Callable[[Record, str], tuple[Record, str]]], ...] = (
    ("dates", lambda r, n: (replace(r, dose_dates=()), n)),
    ("band", lambda r, n: (replace(r, band=None), n)),
    ("appointment", lambda r, n: (replace(r, next_appointment=None), n)),
    ("name", lambda r, n: (r, "")),
    ("urine result", lambda r, n: (replace(r, test_cut=True), n)),
)


def record_text(record: Record, language: str, explicit: bool, name: str) -> tuple[str, list[str]]:
    """The reply and what was cut to fit it in two segments (empty when nothing was)."""
    cut: list[str] = []
    text = _text(record, language, explicit, name)
    for what, cutting in _CUTS:
        if sms.segments(text) <= MAX_SEGMENTS:
            break
        record, name = cutting(record, name)
        cut.append(what)
        text = _text(record, language, explicit, name)
    return text, cut
