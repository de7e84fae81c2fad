"""Binding a patient's WeChat: a one-time code behind a parametric QR code.

A coordinator asks for a binding code; the official account makes a temporary QR code
whose scene is that code. When the patient scans it, WeChat tells the feedback service
(subscribe/SCAN event with the scene), which publishes `ChannelBound` with the openid
encrypted; the scheduler then stores it on the patient and puts WeChat first in their
channel order. Codes are single-use and expire.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.events import updated_event
from services.scheduler.models import Outbox, Patient, WeChatBinding
from services.scheduler.patients import Scheduler, load_patient
from shared.access.tokens import Principal
from shared.bus import add_to_outbox
from shared.channels import SendFailed
from shared.channels.wechat import WeChatChannel
from shared.errors import Unavailable
from shared.logging import get_logger
from shared.messages import ChannelBound

log = get_logger(__name__)

BINDING_TTL = timedelta(days=7)  # WeChat's temporary QR codes live at most 30 days
SCENE_PREFIX = "bind:"


class BindingOut(msgspec.Struct, kw_only=True):
    code: str
    scene: str
    expires_at: datetime
    qr_ticket: str | None  # None when no official account is configured
    qr_url: str | None


async def create_binding(
    ctx: Scheduler, principal: Principal, patient_id: int, wechat: WeChatChannel | None
) -> BindingOut:
    now = ctx.clock()
    code = secrets.token_urlsafe(18)
    async with ctx.db.transaction() as session:
        patient = await load_patient(session, principal, patient_id)
        session.add(
            WeChatBinding(
                code=code,
                patient_id=patient.id,
                created_at=now,
                expires_at=now + BINDING_TTL,
                used_at=None,
            )
        )
    ticket = url = None
    if wechat is not None:
        try:
            qr = await wechat.create_binding_qr(
                SCENE_PREFIX + code, int(BINDING_TTL.total_seconds())
            )
        except SendFailed as exc:
            raise Unavailable(f"WeChat did not make the QR code: {exc.reason}") from exc
        ticket, url = qr.ticket, qr.url
    return BindingOut(
        code=code,
        scene=SCENE_PREFIX + code,
        expires_at=now + BINDING_TTL,
        qr_ticket=ticket,
        qr_url=url,
    )


async def bind_channel(event: ChannelBound, session: AsyncSession) -> None:
    now = datetime.now(UTC)
    code = event.binding_code.removeprefix(SCENE_PREFIX)
    binding = await session.get(WeChatBinding, code, with_for_update=True)
    if binding is None or binding.used_at is not None or binding.expires_at < now:
        log.warning("binding.refused", reason="unknown, used or expired code")
        return
    patient = await session.get(Patient, binding.patient_id, with_for_update=True)
    if patient is None:
        return
    patient.openid_enc, patient.openid_hash = event.openid_encrypted, event.openid_hash
    if "wechat" not in patient.channel_order:
        patient.channel_order = ["wechat", *patient.channel_order]
    patient.updated_at = binding.used_at = now
    add_to_outbox(session, Outbox, updated_event(patient))
