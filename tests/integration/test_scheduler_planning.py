"""The planner and dispatcher on the real database: plans, rules, sends, replicas, DST."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from services.scheduler import doses, planner
from services.scheduler.dispatch import BatchDispatcher, Dispatcher, InFlightElsewhere
from services.scheduler.models import Alert, Attempt, Message, Occurrence, Outbox, Patient
from services.scheduler.patients import Scheduler
from services.scheduler.readmodel import answer_record_request, opt_out, store_curriculum
from services.scheduler.receipt_rules import apply_receipt
from services.scheduler.schemas import DoseIn, PauseIn, UrineTestIn
from services.scheduler.settings import SchedulerSettings
from services.scheduler.sweeps import fall_back_without_receipt, requeue_retries
from shared.access.models import Clinic
from shared.bus import decode
from shared.channels import ChannelRegistry, OutboundMessage, SendFailed, SendResult
from shared.channels.base import Delivery, FailureKind, ReceiptState, StatusUpdate
from shared.channels.console import ConsoleChannel
from shared.db import Database
from shared.lesson_links import LessonLinks, LessonLinkSettings
from shared.messages import (
    Cadence,
    CurriculumPublished,
    LessonText,
    OptOutRequested,
    PublishedLesson,
    RecordRequested,
    SendMessage,
)
from tests.integration.schedutil import ADMIN, clinic, context, enrol

pytestmark = pytest.mark.usefixtures("secrets_env")

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
CONFIG = SchedulerSettings()


async def _count(db: Database, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    async with db.sessions() as session:
        return int((await session.execute(query)).scalar_one())


async def _messages(db: Database) -> dict[str, tuple[str, str | None]]:
    async with db.sessions() as session:
        rows = (await session.execute(select(Message))).scalars().all()
    return {f"{m.patient_id}:{m.kind}": (m.state, m.reason) for m in rows}


async def _commands(db: Database) -> list[SendMessage]:
    async with db.sessions() as session:
        rows = (
            (await session.execute(select(Outbox).where(Outbox.message_name == "SendMessage")))
            .scalars()
            .all()
        )
    return [decode({"m": row.payload}) for row in rows]  # type: ignore[misc]


async def test_plans_are_per_local_day_idempotent_and_skip_what_cannot_be_sent(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    await enrol(ctx, yx, "0001")  # 07:30 Shanghai: due 23:30 UTC the day before
    await enrol(ctx, yx, "0002", dose_time="06:00")  # quiet until 07:00: moved
    late = await enrol(
        ctx, yx, "0003", dose_time="04:00", quiet_start="00:00", quiet_end="00:00"
    )  # 04:00 today is past its 3-hour window

    # Enrolment planned them at once: 2 + 2 + tomorrow only; planning again adds nothing.
    assert await _count(scheduler_db, Occurrence) == 5
    assert await planner.plan_ahead(scheduler_db, CONFIG, NOW) == 0
    async with scheduler_db.sessions() as session:
        due = {
            (o.patient_id, o.local_date): o.due_at
            for o in (await session.execute(select(Occurrence))).scalars()
        }
    assert due[(1, date(2026, 11, 24))] == datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert due[(2, date(2026, 11, 24))] == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert (late.id, date(2026, 11, 24)) not in due
    assert due[(late.id, date(2026, 11, 25))] == datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


async def test_release_applies_every_rule_and_queues_the_rest(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    plain = await enrol(ctx, yx, "0001")
    dosed = await enrol(ctx, yx, "0002")
    paused = await enrol(ctx, yx, "0003")
    opted = await enrol(ctx, yx, "0004")
    await planner.plan_ahead(scheduler_db, CONFIG, NOW)
    await doses.record_dose(
        ctx, ADMIN, dosed.id, DoseIn(taken_at=datetime(2026, 11, 23, 23, 5, tzinfo=UTC))
    )
    from services.scheduler import patients

    await patients.pause(ctx, ADMIN, paused.id, PauseIn(reason="detention"))
    async with scheduler_db.transaction() as session:  # the patient replied STOP
        await opt_out(OptOutRequested(patient_id=opted.id), session)

    released = await planner.release_due(scheduler_db, CONFIG, NOW)
    assert released.queued == 1
    assert released.held == Counter({"suppressed": 1, "opted_out": 1})
    states = await _messages(scheduler_db)
    assert states[f"{plain.id}:dose"] == ("queued", None)
    assert states[f"{dosed.id}:dose"] == ("suppressed", "today's dose is already recorded")
    assert f"{paused.id}:dose" not in states  # pausing dropped its plans: it waits, not fails
    assert states[f"{opted.id}:dose"] == ("opted_out", "patient opted out")
    assert len(await _commands(scheduler_db)) == 1
    assert (await planner.release_due(scheduler_db, CONFIG, NOW)).queued == 0  # nothing twice

    # Too late: a reminder past its window is recorded as expired, never sent.
    await planner.plan_ahead(scheduler_db, CONFIG, NOW + timedelta(days=1))
    tomorrow_too_late = NOW + timedelta(days=1, hours=4)
    assert (await planner.release_due(scheduler_db, CONFIG, tomorrow_too_late)).held["expired"] >= 1


async def test_two_replicas_releasing_at_once_never_duplicate(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    for i in range(300):
        await enrol(ctx, yx, f"{i:04d}")
    await planner.plan_ahead(scheduler_db, CONFIG, NOW)
    small = SchedulerSettings(release_batch_size=50)

    async def replica() -> int:
        total = 0
        while (released := await planner.release_due(scheduler_db, small, NOW)).queued:
            total += released.queued
        return total

    counts = await asyncio.gather(replica(), replica(), replica())
    assert sum(counts) == 300
    assert all(count > 0 for count in counts)  # they shared the work
    assert await _count(scheduler_db, Message) == 300
    assert len({c.message_id for c in await _commands(scheduler_db)}) == 300


class Scripted:
    """A channel that fails as told, then sends; records what it was asked to send."""

    def __init__(self, code: str, failures: list[FailureKind]) -> None:
        self.code = code
        self.failures = failures
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.failures:
            raise SendFailed(self.failures.pop(0), f"scripted {self.code} failure", code="X1")
        self.sent.append(message)
        return SendResult(Delivery.SENT, provider_id="P-1")

    async def aclose(self) -> None:
        return None


async def _dispatch_all(ctx: Scheduler, dispatcher: Dispatcher) -> None:
    for command in await _commands(ctx.db):
        async with ctx.db.transaction() as session:
            await dispatcher.handle(command, session)


async def test_dispatch_falls_back_retries_and_stops_on_opt_out(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    both = {"wechat_openid": "o" + "a" * 27, "channel_order": ["wechat", "sms"]}
    fallback = await enrol(ctx, yx, "0001", **both)
    await planner.plan_ahead(scheduler_db, CONFIG, NOW)
    wechat = Scripted("wechat", [FailureKind.PERMANENT])
    sms = Scripted("sms", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([wechat, sms]), None, clock=lambda: NOW
    )
    await planner.release_due(scheduler_db, CONFIG, NOW)
    await _dispatch_all(ctx, dispatcher)

    states = await _messages(scheduler_db)
    assert states[f"{fallback.id}:dose"] == ("sent", None)
    assert [m.address for m in sms.sent] == ["+8613800130001"]  # decrypted only to send
    assert "L.W." in sms.sent[0].text
    async with scheduler_db.sessions() as session:
        attempts = [
            (a.channel, a.outcome)
            for a in (await session.execute(select(Attempt).order_by(Attempt.id))).scalars()
        ]
    assert attempts == [("wechat", "permanent"), ("sms", "sent")]


async def test_retryable_failures_come_back_and_opt_out_stops_everything(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    flaky = await enrol(ctx, yx, "0001")
    async with scheduler_db.transaction() as session:  # only the reminder below, whatever the hour
        await session.execute(delete(Occurrence))
    now = datetime.now(UTC)
    today = now.date()
    # A reminder due now, so its window is open while the test runs.
    async with scheduler_db.transaction() as session:
        session.add(
            due_now := Occurrence(
                patient_id=flaky.id,
                kind="dose",
                local_date=today,
                slot="due-now",
                due_at=now,
                expires_at=now + timedelta(hours=3),
                state="planned",
            )
        )
    sms = Scripted("sms", [FailureKind.RETRYABLE, FailureKind.OPTED_OUT])
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([sms]), None)
    await planner.release_due(scheduler_db, CONFIG, now)
    await _dispatch_all(ctx, dispatcher)
    async with scheduler_db.sessions() as session:
        message = (
            await session.execute(select(Message).where(Message.occurrence_id == due_now.id))
        ).scalar_one()
    assert message.state == "queued"
    assert message.retry_at is not None
    assert message.reason is not None
    assert message.reason.startswith("retrying: sms: scripted sms failure")

    assert await requeue_retries(scheduler_db, message.retry_at + timedelta(seconds=1)) == 1
    commands = await _commands(scheduler_db)
    async with scheduler_db.transaction() as session:
        await dispatcher.handle(commands[-1], session)
    async with scheduler_db.sessions() as session:
        message = (
            await session.execute(select(Message).where(Message.occurrence_id == due_now.id))
        ).scalar_one()
        patient = await session.get(Patient, flaky.id)
    assert message.state == "opted_out"
    assert patient is not None
    assert patient.opted_out_at is not None  # the provider said so: nothing more is sent


async def test_lessons_follow_the_cadence_skip_the_control_arm_and_carry_a_link(
    scheduler_db: Database,
    access_db: Database,
    secrets_env: dict[str, str],
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    learner = await enrol(ctx, yx, "0001")
    await enrol(ctx, yx, "0002", study_arm="control")
    track = CurriculumPublished(
        track="core",
        version=1,
        titles={"zh-CN": "核心"},
        next_track=None,
        cadence=Cadence(lessons_per_week=3, weekdays=[2], local_time="07:45"),  # Tuesdays
        lessons=[
            PublishedLesson(
                key=f"l{i}",
                position=i,
                module="m",
                texts={"zh-CN": LessonText(title=f"第{i}课", notification=f"今天的健康小课堂{i}")},
            )
            for i in (1, 2)
        ],
    )
    async with scheduler_db.transaction() as session:
        await store_curriculum(track, session)
    await planner.plan_ahead(scheduler_db, CONFIG, NOW)  # 2026-11-24 is a Tuesday
    assert await _count(scheduler_db, Occurrence, kind="lesson") == 1  # learner only, today

    console = ConsoleChannel("sms")
    links = LessonLinks(LessonLinkSettings(lesson_link_secret=secrets_env["LESSON_LINK_SECRET"]))
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([console]), links, clock=lambda: NOW
    )
    await planner.release_due(scheduler_db, CONFIG, NOW)
    await _dispatch_all(ctx, dispatcher)
    [sent] = [m for m in console.sent if m.kind == "lesson"]
    assert sent.text.startswith("今天的健康小课堂1 http://")
    link = links.read(sent.text.rsplit("/", 1)[1])
    assert (link.track, link.lesson_key, link.reader) == ("core", "l1", sent.message_id)
    assert link.reader != str(learner.id)  # an opaque message id, never the patient's
    async with scheduler_db.sessions() as session:
        names = (await session.execute(select(Outbox.message_name))).scalars().all()
    assert names.count("LessonSent") == 1  # feedback attributes a rating to this lesson
    assert "13800130001" not in sent.text


async def test_missed_days_bring_support_then_a_dropout_alert(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    steady = await enrol(ctx, yx, "0001")
    absent = await enrol(ctx, yx, "0002")
    async with scheduler_db.transaction() as session:  # enrolled a week ago
        for patient_id in (steady.id, absent.id):
            (await session.get(Patient, patient_id)).enrolled_at = NOW - timedelta(days=7)  # type: ignore[union-attr]
    async with access_db.sessions() as session:
        clinics = list((await session.execute(select(Clinic))).scalars())
    for back in (2, 1, 0):  # three evenings after closing (17:00 local = 09:00 UTC)
        evening = NOW + timedelta(hours=12) - timedelta(days=back)
        await doses.record_dose(
            ctx, ADMIN, steady.id, DoseIn(taken_at=evening - timedelta(hours=10))
        )
        await doses.plan_missed_dose_support(scheduler_db, CONFIG, evening, clinics)
    async with scheduler_db.sessions() as session:
        support = (
            (await session.execute(select(Occurrence).where(Occurrence.kind == "missed_dose")))
            .scalars()
            .all()
        )
        alerts = (await session.execute(select(Alert))).scalars().all()
    assert {o.patient_id for o in support} == {absent.id}
    assert len(support) == 3
    assert [(a.patient_id, a.kind, a.state) for a in alerts] == [
        (absent.id, "dropout_risk", "open")
    ]
    async with scheduler_db.sessions() as session:
        names = (await session.execute(select(Outbox.message_name))).scalars().all()
    assert names.count("DropoutRiskRaised") == 1


async def test_a_record_request_is_answered_with_the_patients_own_record(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db)
    yx = await clinic(access_db)
    asker = await enrol(ctx, yx, "0001")
    async with scheduler_db.transaction() as session:
        await session.execute(delete(Occurrence))
    await doses.record_dose(ctx, ADMIN, asker.id, DoseIn(taken_at=datetime.now(UTC)))
    await doses.record_urine_test(
        ctx,
        ADMIN,
        asker.id,
        UrineTestIn(taken_on=date.today() - timedelta(days=2), result="negative"),
    )
    async with scheduler_db.transaction() as session:
        await answer_record_request(RecordRequested(patient_id=asker.id), session)
    console = ConsoleChannel("sms")
    dispatcher = Dispatcher(scheduler_db, ctx.cipher, ChannelRegistry([console]), None)
    await planner.release_due(scheduler_db, CONFIG, datetime.now(UTC))
    await _dispatch_all(ctx, dispatcher)
    [reply] = list(console.sent)
    assert reply.kind == "record_reply"
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert reply.text.startswith(
        f"L.W.，过去7天你到门诊1天（{today.month}/{today.day}）。最近一次检查"
    )
    assert "结果正常" in reply.text
    assert "尿" not in reply.text  # discreet: no "urine" on a lock screen


async def test_plans_follow_the_patients_clock_across_a_dst_change(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    before_jump = datetime(2026, 3, 7, 20, 0, tzinfo=UTC)  # 15:00 in New York, EST
    ctx = context(scheduler_db, access_db, clock=lambda: before_jump)
    ny = await clinic(access_db, "NY", tz="America/New_York")
    patient = await enrol(
        ctx, ny, "0001", dose_time="02:30", quiet_start="00:00", quiet_end="00:00", track=None
    )
    await planner.plan_ahead(scheduler_db, CONFIG, before_jump, days=3)
    async with scheduler_db.sessions() as session:
        due = {
            o.local_date: o.due_at
            for o in (
                await session.execute(select(Occurrence).where(Occurrence.patient_id == patient.id))
            ).scalars()
        }
    assert due == {
        # 02:30 does not exist on the 8th: the reminder goes at 03:30 EDT, after the jump.
        date(2026, 3, 8): datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        date(2026, 3, 9): datetime(2026, 3, 9, 6, 30, tzinfo=UTC),  # 02:30 EDT
    }


async def test_a_duplicate_command_never_sends_twice_while_the_first_is_in_flight(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    await enrol(ctx, yx, "0001")
    await planner.release_due(scheduler_db, CONFIG, NOW)
    [command] = await _commands(scheduler_db)
    gate = asyncio.Event()

    class Slow(Scripted):
        async def send(self, message: OutboundMessage) -> SendResult:
            await gate.wait()
            return await super().send(message)

    sms = Slow("sms", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([sms]), None, clock=lambda: NOW
    )

    async def deliver() -> None:
        async with scheduler_db.transaction() as session:
            await dispatcher.handle(command, session)

    first = asyncio.create_task(deliver())
    await asyncio.sleep(0.3)  # the first is now "sending", waiting on the provider
    with pytest.raises(InFlightElsewhere):
        await deliver()  # the same command again (a relay published it twice)
    gate.set()
    await first
    assert len(sms.sent) == 1


async def test_no_receipt_in_time_tries_the_next_channel(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    both = await enrol(
        ctx, yx, "0001", wechat_openid="o" + "b" * 27, channel_order=["sms", "wechat"]
    )
    await planner.release_due(scheduler_db, CONFIG, NOW)
    sms, wechat = Scripted("sms", []), Scripted("wechat", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([sms, wechat]), None, clock=lambda: NOW
    )
    await _dispatch_all(ctx, dispatcher)
    assert (await _messages(scheduler_db))[f"{both.id}:dose"] == ("sent", None)

    later = NOW + timedelta(minutes=31)
    assert await fall_back_without_receipt(scheduler_db, later, timedelta(minutes=30)) == 1
    dispatcher.clock = lambda: later
    [*_, retry] = await _commands(scheduler_db)
    async with scheduler_db.transaction() as session:
        await dispatcher.handle(retry, session)
    assert (len(sms.sent), len(wechat.sent)) == (1, 1)  # SMS is not tried again
    assert (await _messages(scheduler_db))[f"{both.id}:dose"] == ("sent", None)
    # The last channel has nothing after it: the message stays sent, not bounced around.
    assert (
        await fall_back_without_receipt(
            scheduler_db, later + timedelta(hours=1), timedelta(minutes=30)
        )
        == 0
    )


async def test_a_failed_receipt_tries_the_next_channel_like_a_missing_one(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    both = await enrol(
        ctx, yx, "0001", wechat_openid="o" + "f" * 27, channel_order=["sms", "wechat"]
    )
    sms_only = await enrol(ctx, yx, "0002")
    await planner.release_due(scheduler_db, CONFIG, NOW)
    sms, wechat = Scripted("sms", []), Scripted("wechat", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([sms, wechat]), None, clock=lambda: NOW
    )
    await _dispatch_all(ctx, dispatcher)
    async with scheduler_db.sessions() as session:
        ids = {
            m.patient_id: m.id
            for m in (await session.execute(select(Message).where(Message.kind == "dose")))
            .scalars()
            .all()
        }
    sent_before = len(await _commands(scheduler_db))

    for patient in (both, sms_only):
        undelivered = StatusUpdate(
            "P-1", ReceiptState.UNDELIVERED, "30003", message_id=ids[patient.id]
        )
        assert await apply_receipt(scheduler_db, undelivered, "twilio", NOW) == "undelivered"

    states = await _messages(scheduler_db)
    assert states[f"{both.id}:dose"] == (
        "queued",
        "twilio undelivered (error 30003): trying wechat",
    )
    # Nothing after SMS: the message fails with the provider's reason, as before.
    assert states[f"{sms_only.id}:dose"] == ("failed", "twilio undelivered (error 30003)")
    [*_, retry] = await _commands(scheduler_db)
    assert len(await _commands(scheduler_db)) == sent_before + 1
    assert retry.message_id == ids[both.id]
    async with scheduler_db.transaction() as session:
        await dispatcher.handle(retry, session)
    assert (len(sms.sent), len(wechat.sent)) == (2, 1)  # SMS is not tried again
    assert (await _messages(scheduler_db))[f"{both.id}:dose"] == ("sent", None)


async def test_a_failed_receipt_after_an_opt_out_or_the_window_tries_nothing_else(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    both = {"wechat_openid": "o" + "g" * 27, "channel_order": ["sms", "wechat"]}
    stopped = await enrol(ctx, yx, "0001", **both)
    late = await enrol(ctx, yx, "0002", **both)
    await planner.release_due(scheduler_db, CONFIG, NOW)
    dispatcher = Dispatcher(
        scheduler_db,
        ctx.cipher,
        ChannelRegistry([Scripted("sms", []), Scripted("wechat", [])]),
        None,
        clock=lambda: NOW,
    )
    await _dispatch_all(ctx, dispatcher)
    async with scheduler_db.transaction() as session:
        rows = (await session.execute(select(Message))).scalars().all()
        ids = {m.patient_id: m.id for m in rows}
        for message in rows:
            if message.patient_id == late.id:  # its window closed while the receipt travelled
                message.expires_at = NOW - timedelta(minutes=1)
    commands = len(await _commands(scheduler_db))

    opted_out = StatusUpdate("P-1", ReceiptState.FAILED, "21610", message_id=ids[stopped.id])
    assert await apply_receipt(scheduler_db, opted_out, "twilio", NOW) == "failed"
    too_late = StatusUpdate("P-1", ReceiptState.UNDELIVERED, message_id=ids[late.id])
    assert await apply_receipt(scheduler_db, too_late, "twilio", NOW) == "undelivered"

    states = await _messages(scheduler_db)
    assert states[f"{stopped.id}:dose"] == ("failed", "twilio failed (error 21610)")
    assert states[f"{late.id}:dose"] == ("failed", "twilio undelivered")
    assert len(await _commands(scheduler_db)) == commands


async def test_a_burst_is_dispatched_a_batch_at_a_time_with_the_same_rules(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    both = {"wechat_openid": "o" + "c" * 27, "channel_order": ["wechat", "sms"]}
    patients = [await enrol(ctx, yx, f"{i:04d}", **(both if i % 2 else {})) for i in range(20)]
    await planner.release_due(scheduler_db, CONFIG, NOW)
    wechat = Scripted("wechat", [FailureKind.PERMANENT] * 3)  # the first three fall back
    sms = Scripted("sms", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([wechat, sms]), None, clock=lambda: NOW
    )
    commands = await _commands(scheduler_db)
    async with scheduler_db.transaction() as session:
        await BatchDispatcher(dispatcher).handle(commands, session)
    states = await _messages(scheduler_db)
    assert {states[f"{p.id}:dose"] for p in patients} == {("sent", None)}
    assert (len(wechat.sent), len(sms.sent)) == (7, 13)  # 10 on WeChat, 3 fell back to SMS
    assert await _count(scheduler_db, Attempt) == 23
    async with scheduler_db.transaction() as session:  # a redelivered batch sends nothing
        await BatchDispatcher(dispatcher).handle(commands, session)
    assert len(sms.sent) + len(wechat.sent) == 20


async def test_review_fixes_hold(scheduler_db: Database, access_db: Database) -> None:
    """Regressions found in review: each assertion names the rule it guards."""
    from services.scheduler import patients as patient_service
    from services.scheduler.reports import acknowledge_alert
    from services.scheduler.schemas import PatientPatch, ReminderIn, TransferIn

    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx, km = await clinic(access_db, "YX"), await clinic(access_db, "KM")
    # A dose time inside quiet hours would be moved past its own window: not planned.
    late = await enrol(ctx, yx, "0001", dose_time="23:00")
    assert await _count(scheduler_db, Occurrence, patient_id=late.id) == 0

    # A schedule change keeps the one-off reminders a coordinator set.
    p = await enrol(ctx, yx, "0002")
    await doses.add_reminder(
        ctx, ADMIN, p.id, ReminderIn(kind="appointment", on=date(2026, 11, 28), at="10:00")
    )
    await patient_service.update(ctx, ADMIN, p.id, PatientPatch(dose_time="08:30"))
    assert await _count(scheduler_db, Occurrence, patient_id=p.id, kind="appointment") == 1

    # An acknowledged alert is not raised again the same evening.
    async with scheduler_db.transaction() as session:
        (await session.get(Patient, p.id)).enrolled_at = NOW - timedelta(days=7)  # type: ignore[union-attr]
    async with access_db.sessions() as session:
        clinics = list((await session.execute(select(Clinic))).scalars())
    evening = NOW + timedelta(hours=12)
    await doses.plan_missed_dose_support(scheduler_db, CONFIG, evening, clinics)
    async with scheduler_db.sessions() as session:
        [alert] = (
            (await session.execute(select(Alert).where(Alert.patient_id == p.id))).scalars().all()
        )
    await acknowledge_alert(ctx, ADMIN, alert.id)
    await doses.plan_missed_dose_support(
        scheduler_db, CONFIG, evening + timedelta(minutes=10), clinics
    )
    assert await _count(scheduler_db, Alert, patient_id=p.id) == 1

    # A transfer takes open alerts with the patient.
    async with scheduler_db.transaction() as session:
        session.add(
            Alert(
                patient_id=p.id,
                clinic_id=yx,
                kind="dropout_risk",
                raised_on=date(2026, 11, 26),
                details={},
                state="open",
            )
        )
    await patient_service.transfer(ctx, ADMIN, p.id, TransferIn(clinic_id=km, clinic_number="K-2"))
    async with scheduler_db.sessions() as session:
        states = {
            (a.state, a.clinic_id)
            for a in (
                await session.execute(select(Alert).where(Alert.patient_id == p.id))
            ).scalars()
        }
    assert ("open", km) in states
    assert ("open", yx) not in states


async def test_free_text_on_wechat_only_within_48_hours_of_the_patients_message(
    scheduler_db: Database,
    access_db: Database,
) -> None:
    from services.scheduler.readmodel import note_wechat_message
    from shared.messages import WeChatMessageReceived

    ctx = context(scheduler_db, access_db, clock=lambda: NOW)
    yx = await clinic(access_db)
    wechat_first = {"channel_order": ["wechat", "sms"]}
    recent = await enrol(ctx, yx, "0001", wechat_openid="o" + "d" * 27, **wechat_first)
    silent = await enrol(ctx, yx, "0002", wechat_openid="o" + "e" * 27, **wechat_first)
    async with scheduler_db.transaction() as session:
        await note_wechat_message(
            WeChatMessageReceived(patient_id=recent.id, at=NOW - timedelta(hours=3)), session
        )
    await planner.release_due(scheduler_db, CONFIG, NOW)
    wechat = Scripted("wechat", [])
    dispatcher = Dispatcher(
        scheduler_db, ctx.cipher, ChannelRegistry([wechat]), None, clock=lambda: NOW
    )
    await _dispatch_all(ctx, dispatcher)
    window = {m.address: m.reply_window_open for m in wechat.sent}
    assert window == {"o" + "d" * 27: True, "o" + "e" * 27: False}
    assert silent.id != recent.id
