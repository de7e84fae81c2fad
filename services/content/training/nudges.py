"""Texts to a staff member's phone when a quiz round of theirs is due or a staff lesson they
have not read is published: once per person and item, whatever restarts or second workers do.

Each item (`quiz:<month>`, `lesson:<track>/<key>/v<version>`) is a row, unique per person,
inserted once. Sending claims a person's waiting rows by moving `not_before` past now in one
conditional UPDATE, so of two workers only one sends; one text covers all of a person's
waiting items (eight new lessons are one text, not eight). A failed send keeps its reason
and is tried again after a growing delay, never dropped. The text is the same for everyone
and names nothing (no patient, no lesson): the console shows what is waiting. Texts wait for
the opening hours of the person's first clinic. Staff without a phone are skipped and
counted; they get their texts once a phone is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.content.models import QuizAttempt, StaffLessonRead, TrainingNudge
from services.content.training import rounds
from services.content.training.lessons import StaffLesson, staff_lessons
from services.content.training.people import ClinicHours, Trainee, clinic_hours, trainees
from shared.channels import Channel, OutboundMessage, SendFailed
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)

TEXT = (
    "有新的培训内容/测验，请登录控制台查看。"
    " New training or a quiz is waiting: sign in to the console to see it."
)
KIND = "staff_training"  # SMS vendors map a kind to an approved template
LEASE = timedelta(minutes=10)  # a claim not finished by then (a crash) is taken again
FIRST_RETRY = timedelta(minutes=5)
LAST_RETRY = timedelta(days=1)
# People with no clinic (admins) are texted in the day of China's time zone.
NO_CLINIC_HOURS = ClinicHours("Asia/Shanghai", time(8), time(18))
WAITING = ("pending", "failed")


@dataclass
class NudgeRun:
    sent: int = 0  # texts sent (one per person)
    failed: int = 0  # texts that failed (kept, to be tried again)
    no_phone: int = 0  # people with something to hear of and no phone
    outside_hours: int = 0  # people whose texts wait for their clinic's hours


def items_of(
    person: Trainee,
    current: list[StaffLesson],
    reads: set[tuple[int, str, str, int]],
    taken: set[tuple[int, int]],
    now: datetime,
) -> set[str]:
    """What this person should hear of now: due rounds not taken, lessons not read."""
    items = {
        f"quiz:{w.month}"
        for w in rounds.windows(person.started_at)
        if w.status(now, (person.id, w.month) in taken) == "due"
    }
    items |= {
        f"lesson:{lesson.track}/{lesson.key}/v{lesson.version}"
        for lesson in current
        if (person.id, lesson.track, lesson.key, lesson.version) not in reads
    }
    return items


def _within_hours(hours: ClinicHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(hours.time_zone)).time()
    return hours.opens_at <= local < hours.closes_at


def _retry_delay(tries: int) -> timedelta:
    delay: timedelta = FIRST_RETRY * 2 ** min(max(tries - 1, 0), 16)
    return min(delay, LAST_RETRY)


class Nudger:
    def __init__(
        self, db: Database, access_db: Database, sms: Channel, cipher: IdentifierCipher
    ) -> None:
        self.db = db
        self.access_db = access_db
        self.sms = sms
        self.cipher = cipher

    async def run(self, now: datetime) -> NudgeRun:
        result = NudgeRun()
        people = await trainees(self.access_db, self.db)
        hours = await clinic_hours(self.access_db)
        async with self.db.sessions() as session:
            current = await staff_lessons(session)
            reads = {
                tuple(r)
                for r in await session.execute(
                    select(
                        StaffLessonRead.staff_id,
                        StaffLessonRead.track,
                        StaffLessonRead.lesson_key,
                        StaffLessonRead.version,
                    )
                )
            }
            taken = {
                tuple(r)
                for r in await session.execute(
                    select(QuizAttempt.staff_id, QuizAttempt.round_month)
                )
            }
            known = {
                tuple(r)
                for r in await session.execute(select(TrainingNudge.staff_id, TrainingNudge.item))
            }
        wanted: dict[int, set[str]] = {}
        for person in people:
            items = items_of(person, current, reads, taken, now)  # type: ignore[arg-type]
            if not items:
                continue
            if person.phone_enc is None:
                result.no_phone += 1
                continue
            wanted[person.id] = items
        await self._record(
            [
                (sid, item)
                for sid, items in wanted.items()
                for item in items
                if (sid, item) not in known
            ],
            now,
        )
        waiting = await self._waiting(now)
        for person in people:
            if person.id not in waiting or person.phone_enc is None:
                continue
            first = person.clinic_ids[0] if person.clinic_ids else None
            if not _within_hours(
                hours.get(first, NO_CLINIC_HOURS) if first else NO_CLINIC_HOURS, now
            ):
                result.outside_hours += 1
                continue
            await self._send(person, wanted.get(person.id, set()), now, result)
        if result.sent or result.failed or result.no_phone:
            log.info(
                "training.nudges",
                sent=result.sent,
                failed=result.failed,
                no_phone=result.no_phone,
                outside_hours=result.outside_hours,
            )
        return result

    async def _record(self, rows: list[tuple[int, str]], now: datetime) -> None:
        if not rows:
            return
        insert: Any = sqlite.insert if self.db.is_sqlite else postgresql.insert
        values = [
            {"staff_id": sid, "item": item, "state": "pending", "tries": 0, "created_at": now}
            for sid, item in rows
        ]
        async with self.db.transaction() as session:
            await session.execute(
                insert(TrainingNudge)
                .values(values)
                .on_conflict_do_nothing(index_elements=["staff_id", "item"])
            )

    def _claimable(self, now: datetime) -> Any:
        return (
            TrainingNudge.state.in_(WAITING),
            or_(TrainingNudge.not_before.is_(None), TrainingNudge.not_before <= now),
        )

    async def _waiting(self, now: datetime) -> set[int]:
        async with self.db.sessions() as session:
            found = await session.execute(
                select(TrainingNudge.staff_id).where(*self._claimable(now)).distinct()
            )
            return set(found.scalars())

    async def _send(
        self, person: Trainee, relevant: set[str], now: datetime, result: NudgeRun
    ) -> None:
        # The claim: of two workers, the UPDATE of only one finds the rows still waiting.
        async with self.db.transaction() as session:
            claimed = (
                await session.execute(
                    update(TrainingNudge)
                    .where(TrainingNudge.staff_id == person.id, *self._claimable(now))
                    .values(not_before=now + LEASE)
                    .returning(TrainingNudge.id, TrainingNudge.item, TrainingNudge.tries)
                )
            ).all()
            moot = [row.id for row in claimed if row.item not in relevant]
            if moot:  # read or taken since, or the round closed: nothing to say
                await session.execute(
                    update(TrainingNudge)
                    .where(TrainingNudge.id.in_(moot))
                    .values(state="moot", not_before=None)
                )
        live = [row for row in claimed if row.item in relevant]
        if not live:
            return
        ids = [row.id for row in live]
        assert person.phone_enc is not None
        message = OutboundMessage(
            message_id=f"staff-training-{person.id}-{min(ids)}",
            address=self.cipher.decrypt(person.phone_enc),
            text=TEXT,
            kind=KIND,
        )
        try:
            await self.sms.send(message)
        except SendFailed as failure:
            tries = max(row.tries for row in live) + 1
            async with self.db.transaction() as session:
                await session.execute(
                    update(TrainingNudge)
                    .where(TrainingNudge.id.in_(ids))
                    .values(
                        state="failed",
                        tries=TrainingNudge.tries + 1,
                        reason=failure.reason[:300],
                        not_before=now + _retry_delay(tries),
                    )
                )
            result.failed += 1
            log.warning("training.nudge_failed", staff_id=person.id, reason=failure.reason)
            return
        async with self.db.transaction() as session:
            await session.execute(
                update(TrainingNudge)
                .where(TrainingNudge.id.in_(ids))
                .values(state="sent", sent_at=now, not_before=None, reason=None)
            )
        result.sent += 1
