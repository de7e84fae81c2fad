"""`mmt mi ...`: a clinic's MI report and a patient's sessions and target, read from the
command line by the server's operator (every clinic, like an admin). Sessions are logged in
the console or through the API, where the provider is the signed-in person. The plan is
never printed: it is health data. A clinic, patient or date that is wrong exits 2 with the
reason; an unreachable database exits 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, TypeVar

import typer

from services.scheduler.mi import report, sessions
from services.scheduler.mi.schemas import MiFigures, MiReportOut
from services.scheduler.patients import Scheduler
from services.scheduler.studies.cli import _run as run_studies
from shared.access.tokens import Principal, Role, resolve_clinics

mi_cli = typer.Typer(
    help="MI sessions: a clinic's report, a patient's sessions and target.",
    no_args_is_help=True,
)
OPERATOR = Principal("cli", Role.ADMIN, frozenset())
T = TypeVar("T")
OnOpt = Annotated[
    str | None, typer.Option("--on", help="As on this date (YYYY-MM-DD); today by default.")
]


def _on(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        typer.echo(f"error: --on must be a date, YYYY-MM-DD, not {value!r}", err=True)
        raise typer.Exit(2) from None


def _run(work: Callable[[Scheduler], Awaitable[T]]) -> T:
    return run_studies(work, refused_exit=2)  # the study commands' runner, on both databases


def _figures(what: str, f: MiFigures) -> str:
    def first_second(name: str) -> str:
        values = (getattr(f, f"{name}_first"), getattr(f, f"{name}_second"))
        return " -> ".join("-" if v is None else str(v) for v in values)

    share = "-" if f.met_share is None else f"{f.met_share:.0%}"
    return (
        f"{what} {f.group}: {f.clients_with_target} clients, {f.sessions} sessions, "
        f"{f.met} met ({share}), mean {f.mean_minutes or '-'} min, "
        f"importance {first_second('importance')}, confidence {first_second('confidence')}"
    )


@mi_cli.command("report")
def report_(
    clinic: Annotated[str, typer.Argument(help="The clinic's code (or id).")], on: OnOpt = None
) -> None:
    """The clinic's clients with a target by status, and the figures per arm and provider."""
    day = _on(on)

    async def work(ctx: Scheduler) -> MiReportOut:
        [clinic_id] = await resolve_clinics(ctx.access_db, [clinic])
        return await report.clinic_report(ctx, OPERATOR, clinic_id, day)

    out = _run(work)
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(out.statuses.items()))
    typer.echo(f"clinic {out.clinic_id} on {out.on}: {statuses or 'no clients with a target'}")
    for figures in out.arms:
        typer.echo(_figures("arm", figures))
    for figures in out.providers:
        typer.echo(_figures("provider", figures))


@mi_cli.command("list")
def list_(
    patient: Annotated[int, typer.Argument(help="The patient's id.", min=1, max=2**31 - 1)],
    on: OnOpt = None,
) -> None:
    """The patient's target and sessions, newest first (no plan: it is health data)."""
    day = _on(on)
    out = _run(lambda ctx: sessions.patient_sessions(ctx, OPERATOR, patient, day))
    t = out.target
    if t is None:
        typer.echo(f"patient {out.patient_id}: no MI target")
    else:
        where = f"{t.arm} of study {t.study_id}" if t.source == "study" else "the clinic's"
        due = f", session {t.next_session} due by {t.next_due_by}" if t.next_session else ""
        typer.echo(
            f"patient {out.patient_id}: {t.held} of {t.target} ({where}, "
            f"{t.window_starts_on} to {t.window_ends_on}): {t.status}{due}"
        )
    for s in out.sessions:
        voided = f" [voided: {s.void_reason}]" if s.voided else ""
        typer.echo(
            f"{s.id} {s.held_on} {s.provider_name}: {s.minutes} min, {s.topic}, "
            f"importance {s.importance}, confidence {s.confidence}{voided}"
        )
