"""What the MI sessions add up to: a clinic's figures per provider and per arm, and a study's
sessions as CSV for researchers.

Only sessions inside a client's window count (voided ones never): the figures describe the
target the trial set. The CSV is pseudonymised with the installation's keyed pseudonym of
the study export (so the files join on `participant`), the providers too; it carries no
plan, no free text, no name and no date (days after randomisation instead).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from statistics import fmean

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scheduler.mi.models import MiSession
from services.scheduler.mi.rules import Progress, Window, progress
from services.scheduler.mi.schemas import MiFigures, MiReportOut
from services.scheduler.mi.targets import chunks, windows
from services.scheduler.models import Patient
from services.scheduler.patients import Scheduler
from services.scheduler.studies.export import PSEUDONYM_PURPOSE, scoped
from services.scheduler.studies.models import Study, StudyArm, StudyParticipant
from services.scheduler.studies.service import load_study
from services.scheduler.timeplan import local_today
from shared.access.clinics import get_clinic
from shared.access.tokens import Principal, Role
from shared.crypto import IdentifierCipher
from shared.errors import Unavailable


@dataclass(frozen=True)
class Client:
    """A patient with a target: their window, its sessions in order, where they stand."""

    patient_id: int
    window: Window
    sessions: list[MiSession]  # in the window, not voided, oldest first
    progress: Progress


async def clients(
    session: AsyncSession, which: ColumnElement[bool], today: date
) -> dict[int, Client]:
    """The clients with a target among the patients `which` selects, as on `today`."""
    found = await windows(session, which)
    held: dict[int, list[MiSession]] = defaultdict(list)
    for some in chunks(found):
        rows = await session.execute(
            select(MiSession)
            .where(MiSession.patient_id.in_(some), MiSession.voided_at.is_(None))
            .order_by(MiSession.held_on, MiSession.id)
        )
        for row in rows.scalars():
            if found[row.patient_id].holds(row.held_on):
                held[row.patient_id].append(row)
    return {
        pid: Client(pid, window, held[pid], progress(window, [s.held_on for s in held[pid]], today))
        for pid, window in found.items()
    }


def _mean(values: Iterable[float]) -> float | None:
    listed = list(values)
    return round(fmean(listed), 2) if listed else None


def figures(group: str, members: list[Client], provider: int | None = None) -> MiFigures:
    """A group's figures; for a provider, only the sessions they held count."""
    numbered = [
        (number, s)
        for client in members
        for number, s in enumerate(client.sessions, start=1)
        if provider is None or s.provider_staff_id == provider
    ]
    met = sum(1 for client in members if client.progress.status == "met")

    def at(number: int, ruler: str) -> float | None:
        return _mean(getattr(s, ruler) for n, s in numbered if n == number)

    return MiFigures(
        group=group,
        clients_with_target=len(members),
        sessions=len(numbered),
        met=met,
        met_share=round(met / len(members), 4) if members else None,
        mean_minutes=_mean(s.minutes for _, s in numbered),
        importance_first=at(1, "importance"),
        importance_second=at(2, "importance"),
        confidence_first=at(1, "confidence"),
        confidence_second=at(2, "confidence"),
    )


def _provider_label(staff_id: int, name: str, cipher: IdentifierCipher | None) -> str:
    if cipher is None:
        return name
    return cipher.pseudonym(f"staff-{staff_id}", PSEUDONYM_PURPOSE)


async def clinic_report(
    ctx: Scheduler, principal: Principal, clinic_id: int, on: date | None = None
) -> MiReportOut:
    """The clinic's clients with a target (its patients now) by status, and the figures
    per provider and per arm. Researchers see the providers as keyed pseudonyms."""
    clinic = await get_clinic(ctx.access_db, principal, clinic_id)  # 404 outside scope
    cipher = None
    if principal.role is Role.RESEARCHER:
        cipher = ctx.cipher
        if cipher is None:
            raise Unavailable("IDENTIFIER_KEYS is not set: pseudonyms cannot be made")
    today = on or local_today(ctx.clock(), clinic.time_zone)
    async with ctx.db.sessions() as session:
        found = await clients(session, Patient.clinic_id == clinic_id, today)
        keys = {sid: key for sid, key in await session.execute(select(Study.id, Study.key))}
    by_arm: dict[str, list[Client]] = defaultdict(list)
    by_provider: dict[int, list[Client]] = defaultdict(list)
    names: dict[int, str] = {}
    for client in found.values():
        study_id = client.window.study_id
        arm = "clinic" if study_id is None else f"{keys.get(study_id, '?')}/{client.window.arm}"
        by_arm[arm].append(client)
        for staff_id in dict.fromkeys(s.provider_staff_id for s in client.sessions):
            by_provider[staff_id].append(client)
        names |= {s.provider_staff_id: s.provider_name for s in client.sessions}
    providers = [
        figures(_provider_label(staff_id, names[staff_id], cipher), members, staff_id)
        for staff_id, members in by_provider.items()
    ]
    return MiReportOut(
        clinic_id=clinic.id,
        on=today,
        statuses=dict(Counter(c.progress.status for c in found.values())),
        providers=sorted(providers, key=lambda f: f.group),
        arms=[figures(arm, members) for arm, members in sorted(by_arm.items())],
    )


CSV_COLUMNS = (
    "study",
    "participant",
    "clinic_id",
    "arm",
    "provider",
    "session_number",
    "days_after_randomisation",
    "minutes",
    "topic",
    "importance",
    "confidence",
    "target",
    "target_met",
)


async def study_csv(
    ctx: Scheduler, principal: Principal, study_id: int, today: date | None = None
) -> str:
    """One row per session in a randomised participant's window of this study (the
    caller's clinics), pseudonymised; `target_met` as on `today`."""
    cipher = ctx.cipher
    if cipher is None:
        raise Unavailable("IDENTIFIER_KEYS is not set: pseudonyms cannot be made")
    async with ctx.db.sessions() as session:
        study = await load_study(session, study_id)
        query = (
            select(StudyParticipant.patient_id, StudyParticipant.clinic_id, StudyArm.code)
            .join(StudyArm, StudyArm.id == StudyParticipant.arm_id)
            .where(StudyParticipant.study_id == study.id)
            .order_by(StudyParticipant.patient_id)
        )
        people = (await session.execute(scoped(query, principal))).all()
        found = await clients(
            session, Patient.id.in_([p for p, _, _ in people]), today or date.today()
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for patient_id, clinic_id, arm in people:
        client = found.get(patient_id)
        if client is None or client.window.study_id != study.id:
            continue  # an arm without MI, or the target of another study
        participant = cipher.pseudonym(str(patient_id), PSEUDONYM_PURPOSE)
        for number, s in enumerate(client.sessions, start=1):
            writer.writerow(
                (
                    study.key,
                    participant,
                    clinic_id,
                    arm,
                    _provider_label(s.provider_staff_id, "", cipher),
                    number,
                    (s.held_on - client.window.starts_on).days,
                    s.minutes,
                    s.topic,
                    s.importance,
                    s.confidence,
                    client.window.target,
                    int(client.progress.status == "met"),
                )
            )
    return out.getvalue()
