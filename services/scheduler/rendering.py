"""What a reminder says: discreet by default, explicit only where the clinic opted in.

Discreet wording never names methadone, drugs or an illness: a lock screen can be read by
family or an employer. Texts are short enough for one SMS segment before a name or a link.
The reminders' texts are the `patient` catalog's `reminder.*` (shared/i18n.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.scheduler.record_reply import Record, record_text
from shared.channels.message_fields import KINDS, message_fields
from shared.i18n import texts

__all__ = ["Record", "Rendered", "render"]


# The reminders' catalog keys by wording (explicit?) and kind, built once: a burst renders
# 200,000 messages.
_REMINDER_KEYS = tuple(
    {kind: f"reminder.{kind}.{wording}" for kind in KINDS} for wording in ("discreet", "explicit")
)


@dataclass(frozen=True)
class Rendered:
    text: str
    # For template channels (WeChat): the same content by name, plus a title and the local
    # time (shared/channels/message_fields.py), all discreet.
    fields: dict[str, str]


def render(
    kind: str,
    language: str,
    *,
    explicit: bool,
    name: str,
    lesson_notification: str | None = None,
    link: str | None = None,
    record: Record | None = None,
    survey_text: str | None = None,
    local: datetime | None = None,
) -> Rendered:
    """`local` is the moment of sending in the patient's time zone (default: now, UTC)."""
    at = local if local is not None else datetime.now(UTC)

    def rendered(text: str, summary: str, url: str | None = None) -> Rendered:
        fields = message_fields(kind, language, summary=summary, name=name, local=at, url=url)
        return Rendered(text, fields)

    if kind == "lesson":
        if lesson_notification is None or link is None:
            raise ValueError("a lesson message needs its notification and link")
        return rendered(f"{lesson_notification} {link}", lesson_notification, link)
    if kind == "survey":
        if not survey_text:
            raise ValueError("a survey message needs its question")
        return rendered(survey_text, survey_text)
    if kind == "record_reply":
        if record is None:
            raise ValueError("a record reply needs the record")
        text, _cut = record_text(record, language, explicit, name)
        summary = text.removesuffix(f" {record.link}") if record.link else text
        return rendered(text, summary)
    # The catalog's `reminder.<kind>.<wording>` (shared/locale/*/LC_MESSAGES/patient.po).
    template = texts(language).get(_REMINDER_KEYS[explicit].get(kind, ""))
    if template is None:
        raise ValueError(f"no text for {kind} messages")
    text = template.format(name=name)
    if kind == "assessment":  # a questionnaire due: the patient's self-assessment link
        if link is None:
            raise ValueError("an assessment reminder needs its link")
        return rendered(f"{text} {link}", text, link)
    return rendered(text, text)
