"""Lesson pages: what a patient sees after tapping the link in a WeChat message or SMS.

Small, fast pages for basic phones: inline CSS, large text, no scripts and no external
assets (nothing to fetch, nothing to leak the link to). Routes are open (`OPEN`): the link's
signature is the authentication. A bad, expired or unknown link gets a page that says so
and nothing more. Every text is escaped; the pages' own words are the `patient` catalog's
`lesson_page.*` (shared/locale).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from services.content.service.reading import LessonPage, NoSuchChoice, answer_quiz, open_lesson
from shared.access.web import OPEN
from shared.errors import NotFound
from shared.html_page import document
from shared.i18n import texts
from shared.lesson_links import LessonLink, LessonLinks, LinkExpired, LinkInvalid

# The notices' keys in the `patient` catalog; the link cannot be trusted, so its language
# is unknown: they are shown in zh-CN and English.
_NOT_VALID = "link.not_valid"
_EXPIRED = "lesson_page.expired"
_UNCONFIGURED = "lesson_page.unconfigured"

_STYLE = (
    "body{margin:0;font:20px/1.6 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',"
    "sans-serif;color:#222;background:#fafaf7}main{max-width:36em;margin:0 auto;padding:1em}"
    "h1{font-size:1.5em;line-height:1.3}p{margin:0 0 1em}fieldset{border:2px solid #ccc;"
    "border-radius:8px;padding:1em}legend{font-weight:bold;padding:0 .3em}"
    "label{display:block;padding:.6em 0;font-size:1.05em}input{transform:scale(1.5);"
    "margin-right:.8em}button{font-size:1.1em;padding:.6em 1.6em;margin-top:.6em;"
    "border:0;border-radius:8px;background:#2e7d5b;color:#fff}.right{color:#2e7d5b}"
    ".wrong{color:#a33}.answer{font-weight:bold}"
)


def _document(language: str, title: str, content: str, status: int) -> Response[str]:
    return document(language, title, _STYLE, content, status)


def _notice(key: str, status: int) -> Response[str]:
    zh, en = texts("zh-CN")[key], texts("en")[key]
    content = f"<h1>{escape(zh)}</h1><p lang='en'>{escape(en.capitalize())}.</p>"
    return _document("zh-CN", f"{zh} / {en}", content, status)


def _paragraphs(body: str) -> str:
    return "".join(
        "<p>" + "<br>".join(escape(line) for line in block.splitlines()) + "</p>"
        for block in body.split("\n\n")
        if block.strip()
    )


def _quiz_form(page: LessonPage, action: str, ui: Mapping[str, str], note: str) -> str:
    if page.quiz is None:
        return ""
    options = "".join(
        f'<label><input type="radio" name="choice" value="{i}" required>{escape(text)}</label>'
        for i, text in enumerate(page.quiz.options)
    )
    return (
        f'<form method="post" action="{escape(action)}"><fieldset>'
        f"<legend>{escape(ui['lesson_page.quiz'])}</legend><p>{escape(page.quiz.question)}</p>"
        f"{note}{options}<button type=submit>{escape(ui['lesson_page.submit'])}</button>"
        "</fieldset></form>"
    )


def render_lesson(
    page: LessonPage, action: str, note: str = "", status: int = 200
) -> Response[str]:
    """The lesson; its quiz form posts to `action`, relative to the page's own URL."""
    ui = texts(page.language)
    content = (
        f"<h1>{escape(page.title)}</h1>{_paragraphs(page.body)}{_quiz_form(page, action, ui, note)}"
    )
    return _document(page.language, page.title, content, status)


def render_answer(page: LessonPage, chosen: int) -> Response[str]:
    ui = texts(page.language)
    assert page.quiz is not None  # answer_quiz refuses a lesson without a quiz
    assert page.quiz_answer is not None
    right = chosen == page.quiz_answer
    verdict = (
        f'<p class="right">{escape(ui["lesson_page.right"])}</p>'
        if right
        else f'<p class="wrong">{escape(ui["lesson_page.wrong"])}</p>'
    )
    options = "".join(
        f"<li{' class=answer' if i == page.quiz_answer else ''}>{escape(text)}"
        f"{' (' + escape(ui['lesson_page.yours']) + ')' if i == chosen else ''}</li>"
        for i, text in enumerate(page.quiz.options)
    )
    answer = page.quiz.options[page.quiz_answer]
    content = (
        f"<h1>{escape(page.title)}</h1><p>{escape(page.quiz.question)}</p>{verdict}"
        f'<p>{escape(ui["lesson_page.answer"])} <span class="answer">{escape(answer)}</span></p>'
        f"<ul>{options}</ul>"
    )
    return _document(page.language, page.title, content, 200)


def _page(description: str) -> ResponseSpec:
    return ResponseSpec(str, media_type=MediaType.HTML, description=description)


# Declared so the OpenAPI document lists every page a patient can get.
_LINK_PAGES = {
    404: _page("The link is not valid, or its lesson is gone"),
    410: _page("The link has expired"),
    503: _page("Lesson links are not configured"),
}


def _read(state: State, token: str) -> LessonLink | Response[str]:
    links: LessonLinks | None = state.lesson_links
    if links is None:
        return _notice(_UNCONFIGURED, 503)
    try:
        return links.read(token)
    except LinkExpired:
        return _notice(_EXPIRED, 410)
    except LinkInvalid:
        return _notice(_NOT_VALID, 404)


@get(
    "/lessons/{token:str}",
    opt=OPEN,
    tags=["lesson pages"],
    summary="A lesson page, opened through a signed link",
    media_type=MediaType.HTML,
    responses=_LINK_PAGES,
)
async def lesson_page(state: State, token: FromPath[str]) -> Response[str]:
    link = _read(state, token)
    if isinstance(link, Response):
        return link
    try:
        page = await open_lesson(state.db, link)
    except NotFound:
        return _notice(_NOT_VALID, 404)
    # Relative, so that a public URL with a path prefix keeps working: from
    # /lessons/<token> the form posts to /lessons/<token>/quiz.
    return render_lesson(page, f"{token}/quiz")


@post(
    "/lessons/{token:str}/quiz",
    opt=OPEN,
    tags=["lesson pages"],
    summary="Answer a lesson's quiz (form field `choice`)",
    media_type=MediaType.HTML,
    status_code=200,
    responses={**_LINK_PAGES, 400: _page("No valid choice: the lesson again, with a note")},
)
async def lesson_quiz(
    state: State, request: Request[Any, Any, Any], token: FromPath[str]
) -> Response[str]:
    link = _read(state, token)
    if isinstance(link, Response):
        return link
    form = await request.form()
    choice = form.get("choice")
    try:
        page, chosen = await answer_quiz(
            state.db, link, choice if isinstance(choice, str) else None
        )
    except NotFound:
        return _notice(_NOT_VALID, 404)
    except NoSuchChoice as refused:
        ui = texts(refused.page.language)
        note = f'<p class="wrong">{escape(ui["lesson_page.choose"])}</p>'
        return render_lesson(refused.page, "quiz", note, 400)  # posts to this same URL
    return render_answer(page, chosen)
