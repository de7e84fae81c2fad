"""Urgent needs reach a person at once: a text to the clinic's on-call phone and/or a signed
POST to the alert webhook.

The text goes to the clinic's `alert_phone` (set on the clinic; a staff phone, never a
patient's) through the SMS channel the reminders use; the webhook
(FEEDBACK_ALERT_WEBHOOK_URL) serves a paging gateway or chat bot. Both name the need, the
clinic and the category, never the patient's words or number: whoever is paged opens the
need in the API (authenticated and audited). Either failing raises, so the bus retries the
whole announcement (reclaim after BUS_CLAIM_IDLE_MS) and, failing that, dead-letters it
with the reason, where ops see it; a retry may page twice, which beats paging no one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.models import Clinic
from shared.channels import Channel, OutboundMessage, SendFailed
from shared.channels.webhook import WebhookChannel, WebhookConfig
from shared.db import Database
from shared.logging import get_logger
from shared.messages import UrgentNeedRaised

log = get_logger(__name__)
MIN_SECRET = 32


def alert_webhook(url: str, secret: str) -> WebhookChannel:
    if len(secret) < MIN_SECRET:
        raise ValueError(f"FEEDBACK_ALERT_WEBHOOK_SECRET needs {MIN_SECRET}+ characters")
    return WebhookChannel(WebhookConfig(url=url, secret=secret), code="alert")


def sms_text(event: UrgentNeedRaised, clinic_code: str) -> str:
    """Short, in both languages staff may read; the category, never the words."""
    return (
        f"紧急留言 #{event.need_id}（{event.category}），门诊 {clinic_code}，请立即查看。"
        f" Urgent need #{event.need_id} ({event.category}) at {clinic_code}: open it now."
    )


class Escalation:
    def __init__(
        self,
        access_db: Database,
        *,
        webhook: WebhookChannel | None = None,
        sms: Channel | None = None,
    ) -> None:
        self.access_db = access_db
        self.webhook = webhook
        self.sms = sms

    async def announce(self, event: UrgentNeedRaised, _session: AsyncSession | None) -> None:
        failures: list[str] = []
        if self.sms is not None:
            failures += await self._text(event)
        if self.webhook is not None:
            failures += await self._post(event)
        if failures:
            raise RuntimeError("; ".join(failures))

    async def _text(self, event: UrgentNeedRaised) -> list[str]:
        assert self.sms is not None
        async with self.access_db.sessions() as session:
            found = (
                await session.execute(
                    select(Clinic.code, Clinic.alert_phone).where(Clinic.id == event.clinic_id)
                )
            ).first()
        if found is None or not found.alert_phone:
            log.warning("escalation.no_alert_phone", clinic_id=event.clinic_id)
            return []  # the webhook and the API still flag it
        message = OutboundMessage(
            message_id=f"urgent-need-{event.need_id}",
            address=found.alert_phone,
            text=sms_text(event, found.code),
            kind="urgent_need",
        )
        try:
            await self.sms.send(message)
        except SendFailed as failure:
            return [f"alert SMS: {failure.reason}"]
        log.info("escalation.texted", need_id=event.need_id, clinic_id=event.clinic_id)
        return []

    async def _post(self, event: UrgentNeedRaised) -> list[str]:
        assert self.webhook is not None
        text = (
            f"Urgent need #{event.need_id} ({event.category}) at clinic "
            f"{event.clinic_id}: open /api/v1/needs/{event.need_id} now."
        )
        try:
            await self.webhook.send(
                OutboundMessage(
                    message_id=f"urgent-need-{event.need_id}",
                    address=f"clinic:{event.clinic_id}",
                    text=text,
                    kind="urgent_need",
                    fields={
                        "need_id": str(event.need_id),
                        "clinic_id": str(event.clinic_id),
                        "category": event.category,
                    },
                )
            )
        except SendFailed as failure:
            return [f"alert webhook: {failure.reason}"]
        return []

    async def aclose(self) -> None:
        if self.webhook is not None:
            await self.webhook.aclose()
