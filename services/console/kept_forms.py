"""What was typed into a form whose session had ended is not thrown away.

A form posted after the session ended (idle too long, or past its absolute limit) cannot
be acted on: nobody is signed in. Rather than drop what was typed, the console keeps the
posted fields (never the CSRF token, never a password) in Redis under a random one-time
key for `KEEP_FOR`, sets that key in an HttpOnly cookie, and sends the person to sign in.
Signed in again *as the same person* (the ended session's staff id is kept with the
fields), the form's page comes back pre-filled, saying so, and nothing is sent until
they press the button again: a pause or a note may no longer be right after half an hour.
Anyone else signing in on that browser gets nothing; the person gets them once. When the
person cannot be known (the session is long gone from Redis) nothing is kept, and the
sign-in page says plainly that what was typed was lost.

Only forms with typed text are kept; one-click actions (a dose, an acknowledgement, a
scan) are not replayed or kept: the page they come back to shows the present state.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta

import msgspec
from redis.asyncio import Redis

KEPT_COOKIE = "console_kept"
KEEP_FOR = timedelta(minutes=30)
_NEVER = re.compile(r"csrf|password", re.IGNORECASE)


def _same(path: str, _fields: dict[str, str]) -> str:
    return path


def _patient_page(path: str, _fields: dict[str, str]) -> str:
    return path.rsplit("/", 1)[0]


def _patient_of_mi_session(path: str, _fields: dict[str, str]) -> str:
    return path.split("/mi-sessions/", 1)[0]


def _alert_page(path: str, fields: dict[str, str]) -> str:
    clinic = path.split("/")[2]
    patient = fields.get("patient_id", "")
    if patient.isdigit():
        return f"/clinics/{clinic}/patients/{patient}"
    return f"/clinics/{clinic}/today"


# The forms worth keeping (the path they post to) and the page that shows each.
_FORMS: list[tuple[re.Pattern[str], Callable[[str, dict[str, str]], str]]] = [
    (re.compile(r"/clinics/\d+/enrol/?"), _same),
    (re.compile(r"/clinics/\d+/needs/\d+"), _same),
    (
        re.compile(r"/clinics/\d+/patients/\d+/(pause|transfer|urine-tests|mi-sessions)"),
        _patient_page,
    ),
    # An MI session's correction or void (services/console/mi.py): on the patient page.
    (re.compile(r"/clinics/\d+/patients/\d+/mi-sessions/\d+(/void)?"), _patient_of_mi_session),
    (re.compile(r"/clinics/\d+/alerts/\d+/followups"), _alert_page),
    (re.compile(r"/clinics/\d+/patients/\d+/assessments/[a-z0-9-]+"), _same),
    (re.compile(r"/clinics/\d+/tasks/\d+"), _same),
]


class KeptForm(msgspec.Struct, frozen=True, kw_only=True):
    staff_id: int
    action: str  # the path the form posted to
    page: str  # the page that shows the form
    fields: dict[str, str]


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(KeptForm).decode


def worth_keeping(action: str, posted: dict[str, str]) -> str | None:
    """The page of a form worth keeping, or None (not one of those forms, or nothing typed)."""
    for pattern, page_of in _FORMS:
        if pattern.fullmatch(action):
            typed = {k: v for k, v in posted.items() if not _NEVER.search(k) and v.strip()}
            return page_of(action.rstrip("/"), posted) if typed else None
    return None


class KeptForms:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, kept_id: str) -> str:
        digest = hashlib.sha256(kept_id.encode()).hexdigest()
        return f"{self.prefix}:console:kept:{digest}"

    async def keep(self, staff_id: int, action: str, page: str, posted: dict[str, str]) -> str:
        """Store the fields (never a token or a password); the one-time id for the cookie."""
        kept_id = secrets.token_urlsafe(24)
        fields = {k: v for k, v in posted.items() if not _NEVER.search(k)}
        record = KeptForm(staff_id=staff_id, action=action, page=page, fields=fields)
        await self.redis.set(self._key(kept_id), _encode(record), ex=int(KEEP_FOR.total_seconds()))
        return kept_id

    async def take(self, kept_id: str | None, staff_id: int, page: str) -> KeptForm | None:
        """The fields kept for this person and this page, once; None otherwise."""
        if not kept_id:
            return None
        key = self._key(kept_id)
        raw = await self.redis.get(key)
        if raw is None:
            return None
        record = _decode(raw)
        if record.page != page or record.staff_id != staff_id:
            return None  # another page, or another person: left for its own
        await self.redis.delete(key)
        return record
