"""The staff-training pages (issue 22 part 3): "My training" (the staff lessons to read, the
knowledge quiz's rounds, my scores), a due round's quiz as a form, "mark as read" for a
staff lesson (the button is on the curriculum lesson page), and the training report per
clinic and round, and per arm where the clinic is in a cluster-randomised study.

Everything is the signed-in person's own: the content API takes the staff id from their
token. Round names and codes that cannot be one get the not-found page before any call."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from services.console.api_client import ApiError, ApiNotFound
from services.console.i18n import current_language
from services.console.pages import console_of, page, signed_in
from services.console.training_api import Quiz, TrainingApi
from services.console.training_view import ROUND_ORDER, by_arm, combine

Req = Request[Any, Any, Any]
_CODE = re.compile(r"[a-z0-9-]{2,60}")


def _api(request: Req) -> TrainingApi:
    return TrainingApi(console_of(request).api)


def _round(name: str) -> str:
    if name not in ROUND_ORDER:
        raise NotFoundException("no such round")
    return name


def _answers(quiz: Quiz, form: dict[str, str]) -> tuple[dict[str, int], set[str]]:
    """The chosen option of each question, and the questions left without a valid one."""
    chosen: dict[str, int] = {}
    missing: set[str] = set()
    for question in quiz.questions:
        value = form.get(question.id, "")
        if value.isdigit() and int(value) < len(question.options):
            chosen[question.id] = int(value)
        else:
            missing.add(question.id)
    return chosen, missing


class TrainingPages(Controller):
    path = "/training"

    @get("/")
    async def mine(self, request: Req, taken: FromQuery[str] = "") -> Template:
        data = await signed_in(request)
        mine = await _api(request).mine(data.token, current_language.get())
        return page(request, "training.html", mine=mine, taken=taken)

    @post("/lessons/{track:str}/{key:str}/read", status_code=303)
    async def read(self, request: Req, track: FromPath[str], key: FromPath[str]) -> Redirect:
        if not (_CODE.fullmatch(track) and _CODE.fullmatch(key)):
            raise NotFoundException("no such lesson")
        data = await signed_in(request)
        try:
            await _api(request).mark_read(data.token, track, key)
        except ApiNotFound:
            raise NotFoundException("no such lesson") from None
        return Redirect(f"/curriculum/{track}/lessons/{key}", status_code=303)

    async def _quiz(self, request: Req, token: str, name: str) -> Quiz:
        try:
            return await _api(request).quiz(token, name, current_language.get())
        except ApiNotFound:
            raise NotFoundException("no quiz") from None

    @get("/quiz/{name:str}")
    async def quiz_form(self, request: Req, name: FromPath[str]) -> Template:
        name = _round(name)
        data = await signed_in(request)
        quiz = await self._quiz(request, data.token, name)
        return page(request, "training_quiz.html", quiz=quiz, chosen={}, missing=set(), refusal="")

    @post("/quiz/{name:str}", status_code=303)
    async def take(self, request: Req, name: FromPath[str]) -> Response[Any]:
        name = _round(name)
        data = await signed_in(request)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        quiz = await self._quiz(request, data.token, name)
        chosen, missing = _answers(quiz, form)
        refusal = ""
        if not missing:
            try:
                await _api(request).take(data.token, name, chosen)
            except ApiError as refused:
                if refused.status not in (409, 422):
                    raise
                refusal = refused.detail or str(refused)
            else:
                return Redirect(f"/training?taken={name}", status_code=303)
        return page(
            request,
            "training_quiz.html",
            status_code=409 if refusal else 422,
            quiz=quiz,
            chosen=chosen,
            missing=missing,
            refusal=refusal,
        )

    @get("/report")
    async def report(self, request: Req) -> Template:
        data = await signed_in(request)
        api = _api(request)
        reports = await api.report(data.token)
        names = {c.id: c.name for c in data.clinics}
        clinics = [(names.get(r.clinic_id, str(r.clinic_id)), combine([r])) for r in reports]
        studies = by_arm(reports, await api.clinic_arms(data.token))
        # Questions by their lesson's title in the person's language (my lessons list them).
        mine = await api.mine(data.token, current_language.get())
        titles = {f"{lesson.track}/{lesson.key}": lesson.title for lesson in mine.lessons}
        return page(
            request,
            "training_report.html",
            clinics=clinics,
            studies=studies,
            names=names,
            titles=titles,
        )
