"""Overdue tasks escalate to the clinic's lead: one text per task, to the lead's phone (a
staff account's, decrypted here) or, with no lead, the clinic's on-call `alert_phone`,
through the SMS channel the scheduler sends reminders with.

The text names the task number, its kind and the clinic's code, never the patient: whoever
is texted opens the task in the console (authenticated and audited).

Exactly once across workers: a worker first claims rows (`escalation_claimed_until`, set by
an UPDATE whose WHERE another worker's UPDATE re-checks after the row lock), then records
`escalated_at` after the send. A failed send is kept on the task (`escalation_error`,
`escalation_attempts`) and retried later with a growing wait, never dropped; the task's
API shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from services.scheduler.tasks.models import Task, TaskSettings
from services.scheduler.tasks.rules import OPEN_STATUSES
from services.scheduler.tasks.staff import member
from shared.access.models import Clinic
from shared.channels import Channel, OutboundMessage, SendFailed
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)
CLAIM_FOR = timedelta(minutes=5)  # longer than a send takes; a crashed worker's claim ends
MAX_WAIT = timedelta(hours=6)


def escalation_text(task_id: int, kind: str, clinic_code: str) -> str:
    """Both languages staff may read; the task's number, never the patient."""
    return (
        f"随访任务 #{task_id}（{kind}）已逾期，门诊 {clinic_code}，请立即查看。"
        f" Follow-up task #{task_id} ({kind}) at {clinic_code} is overdue: open it now."
    )


def retry_wait(attempts: int) -> timedelta:
    """5 minutes, doubling, at most 6 hours."""
    doublings: int = min(max(attempts - 1, 0), 10)
    wait = timedelta(minutes=5 * 2**doublings)
    return min(wait, MAX_WAIT)


def _escalable(now: datetime) -> ColumnElement[bool]:
    return and_(
        Task.status.in_(OPEN_STATUSES),
        Task.due_at < now,
        Task.escalated_at.is_(None),
        or_(Task.escalation_claimed_until.is_(None), Task.escalation_claimed_until < now),
        or_(Task.escalation_retry_at.is_(None), Task.escalation_retry_at <= now),
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    clinic_id: int
    kind: str
    attempts: int


@dataclass
class EscalationRun:
    texted: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # task id -> reason


class TaskEscalation:
    def __init__(
        self,
        db: Database,
        access_db: Database,
        sms: Channel | None,
        cipher: IdentifierCipher | None,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.access_db = access_db
        self.sms = sms
        self.cipher = cipher
        self.batch = batch

    async def run(self, now: datetime) -> EscalationRun:
        """Escalate what is overdue at `now`; the worker's tick passes the clock's time."""
        done = EscalationRun()
        for task in await self._claim(now):
            reason = await self._text(task)
            await self._record(task, now, reason)
            if reason is None:
                done.texted.append(task.id)
            else:
                done.failed[task.id] = reason
        if done.texted or done.failed:
            log.info("tasks.escalated", texted=len(done.texted), failed=len(done.failed))
        return done

    async def _claim(self, now: datetime) -> list[Claimed]:
        # SKIP LOCKED: a second worker takes other rows instead of waiting on (or
        # deadlocking with) the first one's; SQLite has one writer and ignores it.
        due = (
            select(Task.id)
            .where(_escalable(now))
            .order_by(Task.due_at)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction() as session:
            rows = await session.execute(
                update(Task)
                # Repeated outside the subquery: a second worker's UPDATE re-checks these
                # on the row it waited for, and skips it once the first has claimed it.
                .where(Task.id.in_(due.scalar_subquery()), _escalable(now))
                .values(escalation_claimed_until=now + CLAIM_FOR)
                .returning(Task.id, Task.clinic_id, Task.kind, Task.escalation_attempts)
            )
            return [Claimed(*row) for row in rows]

    async def _text(self, task: Claimed) -> str | None:
        """None once texted, else why not (kept on the task)."""
        if self.sms is None:
            return "no SMS channel is configured"
        try:
            phone, code = await self._recipient(task.clinic_id)
        except ValueError as exc:
            return str(exc)
        try:
            await self.sms.send(
                OutboundMessage(
                    message_id=f"task-escalation-{task.id}",
                    address=phone,
                    text=escalation_text(task.id, task.kind, code),
                    kind="task_escalation",
                )
            )
        except SendFailed as failure:
            return f"SMS: {failure.reason}"[:300]
        except Exception as exc:  # our side (Redis pacing, a bug): kept and retried
            return f"SMS: {type(exc).__name__}"
        return None

    async def _recipient(self, clinic_id: int) -> tuple[str, str]:
        async with self.db.sessions() as session:
            settings = await session.get(TaskSettings, clinic_id)
        async with self.access_db.sessions() as session:
            clinic = await session.get(Clinic, clinic_id)
        if clinic is None:
            raise ValueError(f"no clinic {clinic_id}")
        lead = (
            await member(self.access_db, settings.lead_staff_id)
            if settings is not None and settings.lead_staff_id is not None
            else None
        )
        if lead is not None and lead.phone_enc is not None:
            if self.cipher is None:
                raise ValueError("identifier keys are not configured: the lead's phone is sealed")
            return self.cipher.decrypt(lead.phone_enc), clinic.code
        if clinic.alert_phone:
            return clinic.alert_phone, clinic.code
        raise ValueError("no lead with a phone and no clinic alert phone")

    async def _record(self, task: Claimed, now: datetime, reason: str | None) -> None:
        values: dict[str, object] = {"escalation_claimed_until": None}
        if reason is None:
            values |= {"escalated_at": now, "escalation_error": None}
        else:
            attempts = task.attempts + 1
            values |= {
                "escalation_attempts": attempts,
                "escalation_error": reason,
                "escalation_retry_at": now + retry_wait(attempts),
            }
            log.warning("tasks.escalation_failed", task_id=task.id, clinic_id=task.clinic_id)
        async with self.db.transaction() as session:
            await session.execute(update(Task).where(Task.id == task.id).values(**values))
