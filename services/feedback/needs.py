"""Needs, replies and ratings for coordinators, always within the caller's clinics.

A need outside the caller's clinics is reported as not existing (404), and a list asked
for another clinic is empty: a coordinator learns nothing about another clinic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, func, select

from services.feedback.models import InboundMessage, Need, NeedNote
from services.feedback.schemas import (
    FeedbackOut,
    NeedOut,
    NeedPatch,
    NoteIn,
    NoteOut,
    RatingSummary,
)
from shared.access.authors import author_name
from shared.access.staff import assignable_login
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound

MAX_LIMIT = 500
# Forward along the loop; a resolved need may be reopened.
_MOVES = {
    "new": {"in_progress", "resolved"},
    "in_progress": {"resolved"},
    "resolved": {"in_progress"},
}


def clinic_scope(
    principal: Principal, column: Any, clinic_id: int | None
) -> ColumnElement[bool] | None:
    """The clinic condition for a list; None when the caller asked for a clinic it may not see."""
    if clinic_id is not None:
        return column == clinic_id if principal.can_access_clinic(clinic_id) else None
    if principal.all_clinics:
        return column.is_not(None)  # type: ignore[no-any-return]
    return column.in_(principal.clinic_ids)  # type: ignore[no-any-return]


def time_window(query: Any, column: Any, since: datetime | None, until: datetime | None) -> Any:
    """Rows from `since` (inclusive) to `until` (exclusive); both need a UTC offset."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name} needs a UTC offset, e.g. 2026-11-20T00:00:00+08:00")
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _limit(limit: int) -> int:
    if limit < 1:
        raise InvalidInput("limit must be at least 1")
    return min(limit, MAX_LIMIT)


def _need_out(need: Need, inbound: InboundMessage, notes: list[NeedNote] | None = None) -> NeedOut:
    return NeedOut(
        id=need.id,
        patient_id=need.patient_id,
        clinic_id=need.clinic_id,
        channel=inbound.channel,
        text=inbound.text or "",
        category=need.category,
        urgent=need.urgent,
        status=need.status,
        created_at=need.created_at,
        updated_at=need.updated_at,
        updated_by=need.updated_by,
        assignee=need.assignee,
        notes=None if notes is None else [_note_out(n) for n in notes],
    )


def _note_out(note: NeedNote) -> NoteOut:
    return NoteOut(
        id=note.id,
        author=note.author,
        author_name=note.author_name,
        text=note.text,
        created_at=note.created_at,
    )


async def list_needs(
    db: Database,
    principal: Principal,
    *,
    clinic_id: int | None = None,
    status: str | None = None,
    urgent: bool | None = None,
    category: str | None = None,
    patient_id: int | None = None,
    assignee: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[NeedOut]:
    """Newest first; the next page starts `before_id` the last id of this one."""
    scope = clinic_scope(principal, Need.clinic_id, clinic_id)
    if scope is None:
        return []
    query = (
        select(Need, InboundMessage)
        .join(InboundMessage, InboundMessage.id == Need.inbound_id)
        .where(scope)
        .order_by(Need.id.desc())
        .limit(_limit(limit))
    )
    if status is not None:
        query = query.where(Need.status == status)
    if urgent is not None:
        query = query.where(Need.urgent == urgent)
    if category is not None:
        query = query.where(Need.category == category)
    if patient_id is not None:
        query = query.where(Need.patient_id == patient_id)
    if assignee is not None:
        query = query.where(Need.assignee == assignee.strip().lower())
    query = time_window(query, Need.created_at, since, until)
    if before_id is not None:
        query = query.where(Need.id < before_id)
    async with db.sessions() as session:
        return [_need_out(need, inbound) for need, inbound in (await session.execute(query)).all()]


async def _load(session: Any, principal: Principal, need_id: int, *, lock: bool = False) -> Need:
    need: Need | None = await session.get(Need, need_id, with_for_update=lock)
    if need is None or not principal.can_access_clinic(need.clinic_id):
        raise NotFound(f"no need {need_id}")
    return need


async def get_need(db: Database, principal: Principal, need_id: int) -> NeedOut:
    async with db.sessions() as session:
        need = await _load(session, principal, need_id)
        inbound = await session.get_one(InboundMessage, need.inbound_id)
        notes = (
            await session.execute(
                select(NeedNote).where(NeedNote.need_id == need_id).order_by(NeedNote.id)
            )
        ).scalars()
        return _need_out(need, inbound, list(notes))


async def update_need(
    db: Database, access_db: Database, principal: Principal, need_id: int, data: NeedPatch
) -> NeedOut:
    async with db.transaction() as session:
        need = await _load(session, principal, need_id, lock=True)
        if data.status is not None and data.status != need.status:
            if data.status not in _MOVES[need.status]:
                raise Conflict(f"a need that is {need.status} cannot become {data.status}")
            need.status = data.status
        if data.category is not None:
            need.category = data.category
        if data.assignee is not msgspec.UNSET:
            need.assignee = await _assignee(access_db, data.assignee, need.clinic_id)
        need.updated_at, need.updated_by = datetime.now(UTC), principal.token_id
    return await get_need(db, principal, need_id)


async def _assignee(access_db: Database, login: str | None, clinic_id: int) -> str | None:
    """The login to store, or a 400: the same answer for a login that does not exist and
    one of another clinic, so a coordinator learns nothing about other clinics' staff."""
    if login is None:
        return None
    found = await assignable_login(access_db, login, clinic_id)
    if found is None:
        raise InvalidInput(f"assignee: no active staff member of this clinic has login {login!r}")
    return found


async def add_note(
    db: Database, access_db: Database, principal: Principal, need_id: int, data: NoteIn
) -> NoteOut:
    name = await author_name(access_db, principal.token_id)
    async with db.transaction() as session:
        need = await _load(session, principal, need_id, lock=True)
        now = datetime.now(UTC)
        note = NeedNote(
            need_id=need.id,
            author=principal.token_id,
            author_name=name,
            text=data.text,
            created_at=now,
        )
        session.add(note)
        need.updated_at, need.updated_by = now, principal.token_id
        await session.flush()
        return _note_out(note)


async def list_feedback(
    db: Database,
    principal: Principal,
    *,
    clinic_id: int | None = None,
    kind: str | None = None,
    patient_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[FeedbackOut]:
    scope = clinic_scope(principal, InboundMessage.clinic_id, clinic_id)
    if scope is None:
        return []
    query = (
        select(InboundMessage).where(scope).order_by(InboundMessage.id.desc()).limit(_limit(limit))
    )
    if kind is not None:
        query = query.where(InboundMessage.kind == kind)
    if patient_id is not None:
        query = query.where(InboundMessage.patient_id == patient_id)
    query = time_window(query, InboundMessage.received_at, since, until)
    if before_id is not None:
        query = query.where(InboundMessage.id < before_id)
    async with db.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        FeedbackOut(
            id=m.id,
            patient_id=m.patient_id,
            clinic_id=m.clinic_id,
            channel=m.channel,
            kind=m.kind,
            received_at=m.received_at,
            rating=m.rating,
            track=m.track,
            lesson_key=m.lesson_key,
            text=m.text,
            answer=m.answer,
        )
        for m in rows
    ]


async def ratings_summary(
    db: Database, principal: Principal, clinic_id: int | None = None
) -> list[RatingSummary]:
    scope = clinic_scope(principal, InboundMessage.clinic_id, clinic_id)
    if scope is None:
        return []
    query = (
        select(
            InboundMessage.track,
            InboundMessage.lesson_key,
            func.count(),
            func.avg(InboundMessage.rating),
        )
        .where(scope, InboundMessage.rating.is_not(None))
        .group_by(InboundMessage.track, InboundMessage.lesson_key)
        .order_by(InboundMessage.track, InboundMessage.lesson_key)
    )
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        RatingSummary(track=t, lesson_key=k, ratings=int(n), average=round(float(avg), 2))
        for t, k, n, avg in rows
    ]
