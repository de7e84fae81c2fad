"""Training nudges: the content worker's job texts each staff phone once per item (a due quiz
round, an unread lesson version), through the real Twilio adapter against the fake provider;
a second run or a second worker sends nothing more, staff without a phone are skipped and
counted, a failed send is kept with its reason and retried, and the text names nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from deploy.fakes.process import RunningFake, running_fake
from services.content.models import TrainingNudge
from services.content.service import versions
from services.content.training.nudges import TEXT, Nudger
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from tests.integration.schedutil import clinic
from tests.integration.trainingutil import TRACK, publish_staff_track, staff_member

SID, TOKEN = "AC" + "2" * 32, "twilio-token-training"
START = datetime(2026, 2, 2, 1, 0, tzinfo=UTC)  # 09:00 in Yuxi: the clinic is open
PHONE_A, PHONE_C = "+8613912340001", "+8613912340003"


@pytest.fixture
def twilio() -> Iterator[RunningFake]:
    with running_fake("twilio", "--account-sid", SID, "--auth-token", TOKEN) as fake:
        yield fake


@pytest.fixture
async def sms(twilio: RunningFake) -> AsyncIterator[TwilioSmsChannel]:
    channel = TwilioSmsChannel(
        TwilioConfig(SID, TOKEN, from_number="+15005550006", api_base_url=twilio.url)
    )
    yield channel
    await channel.aclose()


@pytest.fixture
async def staff(content_db: Database, access_db: Database, secrets_env: dict[str, str]) -> None:
    await clinic(access_db, "YX")
    await clinic(access_db, "KM")
    await publish_staff_track(content_db)
    await staff_member(access_db, "a.wang", ["YX"], START, phone=PHONE_A)
    await staff_member(access_db, "b.li", ["YX"], START)  # no phone
    await staff_member(access_db, "c.zhao", ["KM"], START, phone=PHONE_C)


def nudger(content_db: Database, access_db: Database, sms: TwilioSmsChannel) -> Nudger:
    return Nudger(content_db, access_db, sms, IdentifierCipher.from_settings(IdentifierSettings()))


def texts(twilio: RunningFake) -> list[tuple[str, str]]:
    return [(to, body) for _at, to, body in twilio.get("/_fake/sent")["sent"]]


async def states(content_db: Database) -> dict[str, int]:
    async with content_db.sessions() as session:
        rows = (await session.execute(select(TrainingNudge.state))).scalars().all()
    return {state: rows.count(state) for state in set(rows)}


async def test_each_phone_is_texted_once_per_item_across_runs_and_workers(
    staff: None,
    content_db: Database,
    access_db: Database,
    sms: TwilioSmsChannel,
    twilio: RunningFake,
) -> None:
    first = await nudger(content_db, access_db, sms).run(START)
    # a and c: the baseline round and eight lessons, in one text each; b has no phone.
    assert (first.sent, first.failed, first.no_phone) == (2, 0, 1)
    assert sorted(texts(twilio)) == [(PHONE_A, TEXT), (PHONE_C, TEXT)]
    assert await states(content_db) == {"sent": 18}  # 2 people x (1 round + 8 lessons)

    # A restart, then two workers at once: nothing new, nothing sent.
    again = await nudger(content_db, access_db, sms).run(START + timedelta(minutes=5))
    assert (again.sent, again.no_phone) == (0, 1)
    assert len(texts(twilio)) == 2

    # A new version of the track: its lessons are new items; two workers text once each.
    await versions.start_draft(content_db, TRACK)
    await versions.publish(content_db, TRACK)
    later = START + timedelta(minutes=10)
    runs = await asyncio.gather(
        nudger(content_db, access_db, sms).run(later),
        nudger(content_db, access_db, sms).run(later),
    )
    assert sum(run.sent for run in runs) == 2
    assert sorted(texts(twilio)) == [(PHONE_A, TEXT)] * 2 + [(PHONE_C, TEXT)] * 2
    assert await states(content_db) == {"sent": 34}

    # The text is the same generic sentence for everyone: no patient, lesson or number.
    for _to, body in texts(twilio):
        assert body == TEXT
    assert "staff-" not in TEXT
    assert not any(ch.isdigit() for ch in TEXT)


async def test_a_failed_send_is_kept_with_its_reason_and_retried_and_hours_are_kept(
    staff: None,
    content_db: Database,
    access_db: Database,
    sms: TwilioSmsChannel,
    twilio: RunningFake,
) -> None:
    evening = START + timedelta(hours=12)  # 21:00 in Yuxi: the clinic is closed
    closed = await nudger(content_db, access_db, sms).run(evening)
    assert (closed.sent, closed.outside_hours) == (0, 2)
    assert await states(content_db) == {"pending": 18}

    twilio.configure(error_rate=1.0)
    failing = await nudger(content_db, access_db, sms).run(START)
    assert (failing.sent, failing.failed) == (0, 2)
    async with content_db.sessions() as session:
        rows = (await session.execute(select(TrainingNudge))).scalars().all()
    assert {(row.state, row.tries) for row in rows} == {("failed", 1)}
    assert all(row.reason and "+86" not in row.reason for row in rows)
    # Not again at once: after the retry delay.
    assert (await nudger(content_db, access_db, sms).run(START)).failed == 0

    twilio.configure(error_rate=0.0)
    retried = await nudger(content_db, access_db, sms).run(START + timedelta(minutes=6))
    assert (retried.sent, retried.failed) == (2, 0)
    assert await states(content_db) == {"sent": 18}
    assert len(texts(twilio)) == 2
