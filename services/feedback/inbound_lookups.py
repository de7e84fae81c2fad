"""What the Receiver's rules read: one statement per question, or a whole batch's at once.

The rules (`inbound.py`) read, for each message: its sender (locked), whether its provider
id was stored before, the patient's open survey run (locked), the last lesson (a rating
rates it) and the clinic's HELP phone; and a new need's id, which its events carry.
`OneByOne` asks the database each time (a request, a test). `Prefetched` is the worker's:
before a batch's messages are handled, in order, in Python, it reads what the whole batch
needs in one statement each (senders, duplicates, open runs; last lessons and HELP phones
on first use), about six statements a batch instead of about six a message. A need's id
is taken from its sequence (PostgreSQL), not by writing the need at once, so the batch's
rows, needs and outbox events are still written together when it flushes, a multi-row
INSERT per table.

Exclusivity. A partition's lease (`inbound_partitions.py`) is not enough to keep two
workers off one message: a holder that stalls past LEASE_MS mid-batch loses the lease, and
the next holder reads the same unacknowledged entries (the consumer name is the
partition's) while the first may still commit. So the senders are locked FOR UPDATE, in
patient id order (two batches sharing senders then wait for each other, never deadlock),
and only then are duplicates looked up: under READ COMMITTED that statement sees whatever
the other batch committed, so its messages are recognised as duplicates and stored once.
The unique (channel, provider_id) constraint stays the last guard. Open runs are locked
after the senders, in the same order, as the one-by-one rules do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import InboundMessage, LastLesson, Need, Sender, SurveyRun
from services.feedback.surveys import open_run
from shared.access.models import Clinic
from shared.bulk import one_of
from shared.db import Database

PROVIDER_ID_MAX = 80  # inbound_messages.provider_id: longer ids are stored cut


class Lookups(Protocol):
    """What a message's rules read (`inbound.Receiver`)."""

    async def sender(self, session: AsyncSession, channel: str, sender_hash: str) -> Sender | None:
        """The sender's record, locked; of several (a re-enrolment), the one not discharged
        and newest."""

    async def seen(self, session: AsyncSession, channel: str, provider_id: str) -> bool:
        """A message with this provider id was stored already (a provider's retry)."""

    async def open_run(self, session: AsyncSession, patient_id: int) -> SurveyRun | None:
        """The patient's open survey run (at most one), locked."""

    async def last_lesson(self, session: AsyncSession, patient_id: int) -> LastLesson | None:
        """The last lesson sent to the patient, which a rating soon after rates."""

    async def help_phone(self, clinic_id: int) -> str:
        """The number a patient who asks for help is given ("" when the clinic has none)."""

    async def need_id(self, session: AsyncSession, need: Need) -> int:
        """The id of `need`, just added to the session with its message."""


def _best(candidates: Iterable[Sender]) -> Sender | None:
    """Of several records of one sender, the one not discharged and newest."""
    return min(
        candidates,
        key=lambda s: (s.state == "discharged", -s.as_of.timestamp()),
        default=None,
    )


class OneByOne:
    """A statement per question, when it is asked."""

    def __init__(self, access_db: Database) -> None:
        self.access_db = access_db

    async def sender(self, session: AsyncSession, channel: str, sender_hash: str) -> Sender | None:
        column = Sender.phone_hash if channel == "sms" else Sender.openid_hash
        # Locked: two messages of one patient (STOP twice) are handled one after the other.
        query = (
            select(Sender)
            .where(column == sender_hash)
            .order_by((Sender.state == "discharged").asc(), Sender.as_of.desc())
            .limit(1)
            .with_for_update()
        )
        return (await session.execute(query)).scalar_one_or_none()

    async def seen(self, session: AsyncSession, channel: str, provider_id: str) -> bool:
        found = await session.execute(
            select(InboundMessage.id).where(
                InboundMessage.channel == channel,
                InboundMessage.provider_id == provider_id[:PROVIDER_ID_MAX],
            )
        )
        return found.first() is not None

    async def open_run(self, session: AsyncSession, patient_id: int) -> SurveyRun | None:
        return await open_run(session, patient_id)

    async def last_lesson(self, session: AsyncSession, patient_id: int) -> LastLesson | None:
        return await session.get(LastLesson, patient_id)

    async def help_phone(self, clinic_id: int) -> str:
        return (await _help_phones(self.access_db, [clinic_id])).get(clinic_id, "")

    async def need_id(self, session: AsyncSession, need: Need) -> int:
        await session.flush()  # the message and the need written now
        return need.id


async def _help_phones(access_db: Database, clinic_ids: Iterable[int]) -> dict[int, str]:
    async with access_db.sessions() as session:
        found = await session.execute(
            select(Clinic.id, Clinic.help_phone).where(Clinic.id.in_(sorted(set(clinic_ids))))
        )
    return {clinic_id: phone or "" for clinic_id, phone in found}


@dataclass(frozen=True)
class Wanted:
    """A message of the batch, as far as the look-ups need it."""

    channel: str
    sender_hash: str
    provider_id: str
    # Its words read as a need (the grammar's guess, before the rules): how many need ids
    # the batch takes from the sequence at once. A wrong guess costs a statement or a gap.
    maybe_need: bool = False


class Prefetched:
    """A batch's reads, made at once (`load`); the rules then read and change the same
    objects in memory, so a sender's second message sees what its first did (STOP, then
    START; a survey answer, then the next question)."""

    def __init__(self, db: Database, access_db: Database) -> None:
        self.access_db = access_db
        # The needs' id sequence (PostgreSQL); on SQLite a need is written when it is made.
        self._need_ids = None if db.is_sqlite else f"{db.schema}.{Need.__tablename__}"
        self._senders: dict[tuple[str, str], Sender] = {}
        self._seen: set[tuple[str, str]] = set()
        self._runs: dict[int, SurveyRun] = {}
        self._lessons: dict[int, LastLesson] | None = None  # read at the first rating
        self._phones: dict[int, str] | None = None  # read at the first HELP or urgent need
        self._needs_expected = 0
        self._need_ids_taken: list[int] = []  # from the sequence, not yet given to a need

    @classmethod
    async def load(
        cls, session: AsyncSession, db: Database, access_db: Database, wanted: Sequence[Wanted]
    ) -> Prefetched:
        made = cls(db, access_db)
        made._needs_expected = sum(w.maybe_need for w in wanted)
        await made._load_senders(session, wanted)
        await made._load_seen(session, wanted)
        await made._load_runs(session)
        return made

    async def _load_senders(self, session: AsyncSession, wanted: Sequence[Wanted]) -> None:
        hashes: dict[str, set[str]] = {}
        for w in wanted:
            hashes.setdefault("sms" if w.channel == "sms" else "wechat", set()).add(w.sender_hash)
        conditions = []
        if hashes.get("sms"):
            conditions.append(one_of(session, Sender.phone_hash, sorted(hashes["sms"])))
        if hashes.get("wechat"):
            conditions.append(one_of(session, Sender.openid_hash, sorted(hashes["wechat"])))
        if not conditions:
            return
        # In patient id order: see the module's docstring (no deadlock between batches).
        query = select(Sender).where(or_(*conditions)).order_by(Sender.patient_id).with_for_update()
        records: dict[tuple[bool, str | None], list[Sender]] = {}
        for found in (await session.execute(query)).scalars():
            records.setdefault((True, found.phone_hash), []).append(found)
            records.setdefault((False, found.openid_hash), []).append(found)
        for w in wanted:
            best = _best(records.get((w.channel == "sms", w.sender_hash), []))
            if best is not None:
                self._senders[(w.channel, w.sender_hash)] = best

    async def _load_seen(self, session: AsyncSession, wanted: Sequence[Wanted]) -> None:
        ids: dict[str, set[str]] = {}
        for w in wanted:
            ids.setdefault(w.channel, set()).add(w.provider_id[:PROVIDER_ID_MAX])
        if not ids:
            return
        query = select(InboundMessage.channel, InboundMessage.provider_id).where(
            or_(
                *(
                    and_(
                        InboundMessage.channel == channel,
                        one_of(session, InboundMessage.provider_id, sorted(of)),
                    )
                    for channel, of in ids.items()
                )
            )
        )
        self._seen = {
            (channel, provider_id) for channel, provider_id in await session.execute(query)
        }

    async def _load_runs(self, session: AsyncSession) -> None:
        patients = sorted({s.patient_id for s in self._senders.values()})
        if not patients:
            return
        query = (
            select(SurveyRun)
            .where(one_of(session, SurveyRun.patient_id, patients), SurveyRun.state == "open")
            .order_by(SurveyRun.patient_id)
            .with_for_update()
        )
        self._runs = {run.patient_id: run for run in (await session.execute(query)).scalars()}

    def remember(self, channel: str, provider_id: str) -> None:
        """A message the batch stored: the same id later in the batch is a duplicate."""
        self._seen.add((channel, provider_id[:PROVIDER_ID_MAX]))

    async def sender(self, session: AsyncSession, channel: str, sender_hash: str) -> Sender | None:
        return self._senders.get((channel, sender_hash))

    async def seen(self, session: AsyncSession, channel: str, provider_id: str) -> bool:
        return (channel, provider_id[:PROVIDER_ID_MAX]) in self._seen

    async def open_run(self, session: AsyncSession, patient_id: int) -> SurveyRun | None:
        run = self._runs.get(patient_id)
        return run if run is not None and run.state == "open" else None

    async def last_lesson(self, session: AsyncSession, patient_id: int) -> LastLesson | None:
        if self._lessons is None:
            patients = sorted({s.patient_id for s in self._senders.values()})
            with session.no_autoflush:  # what the batch wrote so far is written with the rest
                found = await session.execute(
                    select(LastLesson).where(one_of(session, LastLesson.patient_id, patients))
                )
            self._lessons = {last.patient_id: last for last in found.scalars()}
        return self._lessons.get(patient_id)

    async def help_phone(self, clinic_id: int) -> str:
        if self._phones is None:
            clinics = {s.clinic_id for s in self._senders.values()} | {clinic_id}
            self._phones = await _help_phones(self.access_db, clinics)
        return self._phones.get(clinic_id, "")

    async def need_id(self, session: AsyncSession, need: Need) -> int:
        if self._need_ids is None:
            await session.flush()
        else:  # the id now, the row with the batch's others (no flush per need)
            if not self._need_ids_taken:
                await self._take_need_ids(session, max(self._needs_expected, 1))
            need.id = self._need_ids_taken.pop(0)
            self._needs_expected -= 1
        return need.id

    async def _take_need_ids(self, session: AsyncSession, count: int) -> None:
        assert self._need_ids is not None
        sequence = func.pg_get_serial_sequence(self._need_ids, "id")
        query = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        with session.no_autoflush:  # a read of the sequence alone: the batch flushes later
            found = await session.execute(query)
        self._need_ids_taken = sorted(int(value) for value in found.scalars())
