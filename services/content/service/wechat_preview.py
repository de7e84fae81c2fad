"""A lesson's WeChat card as a patient would see it, for the editor's preview.

The fields come from the same code the scheduler sends with (`shared.channels`: the
renderer's named fields, then the account's WECHAT_TEMPLATES lesson template filled and cut
by WeChat's rules), so a notification too long for its `thing` field shows here cut, as it
will be sent, and one that would stop the send shows the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.channels.base import OutboundMessage, SendFailed
from shared.channels.message_fields import message_fields
from shared.channels.settings import WeChatSettings
from shared.channels.wechat_fields import keyword_values

# A stand-in patient: the preview shows fields as for them, sent now on a Beijing clock.
SAMPLE_NAME = "L.W."
SAMPLE_ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class WeChatCard:
    fields: dict[str, str]  # keyword field -> the value sent; empty when `problem` is set
    template_id: str | None
    send_mode: str
    problem: str | None  # why the lesson would not go by WeChat (then: the next channel)


def wechat_card(
    settings: WeChatSettings,
    language: str,
    notification: str,
    link: str,
    reader: str,
    now: datetime | None = None,
) -> WeChatCard:
    mode = settings.wechat_send_mode
    template = settings.wechat_templates.get("lesson")
    if template is None:
        problem = "WECHAT_TEMPLATES has no lesson template: lessons go by the next channel"
        return WeChatCard({}, None, mode, problem)
    local = (now or datetime.now(UTC)).astimezone(SAMPLE_ZONE)
    fields = message_fields(
        "lesson", language, summary=notification, name=SAMPLE_NAME, local=local, url=link
    )
    message = OutboundMessage(reader, "", f"{notification} {link}", "lesson", fields)
    try:
        return WeChatCard(keyword_values(message, template), template.template_id, mode, None)
    except SendFailed as refused:
        return WeChatCard({}, template.template_id, mode, refused.reason)
