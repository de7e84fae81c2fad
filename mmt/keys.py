"""`mmt keys`: make and check the keys that encrypt patient identifiers at rest."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shared.crypto import (
    HMAC_KEY_ENV,
    KEYS_ENV,
    ConfigurationError,
    IdentifierCipher,
    IdentifierSettings,
    generate_keys,
    split_keys,
)

keys = typer.Typer(help="Keys that encrypt patient identifiers at rest.", no_args_is_help=True)

_ROTATE_NEXT = (
    f"Next: 1) put this {KEYS_ENV} line everywhere the services run and restart them (the new "
    "key encrypts, the old ones still decrypt); 2) the service that owns the identifiers "
    "re-encrypts them under the new key; 3) only then drop the old keys from the end of the "
    f"list. Keep {HMAC_KEY_ENV} as it is."
)


@keys.command("generate")
def generate(
    rotate_from: Annotated[
        str | None,
        typer.Option(
            "--rotate-from",
            metavar="EXISTING_KEYS",
            help=(
                f"The current {KEYS_ENV} value ('-' reads it from standard input, which keeps it "
                f"out of the process list): print only {KEYS_ENV} with a new key put first."
            ),
        ),
    ] = None,
) -> None:
    """Print new keys as env-file lines (KEY=value), ready to paste."""
    new = generate_keys()
    if rotate_from is None:
        typer.echo(f"{KEYS_ENV}={new[KEYS_ENV]}")
        typer.echo(f"{HMAC_KEY_ENV}={new[HMAC_KEY_ENV]}")
        typer.echo(
            "Keep both secret and backed up: without them the stored identifiers cannot be read.",
            err=True,
        )
        return
    existing = split_keys(sys.stdin.read() if rotate_from == "-" else rotate_from)
    if not existing:
        typer.echo(f"error: --rotate-from holds no key; pass the current {KEYS_ENV}", err=True)
        raise typer.Exit(2)
    try:
        # Checks every existing key, so a typo is caught before it is pasted anywhere.
        IdentifierCipher(existing, b"\0" * 32)
    except ConfigurationError as exc:
        typer.echo(f"error: --rotate-from: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{KEYS_ENV}={','.join([new[KEYS_ENV], *existing])}")
    typer.echo(_ROTATE_NEXT, err=True)


@keys.command("check")
def check() -> None:
    """Check the keys in the environment: build the cipher and round-trip a test value."""
    try:
        cipher = IdentifierCipher.from_settings(IdentifierSettings())
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    probe = "+10000000000"
    if cipher.decrypt(cipher.encrypt(probe)) != probe:
        typer.echo("error: identifier keys did not round-trip a test value", err=True)
        raise typer.Exit(1)
    typer.echo(f"identifier keys: ok ({cipher.key_count} encryption key(s))")
