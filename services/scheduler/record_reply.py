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

The sentences and words are the `patient` catalog's `record.*` (shared/locale); the dates'
format (11/30、12/1 or Nov 30, Dec 1) stays here: it is locale data, not a sentence, and
every language but English reads the Chinese one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from shared import sms
from shared.i18n import texts

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


def _wording(explicit: bool) -> str:
    return "explicit" if explicit else "discreet"


def result_word(result: str | None, language: str) -> str:
    """A urine test's result in words (nothing for a result we do not know)."""
    return texts(language).get(f"record.result.{result}", "")


def band_label(language: str, explicit: bool) -> str:
    """What the latest risk assessment is called."""
    return texts(language)[f"record.band_label.{_wording(explicit)}"]


def band_word(band: str, language: str, explicit: bool) -> str:
    return texts(language).get(f"record.band.{band}.{_wording(explicit)}", band)


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


def _day(day: date, english: bool) -> str:
    return _en_date(day) if english else f"{day.month}/{day.day}"


def _sentences(parts: list[str]) -> str:
    """Sentences joined the way their language joins them: no space after a full-width
    stop (Chinese), one after any other."""
    text = parts[0]
    for part in parts[1:]:
        text += part if text.endswith(("。", "！", "？")) else f" {part}"
    return text


def _body(record: Record, language: str, explicit: bool, name: str) -> str:
    words, wording = texts(language), _wording(explicit)
    english = language == "en"  # the dates' format (see the module's docstring)
    dates = ""
    if record.dose_dates:
        listed = _en_dates(record.dose_dates) if english else _zh_dates(record.dose_dates)
        dates = words["record.dates"].format(dates=listed)
    summary = words[f"record.summary.named.{wording}" if name else f"record.summary.{wording}"]
    parts = [summary.format(name=name, days=record.days, dosed=record.days_dosed, dates=dates)]
    if record.last_test_on is not None and not record.test_cut:
        on = _day(date.fromisoformat(record.last_test_on), english)
        result = result_word(record.last_test_result, language)
        parts.append(words[f"record.test.{wording}"].format(on=on, result=result))
    elif not record.test_cut:
        parts.append(words[f"record.no_test.{wording}"])
    if record.band is not None:
        label, word = band_label(language, explicit), band_word(record.band, language, explicit)
        parts.append(words["record.band"].format(label=label, word=word))
    if record.next_appointment is not None:
        day, at = record.next_appointment
        parts.append(words["record.appointment"].format(day=_day(day, english), time=at))
    return _sentences(parts)


def _text(record: Record, language: str, explicit: bool, name: str) -> str:
    body = _body(record, language, explicit, name)
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
