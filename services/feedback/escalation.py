"""Urgent needs reach a person at once: a signed POST to the clinic's alert webhook.

The announcement names the need, the clinic and the category, never the patient's words or
number: whoever is paged opens the need in the API (authenticated and audited) to read it.
A failed delivery raises, so the bus retries it (reclaim after BUS_CLAIM_IDLE_MS) and,
failing that, dead-letters it with the reason, where ops see it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.channels import OutboundMessage, SendFailed
from shared.channels.webhook import WebhookChannel, WebhookConfig
from shared.messages import UrgentNeedRaised

MIN_SECRET = 32


class Escalation:
    def __init__(self, url: str, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"FEEDBACK_ALERT_WEBHOOK_SECRET needs {MIN_SECRET}+ characters")
        self.channel = WebhookChannel(WebhookConfig(url=url, secret=secret), code="alert")

    async def announce(self, event: UrgentNeedRaised, _session: AsyncSession) -> None:
        text = (
            f"Urgent need #{event.need_id} ({event.category}) at clinic "
            f"{event.clinic_id}: open /api/v1/needs/{event.need_id} now."
        )
        try:
            await self.channel.send(
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
            raise RuntimeError(f"alert webhook: {failure.reason}") from None

    async def aclose(self) -> None:
        await self.channel.aclose()
