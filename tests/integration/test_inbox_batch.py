"""The inbox's batch claim on both databases it runs on: fresh ids recorded once, a batch
seen before yields nothing, and an id another delivery recorded first undoes the batch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.feedback.models import ProcessedMessage
from shared.bus.inbox import AlreadyHandled, Inbox
from shared.db import Database
from shared.messages import BusProbeSent


@pytest.fixture
def db(feedback_db_either: Database) -> Database:
    return feedback_db_either


async def _recorded(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedMessage)) or 0)


async def test_a_batch_is_recorded_once_and_a_race_undoes_it(db: Database) -> None:
    inbox = Inbox(db, ProcessedMessage)
    batch = [BusProbeSent(origin="test") for _ in range(3)]
    async with inbox.claim_many([*batch, batch[0]]) as (_, fresh):
        assert [m.id for m in fresh] == [m.id for m in batch]  # each id once
    assert await _recorded(db) == 3
    async with inbox.claim_many(batch) as (_, fresh):
        assert fresh == []

    racing = [BusProbeSent(origin="test") for _ in range(2)]

    async def race() -> None:
        async with inbox.claim_many(racing) as (session, fresh):
            assert len(fresh) == 2
            # Another delivery records one of them before this batch commits.
            session.add(
                ProcessedMessage(
                    message_id=str(racing[1].id),
                    message_tag=racing[1].tag(),
                    processed_at=racing[1].occurred_at,
                )
            )
            await session.flush()

    with pytest.raises(AlreadyHandled):
        await race()
    assert await _recorded(db) == 3  # the racing batch left nothing
