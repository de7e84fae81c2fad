"""`mmt`: run, migrate, check and operate the suite."""

from __future__ import annotations

from mmt.main import app


def main() -> None:
    app()


__all__ = ["app", "main"]
