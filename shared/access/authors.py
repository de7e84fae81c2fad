"""Who wrote something, by name: what a note keeps beside the token id that wrote it.

A console token is minted per sign-in and expires with the session, so a note that kept
only the token id would lose its author's name once the token is gone (tokens may be
pruned). The name is therefore looked up once, when the note is written, and stored with
it. Tokens made with `mmt token create` name no person: their label stands in.
"""

from __future__ import annotations

from sqlalchemy import select

from shared.access.models import ApiToken, Staff
from shared.db import Database


async def author_name(db: Database, token_id: str) -> str | None:
    """The staff member's name (and login) behind a token, else its label, else None."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Staff.name, Staff.login, ApiToken.label)
                .select_from(ApiToken)
                .outerjoin(Staff, Staff.id == ApiToken.staff_id)
                .where(ApiToken.id == token_id)
            )
        ).first()
    if row is None:
        return None
    name, login, label = row
    if name is not None:
        return f"{name} ({login})"[:100]
    return label[:100] or None
