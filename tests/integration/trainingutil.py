"""Builders for the staff-training tests: the shipped staff track published, staff accounts
whose training started on a chosen day, their principals, and the quiz's right answers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from services.content.service.importer import import_files
from shared.access.models import Staff
from shared.access.staff import create_staff
from shared.access.tokens import Principal, Role
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from tests.integration.test_staff import PASSWORD

STAFF_YAML = Path(__file__).resolve().parents[2] / "curriculum" / "staff.yaml"
TRACK = "staff-training"
# The shipped staff lessons, in order, with their quiz answers (curriculum/staff.yaml).
RIGHT = {
    f"{TRACK}/staff-how-methadone-works": 1,
    f"{TRACK}/staff-retention-and-dose": 2,
    f"{TRACK}/staff-infections-and-testing": 0,
    f"{TRACK}/staff-words-matter": 1,
    f"{TRACK}/staff-privacy-and-discretion": 2,
    f"{TRACK}/staff-mi-spirit": 0,
    f"{TRACK}/staff-mi-oars": 2,
    f"{TRACK}/staff-mi-rulers-and-plans": 1,
}


async def publish_staff_track(content_db: Database) -> None:
    await import_files(content_db, [STAFF_YAML], publish=True)


def wrong(answers: dict[str, int], *ids: str) -> dict[str, int]:
    """The answers with the named questions answered wrongly (every question has 3 options)."""
    return {qid: (choice + 1) % 3 if qid in ids else choice for qid, choice in answers.items()}


async def staff_member(
    access_db: Database,
    login: str,
    clinics: list[str],
    started_at: datetime,
    *,
    phone: str | None = None,
    role: Role = Role.COORDINATOR,
) -> int:
    """A staff account created (training started) at `started_at`; its id."""
    cipher = IdentifierCipher.from_settings(IdentifierSettings()) if phone else None
    made = await create_staff(
        access_db,
        login=login,
        name=login.title(),
        role=role,
        clinics=clinics,
        password=PASSWORD,
        phone=phone,
        cipher=cipher,
    )
    async with access_db.transaction() as session:
        await session.execute(
            update(Staff).where(Staff.id == made.id).values(created_at=started_at)
        )
    return made.id


def principal(staff_id: int, clinic_ids: set[int], role: Role = Role.COORDINATOR) -> Principal:
    """What the token verifier makes of a console sign-in's token."""
    return Principal(f"tok{staff_id:09d}", role, frozenset(clinic_ids), staff_id=staff_id)
