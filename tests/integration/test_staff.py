"""Staff accounts (shared/access/staff.py) and `mmt staff ...`: argon2 passwords, lockout
after five wrong ones, tokens bound to the person, and every session ended at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mmt import app as mmt
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.models import ApiToken, Staff
from shared.access.staff import (
    LOCKOUT,
    SignInRefused,
    StaffError,
    authenticate,
    create_staff,
    mint_staff_token,
    reset_password,
    sign_out_everywhere,
)
from shared.access.tokens import Role, TokenRejected, TokenVerifier
from shared.crypto import IdentifierCipher, IdentifierSettings
from shared.db import Database
from tests.conftest import Backends

PASSWORD = "correct horse battery"


@pytest.fixture
async def clinic(access_db: Database) -> str:
    await create_clinic(access_db, ClinicIn(code="YX", name="Yuxi", help_phone="0877 2012345"))
    return "YX"


async def coordinator(access_db: Database, login: str = "li.na") -> int:
    """A coordinator of clinic YX with PASSWORD; its staff id."""
    made = await create_staff(
        access_db,
        login=login,
        name="李娜",
        role=Role.COORDINATOR,
        clinics=["YX"],
        password=PASSWORD,
    )
    return made.id


async def test_five_wrong_passwords_lock_the_account_and_even_the_right_one_waits(
    access_db: Database, clinic: str
) -> None:
    await coordinator(access_db)
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    for attempt in range(1, 6):
        with pytest.raises(SignInRefused) as refused:
            await authenticate(access_db, "li.na", f"wrong guess {attempt}", now)
    assert refused.value.reason == "locked"
    assert refused.value.locked_until == now + LOCKOUT
    with pytest.raises(SignInRefused) as still:
        await authenticate(access_db, "LI.NA", PASSWORD, now + LOCKOUT - timedelta(seconds=1))
    assert still.value.reason == "locked"
    signed_in = await authenticate(access_db, "li.na", PASSWORD, now + LOCKOUT)
    assert (signed_in.login, signed_in.role, signed_in.locked_until) == (
        "li.na",
        Role.COORDINATOR,
        None,
    )


async def test_unknown_logins_and_disabled_accounts_are_refused_alike(
    access_db: Database, clinic: str
) -> None:
    await coordinator(access_db)
    with pytest.raises(SignInRefused) as unknown:
        await authenticate(access_db, "nobody", PASSWORD)
    assert unknown.value.reason == "invalid"
    async with access_db.transaction() as session:
        row = (await session.execute(select(Staff))).scalar_one()
        row.disabled_at = datetime.now(UTC)
    with pytest.raises(SignInRefused) as disabled:
        await authenticate(access_db, "li.na", PASSWORD)
    assert disabled.value.reason == "invalid"


async def test_a_minted_token_names_the_person_and_sign_out_everywhere_revokes_it(
    access_db: Database, clinic: str
) -> None:
    staff_id = await coordinator(access_db)
    person = await authenticate(access_db, "li.na", PASSWORD)
    token = await mint_staff_token(access_db, person, timedelta(hours=1))
    verifier = TokenVerifier(access_db, cache_seconds=0)
    principal = await verifier.verify(token)
    assert (principal.role, principal.clinic_ids) == (Role.COORDINATOR, frozenset({1}))
    async with access_db.sessions() as session:
        row = await session.get(ApiToken, principal.token_id)
    assert row is not None
    assert row.staff_id == staff_id
    await sign_out_everywhere(access_db, staff_id)
    with pytest.raises(TokenRejected, match="revoked"):
        await verifier.verify(token)
    again = await authenticate(access_db, "li.na", PASSWORD)
    assert again.session_generation == person.session_generation + 1


async def test_reset_password_clears_the_lockout_and_refuses_a_short_one(
    access_db: Database, clinic: str
) -> None:
    await coordinator(access_db)
    for _ in range(5):
        with pytest.raises(SignInRefused):
            await authenticate(access_db, "li.na", "not the password")
    with pytest.raises(StaffError, match="at least 10"):
        await reset_password(access_db, "li.na", "short")
    await reset_password(access_db, "li.na", "a brand new passphrase")
    assert (await authenticate(access_db, "li.na", "a brand new passphrase")).login == "li.na"


@pytest.mark.usefixtures("secrets_env")
async def test_the_alert_phone_is_stored_encrypted(access_db: Database, clinic: str) -> None:
    cipher = IdentifierCipher.from_settings(IdentifierSettings())
    await create_staff(
        access_db,
        login="wang",
        name="王医生",
        role=Role.ADMIN,
        clinics=[],
        password=PASSWORD,
        phone="+86 139 0013 9000",
        cipher=cipher,
    )
    async with access_db.sessions() as session:
        row = (await session.execute(select(Staff))).scalar_one()
    assert row.phone_enc is not None
    assert "13900139000" not in row.phone_enc
    assert cipher.decrypt(row.phone_enc) == "+8613900139000"
    assert row.phone_hash == cipher.lookup_hash("+8613900139000")
    assert row.password_hash.startswith("$argon2id$")


# --- the command line --------------------------------------------------------------------


def _signs_in(backends: Backends, isolation: str, login: str, password: str) -> bool:
    async def attempt() -> bool:
        db = Database(backends.database_url, "access", schema_prefix=isolation)
        try:
            await authenticate(db, login, password)
            return True
        except SignInRefused:
            return False
        finally:
            await db.dispose()

    return asyncio.run(attempt())


@pytest.mark.usefixtures("database_env", "clinic")
def test_cli_creates_lists_resets_and_disables(backends: Backends, isolation: str) -> None:
    runner = CliRunner()
    base = ["staff", "create", "--login", "zhao", "--name", "赵护士", "--clinic", "YX"]
    made = runner.invoke(mmt, [*base, "--password-stdin"], input=f"{PASSWORD}\n")
    assert made.exit_code == 0, made.output
    assert "created zhao (coordinator)" in made.output
    twice = runner.invoke(mmt, [*base, "--password-stdin"], input=f"{PASSWORD}\n")
    assert twice.exit_code == 2
    assert "login 'zhao' exists" in twice.output
    prompted = runner.invoke(
        mmt,
        ["staff", "create", "--login", "qian", "--name", "钱", "--clinic", "nowhere"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert prompted.exit_code == 2
    assert "unknown clinic(s): nowhere" in prompted.output
    short = runner.invoke(mmt, [*base, "--password-stdin"], input="short\n")
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output

    listed = runner.invoke(mmt, ["staff", "list"])
    assert listed.exit_code == 0
    assert "zhao" in listed.output
    assert "coordinator  active" in listed.output

    reset = runner.invoke(
        mmt, ["staff", "reset-password", "zhao", "--password-stdin"], input="another passphrase\n"
    )
    assert reset.exit_code == 0, reset.output
    assert _signs_in(backends, isolation, "zhao", "another passphrase")
    assert not _signs_in(backends, isolation, "zhao", PASSWORD)

    disabled = runner.invoke(mmt, ["staff", "disable", "zhao"])
    assert disabled.exit_code == 0
    assert "disabled" in runner.invoke(mmt, ["staff", "list"]).output
    missing = runner.invoke(mmt, ["staff", "disable", "nobody"])
    assert missing.exit_code == 2
    assert "no staff account with login 'nobody'" in missing.output
