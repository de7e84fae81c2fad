"""The record page's HTML, and its route `GET /r/{token}` (open: the link's signature is the
authentication). Discreet words unless the patient's wording is explicit; every text
escaped. A link that cannot be trusted gets a page in both languages and nothing more. The
words are the `patient` catalog's `record_page.*` and `record.*` (shared/locale)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from litestar import Response, get
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from services.scheduler.api import provide_scheduler
from services.scheduler.clinic_calendar import WEEKDAYS
from services.scheduler.record_links import LinkInvalid, RecordLinkExpired, RecordLinks
from services.scheduler.record_page import Gone, RecordPage, open_record
from services.scheduler.record_reply import band_label, band_word, result_word
from shared.access.web import OPEN
from shared.errors import NotFound
from shared.html_page import document
from shared.i18n import texts

_MARKS = {"dosed": "✓", "missed": "✗", "paused": "–", "due": "•"}
# The notices' keys in the `patient` catalog, shown in zh-CN and English.
_NOT_VALID = "link.not_valid"
_GONE = "link.gone"
_UNCONFIGURED = "record_page.unconfigured"
_STYLE = (
    "body{margin:0;font:19px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',"
    "sans-serif;color:#222;background:#fafaf7}main{max-width:36em;margin:0 auto;padding:1em}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.4em}table{border-collapse:collapse;"
    "width:100%}td,th{text-align:center;padding:.35em 0;border:1px solid #ddd}"
    "td small{display:block;font-size:.8em}.dosed{background:#e3f2e9}.missed{background:#fbe9e7}"
    ".paused{background:#eee}ul{padding-left:1.2em}"
)


def _notice(key: str, status: int) -> Response[str]:
    zh, en = texts("zh-CN")[key], texts("en")[key]
    content = f"<h1>{escape(zh)}</h1><p lang='en'>{escape(en.capitalize())}.</p>"
    return document("zh-CN", f"{zh} / {en}", _STYLE, content, status)


def _calendar(page: RecordPage, words: Mapping[str, str]) -> str:
    head = "".join(f"<th>{escape(day)}</th>" for day in words["record_page.weekdays"])
    cells = ["<td></td>"] * page.calendar.days[0].day.weekday()
    for entry in page.calendar.days:
        mark = _MARKS.get(entry.state, "")
        label = words.get(f"record_page.day.{entry.state}", "")
        note = f"<small>{mark} {escape(label)}</small>" if mark else ""
        cells.append(f'<td class="{entry.state}">{entry.day.day}{note}</td>')
    cells += ["<td></td>"] * (-len(cells) % 7)
    rows = "".join("<tr>" + "".join(cells[i : i + 7]) + "</tr>" for i in range(0, len(cells), 7))
    return f"<table><tr>{head}</tr>{rows}</table>"


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f"<p>{escape(empty)}</p>"
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _hours(page: RecordPage, words: Mapping[str, str]) -> str:
    """The weekly hours (one line a weekday), or the clinic's single opening time, then
    the special days of the next fortnight."""
    closed = words["record_page.closed"]

    def shown(intervals: list[str]) -> str:
        return ", ".join(intervals) if intervals else closed

    if page.week is None:
        lines = [f"{page.clinic.opens_at}-{page.clinic.closes_at}"]
    else:
        names = words["record_page.weekday_names"].split(",")
        lines = [
            f"{name}: {shown(page.week.get(day, []))}"
            for name, day in zip(names, WEEKDAYS, strict=True)
        ]
    html = _list(lines, "")
    if page.special_days:
        special = [f"{day.isoformat()}: {shown(hours)}" for day, hours in page.special_days]
        html += f"<h3>{escape(words['record_page.special_days'])}</h3>{_list(special, '')}"
    return html


def render_record(page: RecordPage) -> Response[str]:
    language = "en" if page.language == "en" else "zh-CN"
    words, explicit = texts(language), page.explicit
    wording = "explicit" if explicit else "discreet"
    title, none = words[f"record_page.title.{wording}"], words["record_page.none"]
    tests = [
        f"{day.isoformat()}: {result_word(result, language)}" for day, result in page.urine_tests
    ]
    bands = [
        f"{day.isoformat()}: {band_word(b, language, explicit)}" for day, b in page.assessments
    ]
    clinic = page.clinic
    content = (
        f"<h1>{escape(title)}</h1>"
        f"<h2>{escape(words[f'record_page.month.{wording}'])} ({escape(page.calendar.month)})</h2>"
        f"{_calendar(page, words)}"
        f"<h2>{escape(words[f'record_page.tests.{wording}'])}</h2>{_list(tests, none)}"
        f"<h2>{escape(band_label(language, explicit))}</h2>{_list(bands, none)}"
        f"<h2>{escape(words['record_page.phone'])}</h2>"
        f'<p><a href="tel:{escape(clinic.help_phone)}">{escape(clinic.help_phone)}</a></p>'
        f"<h2>{escape(words['record_page.hours'])}</h2>{_hours(page, words)}"
    )
    return document(language, title, _STYLE, content, 200)


def _page(description: str) -> ResponseSpec:
    return ResponseSpec(str, media_type=MediaType.HTML, description=description)


@get(
    "/r/{token:str}",
    opt=OPEN,
    tags=["record pages"],
    summary="A patient's own record, opened through the signed link of a record reply",
    media_type=MediaType.HTML,
    responses={
        404: _page("The link is not valid"),
        410: _page("The link has expired, or the record is no longer shown"),
        503: _page("Record links are not configured"),
    },
)
async def record_page(state: State, token: FromPath[str]) -> Response[str]:
    links: RecordLinks | None = state.get("record_links")
    if links is None:
        return _notice(_UNCONFIGURED, 503)
    expired = False
    try:
        link = links.read(token)
    except RecordLinkExpired as exc:
        link, expired = exc.link, True
    except LinkInvalid:
        return _notice(_NOT_VALID, 404)
    try:
        page = await open_record(provide_scheduler(state), link, expired=expired)
    except NotFound:
        return _notice(_NOT_VALID, 404)
    except Gone:
        return _notice(_GONE, 410)
    return render_record(page)
