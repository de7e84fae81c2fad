"""`mmt staff ...`: the console's staff accounts. Passwords are read from a prompt or from
standard input (`--password-stdin`), never from the command line, where `ps` and shell
history would keep them."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from shared.access.staff import StaffError, StaffInfo, check_password, create_staff, list_staff
from shared.access.staff import disable_staff as disable_account
from shared.access.staff import reset_password as reset_account_password
from shared.access.tokens import Role
from shared.crypto import ConfigurationError, IdentifierCipher, IdentifierSettings
from shared.db import Database, using_database
from shared.settings import get_settings

staff = typer.Typer(help="Staff accounts that sign in to the console.", no_args_is_help=True)

T = TypeVar("T")
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input."
    ),
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return asyncio.run(using_database(get_settings().database, "access", work))
    except StaffError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"database unreachable ({type(exc).__name__})", 1) from None


def _password(login: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password, login)  # before any database work
    except StaffError as exc:
        raise _fail(str(exc)) from None
    return password


def _line(s: StaffInfo, now: datetime) -> str:
    state = "disabled" if s.disabled else "active"
    if not s.disabled and s.locked_until is not None and s.locked_until > now:
        state = "locked"
    clinics = ",".join(map(str, s.clinic_ids)) or "all"
    return f"{s.login:<20} {s.role.value:<12} {state:<8} clinics={clinics}  {s.name}"


@staff.command("create")
def create(
    login: Annotated[str, typer.Option(help="What the person types to sign in.")],
    name: Annotated[str, typer.Option(help="The person's name, shown in the console.")],
    role: Annotated[Role, typer.Option(help="coordinator or admin.")] = Role.COORDINATOR,
    clinic: Annotated[
        list[str] | None, typer.Option(help="Clinic code or id (repeat for several).")
    ] = None,
    phone: Annotated[str | None, typer.Option(help="Phone for alerts (stored encrypted).")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account; the password is asked for twice (or read from stdin)."""
    password = _password(login, password_stdin)
    cipher = None
    if phone:
        try:
            cipher = IdentifierCipher.from_settings(IdentifierSettings())
        except ConfigurationError as exc:
            raise _fail(str(exc)) from None
    made = _run(
        lambda db: create_staff(
            db,
            login=login,
            name=name,
            role=role,
            clinics=clinic or [],
            password=password,
            phone=phone,
            cipher=cipher,
        )
    )
    typer.echo(f"created {made.login} ({made.role.value})")


@staff.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every account with its role, clinics and state (never a password or phone)."""
    accounts = _run(list_staff)
    now = datetime.now(UTC)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "login": s.login,
                        "name": s.name,
                        "role": s.role.value,
                        "clinic_ids": list(s.clinic_ids),
                        "disabled": s.disabled,
                        "locked": s.locked_until is not None and s.locked_until > now,
                        "has_phone": s.has_phone,
                    }
                    for s in accounts
                ],
                ensure_ascii=False,
            )
        )
        return
    if not accounts:
        typer.echo("no staff accounts")
    for account in accounts:
        typer.echo(_line(account, now))


@staff.command("disable")
def disable(login: Annotated[str, typer.Argument(help="The account's login.")]) -> None:
    """Disable an account: its sessions and tokens end at once."""
    _run(lambda db: disable_account(db, login))
    typer.echo(f"{login}: disabled; its sessions and tokens are ended")


@staff.command("reset-password")
def reset_password(
    login: Annotated[str, typer.Argument(help="The account's login.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; clears a lockout and ends every session."""
    password = _password(login, password_stdin)
    _run(lambda db: reset_account_password(db, login, password))
    typer.echo(f"{login}: password reset; its sessions and tokens are ended")
