"""`mmt token ...`: issue, list and revoke coordinator API tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from shared.access.tokens import Role, TokenError, issue_token, list_tokens, revoke_token
from shared.db import Database, using_database
from shared.settings import get_settings

token = typer.Typer(
    help="Bearer tokens for the HTTP API (only a hash is stored).", no_args_is_help=True
)

T = TypeVar("T")


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return asyncio.run(using_database(get_settings().database, "access", work))
    except TokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@token.command("create")
def create(
    role: Annotated[Role, typer.Option(help="admin, coordinator, researcher or content-editor.")],
    clinic: Annotated[
        list[str] | None,
        typer.Option(help="Clinic code or id the token may see (repeat for several)."),
    ] = None,
    expires: Annotated[int, typer.Option(help="Days until it expires; 0 for never.")] = 90,
    label: Annotated[str, typer.Option(help="Who or what holds it (shown in lists).")] = "",
) -> None:
    """Issue a token and print it once: it cannot be shown again."""
    issued = _run(
        lambda db: issue_token(
            db, role, clinics=clinic or [], label=label, expires_days=expires or None
        )
    )
    typer.echo(issued.token)
    until = issued.expires_at.date().isoformat() if issued.expires_at else "never"
    typer.echo(
        f"id {issued.id}, role {issued.role.value}, clinics "
        f"{list(issued.clinic_ids) or 'all'}, expires {until}; store it now: only its "
        "hash is kept",
        err=True,
    )


@token.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every token with its role, clinics and state (never the secret)."""
    tokens = _run(list_tokens)
    now = datetime.now(UTC)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": t.id,
                        "role": t.role,
                        "label": t.label,
                        "clinic_ids": list(t.clinic_ids),
                        "state": t.state(now),
                        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                    }
                    for t in tokens
                ]
            )
        )
        return
    if not tokens:
        typer.echo("no tokens")
    for t in tokens:
        clinics = ",".join(map(str, t.clinic_ids)) or "all"
        until = t.expires_at.date().isoformat() if t.expires_at else "never"
        typer.echo(
            f"{t.id}  {t.role:<14} {t.state(now):<8} clinics={clinics}  expires={until}  {t.label}"
        )


@token.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The id shown by `list`.")]) -> None:
    """Revoke a token; every service refuses it within TOKEN_CACHE_SECONDS."""
    _run(lambda db: revoke_token(db, token_id))
    typer.echo(f"{token_id}: revoked")
