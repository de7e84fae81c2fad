"""Provider-interaction routes: thin handlers over services.feedback.reports.provider_interaction.

The aggregates are open to the clinic's staff (they hide small months); the answers, even
pseudonymised, only to researchers and admins: coordinators are the providers rated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream

from services.feedback.api import DEPENDENCIES
from services.feedback.reports import provider_interaction as provider
from services.feedback.reports.api import CSV_ANSWER, _csv
from services.feedback.surveys.api import STAFF
from shared.access.clinics import ClinicOut, get_clinic
from shared.access.tokens import Role
from shared.access.web import policy, principal_of
from shared.db import Database
from shared.params import RowId

Req = Request[Any, Any, Any]
RESEARCH = (Role.ADMIN, Role.RESEARCHER)


def _month(name: str, default: str) -> Any:
    return QueryParameter(
        name=name,
        pattern=provider.MONTH_PATTERN,
        description=f"A calendar month, YYYY-MM, in the clinic's time zone; {default}",
    )


From = Annotated[str | None, _month("from", "default: two months before `to`")]
To = Annotated[str | None, _month("to", "inclusive; default: the last month that has ended")]


async def _window(
    state: State, request: Req, clinic_id: int, from_month: str | None, to_month: str | None
) -> tuple[ClinicOut, provider.Months, datetime]:
    """The clinic (the caller's, checked before the handler; it must also exist) and the
    months asked for, in its time zone."""
    clinic = await get_clinic(state.access_db, principal_of(request), clinic_id)
    now = datetime.now(UTC)
    return clinic, provider.window(clinic.time_zone, from_month, to_month, now), now


class ProviderInteractionController(Controller):
    path = "/clinics/{clinic_id:int}/reports"
    tags = ["reports"]
    dependencies = DEPENDENCIES

    @get(
        "/provider-interaction",
        opt=policy(*STAFF, resource="report"),
        summary="Clients' ratings of their providers per month: respondents, per item mean "
        "and distribution, overall mean, response rate; small months hidden",
    )
    async def report(
        self,
        db: NamedDependency[Database],
        state: State,
        request: Req,
        clinic_id: RowId,
        from_month: From = None,
        to_month: To = None,
    ) -> provider.ProviderInteractionReport:
        clinic, months, now = await _window(state, request, clinic_id, from_month, to_month)
        return await provider.report(db, clinic_id, months, now, clinic.time_zone)

    @get(
        "/provider-interaction.csv",
        opt=policy(*RESEARCH, resource="export"),
        responses=CSV_ANSWER,
        summary="Clients' ratings of their providers, one row per answer: pseudonyms, "
        "months, no words (researchers and admins)",
    )
    async def research_csv(
        self,
        db: NamedDependency[Database],
        state: State,
        request: Req,
        clinic_id: RowId,
        from_month: From = None,
        to_month: To = None,
    ) -> Stream:
        clinic, months, now = await _window(state, request, clinic_id, from_month, to_month)
        chunks = provider.research_csv(db, clinic_id, months, now, state.cipher)
        return await _csv(chunks, f"provider-interaction-{clinic.code}.csv")
