"""Signing in and out, and who is asking: the rules behind the console's session cookie.

A sign-in checks the password against the staff account (shared/access/staff.py), mints
an API token bound to the person that expires with the session, asks the API which clinics
the token may see, and stores all of it server-side; the cookie holds only a random id.
Every request then re-reads the account (one primary-key read): a disabled account, or one
signed out everywhere (a newer session generation), ends the session at once, without
waiting for the services' token cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.console.api_client import ServicesClient
from services.console.sessions import Clock, SessionData, SessionStore
from shared.access.staff import authenticate, get_staff, mint_staff_token, sign_out_everywhere
from shared.access.tokens import TokenError, revoke_token
from shared.db import Database
from shared.logging import get_logger

log = get_logger(__name__)

SESSION_COOKIE = "console_session"


class NotSignedIn(Exception):
    """No live session: the page sends the person to sign in.

    `staff_id` names whose session just ended, when known; a form posted with it may then
    be kept for them (`kept`: its one-time id, `page`: where it is shown; `lost`: it had
    typed fields that could not be kept). services/console/kept_forms.py."""

    def __init__(self, staff_id: int | None = None) -> None:
        super().__init__("not signed in")
        self.staff_id = staff_id
        self.kept: str | None = None
        self.page: str | None = None
        self.lost = False


@dataclass
class Console:
    """The console's ports, built once per app (services/console/app.py)."""

    access_db: Database
    sessions: SessionStore
    api: ServicesClient
    clock: Clock

    async def sign_in(self, login: str, password: str) -> str:
        """A new session's id; SignInRefused (shared.access.staff) when refused."""
        now = self.clock()
        staff = await authenticate(self.access_db, login, password, now)
        token = await mint_staff_token(self.access_db, staff, self.sessions.lifetimes.absolute, now)
        token_id = token.split("_")[1]
        try:
            clinics = await self.api.clinics(token)
        except Exception:
            await self._revoke(token_id)  # no session holds it: it must not outlive this
            raise
        data = SessionData(
            staff_id=staff.id,
            name=staff.name,
            role=staff.role.value,
            clinics=tuple(clinics),
            generation=staff.session_generation,
            token=token,
            token_id=token_id,
            created_at=0.0,  # set by the store
            last_seen=0.0,
        )
        return await self.sessions.create(data)

    async def current(self, session_id: str | None) -> SessionData:
        if not session_id:
            raise NotSignedIn
        data, expired = await self.sessions.load(session_id)
        if expired is not None:
            await self._revoke(expired.token_id)
        if data is None:
            raise NotSignedIn(expired.staff_id if expired is not None else None)
        staff = await get_staff(self.access_db, data.staff_id)
        if staff is None or staff.disabled or staff.session_generation != data.generation:
            await self.sessions.delete(session_id)
            raise NotSignedIn
        return data

    async def sign_out(self, session_id: str | None) -> None:
        if not session_id:
            return
        data, expired = await self.sessions.load(session_id)
        await self.sessions.delete(session_id)
        for ended in (data, expired):
            if ended is not None:
                await self._revoke(ended.token_id)

    async def sign_out_everywhere(self, session_id: str | None) -> None:
        data = await self.current(session_id)
        await sign_out_everywhere(self.access_db, data.staff_id)
        await self.sessions.delete(session_id or "")

    async def _revoke(self, token_id: str) -> None:
        try:
            await revoke_token(self.access_db, token_id)
        except TokenError:  # already gone: nothing left to revoke
            log.info("console.token_already_gone")
