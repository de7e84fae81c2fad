"""`mmt`: run, migrate, check and operate the suite (entry point: `mmt.entry.main`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmt.main import app


def __getattr__(name: str) -> Any:
    # The full command line is imported on first use, not with the package: container
    # probes (`mmt healthcheck`) must not pay for it (mmt/healthcheck.py).
    if name == "app":
        from mmt.main import app

        return app
    raise AttributeError(name)


__all__ = ["app"]
