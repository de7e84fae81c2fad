"""`mmt`: run, migrate, check and operate the suite."""

from __future__ import annotations

from shared.cli.main import app


def main() -> None:
    app()


__all__ = ["app", "main"]
