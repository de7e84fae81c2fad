"""The `mmt` command's entry point: `mmt` and `python -m mmt` call `main()`.

It lives apart from the package's `__init__` so that importing `mmt` stays cheap and the
submodule `mmt.main` (the typer app) cannot shadow it: importing a submodule binds its
name on the package.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError


def setting_problems(exc: ValidationError) -> list[str]:
    """One line per setting the environment got wrong, e.g. `DATABASE_URL: mysql:// is not
    supported; use ...`; never the value given (it may be a secret)."""
    return [
        f"{'.'.join(str(part) for part in error['loc']).upper() or 'settings'}: {error['msg']}"
        for error in exc.errors()
    ]


def main() -> None:
    # Settings are read where a command first needs them; whichever command that is, a
    # wrong one ends it with a line each, not a traceback.
    try:
        if sys.argv[1:2] == ["healthcheck"] and "--help" not in sys.argv:
            from mmt.healthcheck import run

            sys.exit(run(sys.argv[2:]))
        from mmt.main import app

        app()
    except ValidationError as exc:
        for problem in setting_problems(exc):
            print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    except (OSError, RedisConnectionError) as exc:
        # A server that does not answer (refused, unknown host, timed out) is the
        # operator's to fix, not a bug: one line naming it, no traceback. The text names an
        # address at most, never a password (drivers leave it out of connection errors).
        print(
            f"error: cannot connect ({type(exc).__name__}: {exc}); check that PostgreSQL "
            "and Redis run and that DATABASE_URL and REDIS_URL point at them",
            file=sys.stderr,
        )
        sys.exit(1)
