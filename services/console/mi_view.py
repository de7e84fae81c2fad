"""Which of a patient's MI sessions the signed-in person is offered to correct or void.

The scheduler decides (services/scheduler/mi/sessions.py): a correction within 24 hours of
logging, by the session's author (the same staff member, whichever sign-in) or an admin.
The page offers the forms only where that would be accepted: to its author while the day
lasts, and to an admin. Voiding is offered on the same terms, although the scheduler lets
any coordinator of the clinic void: a colleague's record is theirs to correct or void, and
an admin settles what is left. A post for a session not offered (a forged form, or a day
that ended while the page was open) is refused by the scheduler and the page says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.console.care_api import PatientMi
from services.console.sessions import SessionData

EDIT_WINDOW = timedelta(hours=24)  # the scheduler's (mi/sessions.py EDIT_WINDOW)
_CHANGE = re.compile(r"/clinics/\d+/patients/\d+/mi-sessions/(\d+)(/void)?/?")


@dataclass(frozen=True)
class MiChanges:
    editable: frozenset[int]  # session ids with an "edit" form
    voidable: frozenset[int]  # session ids with a "void" form


def mi_changes(mi: PatientMi | None, data: SessionData, now: datetime) -> MiChanges:
    if mi is None:
        return MiChanges(frozenset(), frozenset())
    admin = data.role == "admin"
    editable, voidable = set(), set()
    for session in mi.sessions:
        if session.voided:
            continue
        mine = session.author_staff_id == data.staff_id
        in_time = now - session.created_at <= EDIT_WINDOW
        if in_time and (mine or admin):
            editable.add(session.id)
        if admin or (mine and in_time):
            voidable.add(session.id)
    return MiChanges(frozenset(editable), frozenset(voidable))


def change_form(action: str) -> str | None:
    """The patient page's form a correction or a void posted to (`mi-edit-<id>`,
    `mi-void-<id>`), for a form kept when the session ended; None for another path."""
    found = _CHANGE.fullmatch(action)
    if found is None:
        return None
    return f"mi-{'void' if found.group(2) else 'edit'}-{found.group(1)}"
