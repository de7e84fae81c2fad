"""CSV exports of replies and survey answers: identified for the clinic, de-identified for
researchers.

The identified form is what a coordinator sees in the API (patient ids, a need's words).
The de-identified form drops every word a patient wrote, every provider id and every
exact time (dates only), and replaces the patient id with a keyed pseudonym
(`IdentifierCipher.pseudonym`): stable across exports, so a study can follow a person,
and computable only with this installation's key. Rows stream page by page (keyset on
id), so an export of a national programme's year holds one page in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from services.feedback.models import InboundMessage, Need, SurveyAnswer, SurveyRun
from services.feedback.needs import time_window
from services.feedback.surveys.definitions import ANONYMOUS
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.errors import InvalidInput, Unavailable

PAGE = 1000
PSEUDONYM_PURPOSE = "research-export"
# A cell a spreadsheet would run as a formula: patients' words must never become one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass(frozen=True)
class Window:
    scope: ColumnElement[bool] | None  # None: the caller may not see the clinic asked for
    since: datetime | None
    until: datetime | None

    def apply(self, query: Any, empty: ColumnElement[bool], at: Any) -> Any:
        """`query` narrowed to the caller's clinics and the time window on column `at`."""
        query = query.where(self.scope if self.scope is not None else empty)
        return time_window(query, at, self.since, self.until)


def _pseudonymiser(cipher: IdentifierCipher | None) -> Callable[[int], str]:
    if cipher is None:
        raise Unavailable(
            "de-identified exports need IDENTIFIER_HMAC_KEY (their pseudonyms are keyed)"
        )
    return lambda patient_id: cipher.pseudonym(str(patient_id), PSEUDONYM_PURPOSE)


REPLY_COLUMNS = [
    "id",
    "received_at",
    "patient_id",
    "clinic_id",
    "study_arm",
    "channel",
    "kind",
    "rating",
    "track",
    "lesson_key",
    "module",
    "need_category",
    "need_urgent",
    "need_status",
    "text",
]
RESEARCH_REPLY_COLUMNS = [
    "patient",
    "clinic_id",
    "study_arm",
    "received_on",
    "channel",
    "kind",
    "rating",
    "track",
    "lesson_key",
    "module",
    "need_category",
    "need_urgent",
]
ANSWER_COLUMNS = [
    "run_id",
    "survey",
    "patient_id",
    "clinic_id",
    "study_arm",
    "run_state",
    "question_key",
    "answer_state",
    "value",
    "text",
    "at",
]
RESEARCH_ANSWER_COLUMNS = [
    "survey",
    "patient",
    "clinic_id",
    "study_arm",
    "run_state",
    "question_key",
    "answer_state",
    "value",
    "answered_on",
]


async def _pages(db: Database, query: Any, id_column: Any) -> AsyncIterator[Sequence[Any]]:
    after = 0
    while True:
        async with db.sessions() as session:
            rows = (
                await session.execute(
                    query.where(id_column > after).order_by(id_column).limit(PAGE)
                )
            ).all()
        if not rows:
            return
        yield rows
        after = rows[-1][0].id


async def _csv(header: list[str], pages: AsyncIterator[list[list[Any]]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read the Chinese as UTF-8
    writer.writerow(header)
    yield buffer.getvalue().encode()
    async for rows in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([[cell(v) for v in row] for row in rows])
        yield buffer.getvalue().encode()


def replies(
    db: Database, window: Window, *, research: bool, cipher: IdentifierCipher | None
) -> AsyncIterator[bytes]:
    query = window.apply(
        select(InboundMessage, Need).outerjoin(Need, Need.inbound_id == InboundMessage.id),
        InboundMessage.id < 0,
        InboundMessage.received_at,
    )
    name = _pseudonymiser(cipher) if research else None

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async for page in _pages(db, query, InboundMessage.id):
            out = []
            for m, need in page:
                category = need.category if need else None
                urgent = need.urgent if need else None
                if name is not None:
                    out.append(
                        [
                            name(m.patient_id), m.clinic_id, m.study_arm,
                            m.received_at.date().isoformat(), m.channel, m.kind, m.rating,
                            m.track, m.lesson_key, m.module, category, urgent,
                        ]
                    )  # fmt: skip
                else:
                    out.append(
                        [
                            m.id, m.received_at, m.patient_id, m.clinic_id, m.study_arm,
                            m.channel, m.kind, m.rating, m.track, m.lesson_key, m.module,
                            category, urgent, need.status if need else None, m.text,
                        ]
                    )  # fmt: skip
            yield out

    return _csv(RESEARCH_REPLY_COLUMNS if research else REPLY_COLUMNS, rows())


def survey_answers(
    db: Database,
    window: Window,
    survey_key: str | None,
    *,
    research: bool,
    cipher: IdentifierCipher | None,
) -> AsyncIterator[bytes]:
    query = window.apply(
        select(SurveyAnswer, SurveyRun).join(SurveyRun, SurveyRun.id == SurveyAnswer.run_id),
        SurveyRun.id < 0,
        SurveyAnswer.at,
    )
    if survey_key in ANONYMOUS:
        raise InvalidInput(
            f"survey: {survey_key} is anonymous; its answers are exported only for researchers, "
            "per clinic: GET /api/v1/clinics/{id}/reports/provider-interaction.csv"
        )
    if survey_key is not None:
        query = query.where(SurveyRun.survey_key == survey_key)
    else:
        query = query.where(SurveyRun.survey_key.not_in(ANONYMOUS))
    name = _pseudonymiser(cipher) if research else None

    async def rows() -> AsyncIterator[list[list[Any]]]:
        async for page in _pages(db, query, SurveyAnswer.id):
            out = []
            for a, run in page:
                if name is not None:
                    out.append(
                        [
                            run.survey_key, name(run.patient_id), run.clinic_id, run.study_arm,
                            run.state, a.question_key, a.state, a.value, a.at.date().isoformat(),
                        ]
                    )  # fmt: skip
                else:
                    out.append(
                        [
                            run.id, run.survey_key, run.patient_id, run.clinic_id, run.study_arm,
                            run.state, a.question_key, a.state, a.value, a.text, a.at,
                        ]
                    )  # fmt: skip
            yield out

    return _csv(RESEARCH_ANSWER_COLUMNS if research else ANSWER_COLUMNS, rows())
