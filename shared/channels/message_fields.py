"""The named fields a rendered message carries besides its text, for template channels.

The scheduler's renderer fills them for every message it sends, and the content service's
preview fills them the same way for a lesson, so that an editor sees what a patient's card
shows. A provider template (WECHAT_TEMPLATES, ...) takes its values from these names, from
`text` (the whole message) or from a "=literal"; `provided(kind)` is what a mapping may
name, checked at start-up.

Every field is discreet whatever the patient's wording: a card's title and time show on a
lock screen. There is no clinic name, because a clinic's registered name often names its
treatment; an account that wants one shows it as a literal it chose.
"""

from __future__ import annotations

from datetime import datetime

from shared.i18n import texts

TITLE = "title"  # a short title of the kind of message, at most 5 Chinese characters
SUMMARY = "summary"  # the message's text without its link
NAME = "name"  # the patient's display name, as the text addresses them
LOCAL_TIME = "local_time"  # when it is sent, in the patient's time zone: 2026年12月3日 08:30
LOCAL_DATE = "local_date"  # that day: 2026年12月3日
URL = "url"  # a lesson's link (template messages open it; subscription notices as `page`)
FIRST = "first"  # SUMMARY under its older name, still read by SMS templates
TEXT = "text"  # not a field: the whole text, a source every template may name

# The kinds a renderer sends; each one's title is the `patient` catalog's `title.<kind>`.
KINDS: tuple[str, ...] = (
    "dose",
    "missed_dose",
    "urine_test",
    "appointment",
    "lesson",
    "survey",
    "record_reply",
    "closure_notice",  # the day before a closed day, when the clinic gives take-home doses
    "assessment",  # a questionnaire due, with the patient's link to answer it
)
_EVERY_KIND = frozenset({TITLE, SUMMARY, NAME, LOCAL_TIME, LOCAL_DATE, FIRST, TEXT})


def provided(kind: str) -> frozenset[str]:
    """The sources a template for `kind` messages may name: the renderer fills them all."""
    return _EVERY_KIND | {URL} if kind in ("lesson", "assessment") else _EVERY_KIND


# The titles' catalog keys, built once: a burst renders 200,000 messages.
_TITLE_KEYS = {kind: f"title.{kind}" for kind in KINDS}


def title(kind: str, language: str) -> str:
    return texts(language)[_TITLE_KEYS.get(kind, "title.dose")]


def local_date_text(local: datetime) -> str:
    # WeChat's own form of a date (its `date` and `time` fields take it), in every language.
    return f"{local.year}年{local.month}月{local.day}日"


def message_fields(
    kind: str,
    language: str,
    *,
    summary: str,
    name: str,
    local: datetime,
    url: str | None = None,
) -> dict[str, str]:
    """The fields of one message; `local` is the moment of sending in the patient's zone."""
    day = local_date_text(local)
    fields = {
        TITLE: title(kind, language),
        SUMMARY: summary,
        FIRST: summary,
        NAME: name,
        # Not strftime: a burst renders 200,000 of these, and it costs three times as much.
        LOCAL_TIME: f"{day} {local.hour:02d}:{local.minute:02d}",
        LOCAL_DATE: day,
    }
    if url is not None:
        fields[URL] = url
    return fields
