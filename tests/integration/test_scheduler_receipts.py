"""The rules of a delivery receipt, straight on the database: which message it matches,
what it writes, and what it never undoes (receipts arrive late, twice, out of order)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from services.scheduler import planner
from services.scheduler.models import Message
from services.scheduler.receipt_rules import apply_receipt
from services.scheduler.settings import SchedulerSettings
from shared.channels.base import ReceiptState, StatusUpdate
from shared.db import Database
from tests.integration.schedutil import clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


async def _message(scheduler_db: Database, access_db: Database, **values: object) -> str:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    await enrol(ctx, await clinic(access_db), "0001")
    await planner.release_due(scheduler_db, SchedulerSettings(), NOW)
    async with scheduler_db.transaction() as session:
        message_id = (await session.execute(select(Message.id))).scalar_one()
        await session.execute(update(Message).values(**values))
    return str(message_id)


async def _row(db: Database, message_id: str) -> tuple[str, str | None, str | None]:
    async with db.sessions() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    return message.state, message.reason, message.provider_id


async def test_delivered_by_our_id_or_by_the_providers(
    scheduler_db: Database, access_db: Database
) -> None:
    message_id = await _message(scheduler_db, access_db, state="sent", provider_id="SM1")
    sent = StatusUpdate("SM1", ReceiptState.SENT)
    assert await apply_receipt(scheduler_db, sent, "twilio") == "sent"
    assert await _row(scheduler_db, message_id) == ("sent", None, "SM1")
    delivered = StatusUpdate("SM1", ReceiptState.DELIVERED, message_id=message_id)
    assert await apply_receipt(scheduler_db, delivered, "twilio") == "delivered"
    assert await _row(scheduler_db, message_id) == ("delivered", None, "SM1")


async def test_a_failure_keeps_the_providers_code_as_its_reason(
    scheduler_db: Database, access_db: Database
) -> None:
    """The send's outcome may not be recorded yet (`sending`, no provider id): the receipt,
    matched by our id, writes the provider's id too."""
    message_id = await _message(scheduler_db, access_db, state="sending")
    failed = StatusUpdate("SM2", ReceiptState.UNDELIVERED, "30003", message_id=message_id)
    assert await apply_receipt(scheduler_db, failed, "twilio") == "undelivered"
    assert await _row(scheduler_db, message_id) == (
        "failed",
        "twilio undelivered (error 30003)",
        "SM2",
    )


async def test_a_final_state_is_never_undone(scheduler_db: Database, access_db: Database) -> None:
    message_id = await _message(
        scheduler_db, access_db, state="failed", reason="twilio failed", provider_id="SM3"
    )
    for state in ReceiptState:
        late = StatusUpdate("SM3", state, message_id=message_id)
        assert await apply_receipt(scheduler_db, late, "twilio") == "already_final"
    assert await _row(scheduler_db, message_id) == ("failed", "twilio failed", "SM3")


async def test_a_receipt_for_another_send_or_no_message_changes_nothing(
    scheduler_db: Database, access_db: Database
) -> None:
    message_id = await _message(scheduler_db, access_db, state="sent", provider_id="SM4")
    other = StatusUpdate("SM-other", ReceiptState.DELIVERED, message_id=message_id)
    assert await apply_receipt(scheduler_db, other, "twilio") == "another_send"
    stranger = StatusUpdate("SM-none", ReceiptState.DELIVERED)
    assert await apply_receipt(scheduler_db, stranger, "twilio") == "unknown_message"
    assert await _row(scheduler_db, message_id) == ("sent", None, "SM4")


async def test_a_final_receipt_records_how_long_after_the_send_it_came(
    scheduler_db: Database, access_db: Database
) -> None:
    from datetime import timedelta

    from prometheus_client import REGISTRY

    def observed(bucket: str) -> float:
        labels = {"provider": "delay-test", "le": bucket}
        return REGISTRY.get_sample_value("mmt_delivery_receipt_delay_seconds_bucket", labels) or 0

    sent_at = NOW - timedelta(seconds=90)
    message_id = await _message(
        scheduler_db, access_db, state="sent", provider_id="SM9", updated_at=sent_at
    )
    before = observed("60.0"), observed("120.0")
    delivered = StatusUpdate("SM9", ReceiptState.DELIVERED, message_id=message_id)
    await apply_receipt(scheduler_db, delivered, "delay-test", now=NOW)
    # 90 s: above the 60 s bucket, within the 120 s one.
    assert (observed("60.0"), observed("120.0")) == (before[0], before[1] + 1)
