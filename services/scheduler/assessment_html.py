"""The self-assessment page's HTML and its routes, `GET` and `POST /a/{token}` (open: the
link's signature is the authentication). A mobile form, one question after another, each
with its answers as large radio buttons, in the patient's language; every text escaped. A
submission with a wrong answer gets the form again (422) with each wrong question named.
The page's own words are the `patient` catalog's `assessment_page.*` (shared/locale); the
questions' are the questionnaire's."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from services.scheduler.api import provide_scheduler
from services.scheduler.assessment_links import AssessmentLinks
from services.scheduler.assessment_page import Done, FormPage, Gone, open_form, submit_form
from services.scheduler.record_links import LinkInvalid, RecordLink, RecordLinkExpired
from shared.access.web import OPEN
from shared.errors import InvalidInput, NotFound
from shared.html_page import document
from shared.i18n import texts as patient_texts

# The notices' keys in the `patient` catalog, shown in zh-CN and English.
_NOT_VALID = "link.not_valid"
_GONE = "link.gone"
_DONE = "assessment_page.done"
_UNCONFIGURED = "assessment_page.unconfigured"
_STYLE = (
    "body{margin:0;font:19px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',"
    "sans-serif;color:#222;background:#fafaf7}main{max-width:36em;margin:0 auto;padding:1em}"
    "h1{font-size:1.4em}fieldset{border:1px solid #ddd;border-radius:.4em;margin:0 0 1em;"
    "padding:.6em .8em}legend{font-weight:600;padding:0 .3em}label{display:block;"
    "padding:.45em 0}input[type=radio]{width:1.3em;height:1.3em;vertical-align:middle;"
    "margin-right:.5em}.wrong{border-color:#c62828;background:#fbe9e7}p.wrong{padding:.5em}"
    "button{font-size:1.1em;padding:.6em 2em;border:0;border-radius:.4em;background:#2e7d5b;"
    "color:#fff}"
)


def _notice(key: str, status: int) -> Response[str]:
    zh, en = patient_texts("zh-CN")[key], patient_texts("en")[key]
    content = f"<h1>{escape(zh)}</h1><p lang='en'>{escape(en.capitalize())}.</p>"
    return document("zh-CN", f"{zh} / {en}", _STYLE, content, status)


def _text(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts["zh-CN"]


def render_form(
    page: FormPage,
    given: dict[str, Any] | None = None,
    wrong: set[str] | None = None,
    status: int = 200,
) -> Response[str]:
    language = "en" if page.language == "en" else "zh-CN"
    ui, form, given, wrong = patient_texts(language), page.form, given or {}, wrong or set()
    scales = {scale.key: scale for scale in form.scales}
    fields = []
    for number, question in enumerate(form.questions, 1):
        options = "".join(
            f'<label><input type="radio" name="{escape(question.key)}" '
            f'value="{escape(answer.value)}"'
            f"{' checked' if given.get(question.key) == answer.value else ''}>"
            f"{escape(_text(answer.texts, language))}</label>"
            for answer in scales[question.scale].answers
        )
        marked = ' class="wrong"' if question.key in wrong else ""
        legend = f"{number}. {_text(question.texts, language)}"
        fields.append(f"<fieldset{marked}><legend>{escape(legend)}</legend>{options}</fieldset>")
    note = f'<p class="wrong">{escape(ui["assessment_page.wrong"])}</p>' if wrong else ""
    title = _text(form.titles, language)
    content = (
        f"<h1>{escape(title)}</h1><p>{escape(ui['assessment_page.intro'])}</p>{note}"
        f'<form method="post">{"".join(fields)}'
        f'<button type="submit">{escape(ui["assessment_page.send"])}</button></form>'
    )
    return document(language, title, _STYLE, content, status)


def _page(description: str) -> ResponseSpec:
    return ResponseSpec(str, media_type=MediaType.HTML, description=description)


_RESPONSES = {
    404: _page("The link is not valid"),
    409: _page("The questionnaire was answered already"),
    410: _page("The link has expired, or the questionnaire is no longer shown"),
    503: _page("Questionnaire links are not configured"),
}


def _read(state: State, token: str) -> tuple[RecordLink, bool] | Response[str]:
    links: AssessmentLinks | None = state.get("assessment_links")
    if links is None:
        return _notice(_UNCONFIGURED, 503)
    try:
        return links.read(token), False
    except RecordLinkExpired as exc:
        return exc.link, True
    except LinkInvalid:
        return _notice(_NOT_VALID, 404)


def _refusal(exc: Exception) -> Response[str]:
    if isinstance(exc, Gone):
        return _notice(_GONE, 410)
    if isinstance(exc, Done):
        return _notice(_DONE, 409)
    return _notice(_NOT_VALID, 404)


@get(
    "/a/{token:str}",
    opt=OPEN,
    tags=["assessment pages"],
    summary="A questionnaire for the patient to answer, opened through a signed link",
    media_type=MediaType.HTML,
    responses=_RESPONSES,
)
async def assessment_page(state: State, token: FromPath[str]) -> Response[str]:
    read = _read(state, token)
    if isinstance(read, Response):
        return read
    link, expired = read
    try:
        page = await open_form(provide_scheduler(state), link, expired=expired)
    except (NotFound, Gone, Done) as exc:
        return _refusal(exc)
    return render_form(page)


@post(
    "/a/{token:str}",
    opt=OPEN,
    tags=["assessment pages"],
    summary="Send the questionnaire's answers (form fields: question key = answer value)",
    media_type=MediaType.HTML,
    status_code=200,
    responses={**_RESPONSES, 422: _page("An answer is not one of its question's")},
)
async def assessment_submit(
    state: State, request: Request[Any, Any, Any], token: FromPath[str]
) -> Response[str]:
    read = _read(state, token)
    if isinstance(read, Response):
        return read
    link, expired = read
    form = await request.form()
    answers = {str(key): value for key, value in form.items() if isinstance(value, str)}
    ctx = provide_scheduler(state)
    try:
        await submit_form(ctx, link, answers, expired=expired)
    except (NotFound, Gone, Done) as exc:
        return _refusal(exc)
    except InvalidInput as refused:
        page = await open_form(ctx, link, expired=expired)
        wrong = {q.key for q in page.form.questions if f"answers.{q.key}:" in str(refused)}
        # Nothing answered names no question: a key no question has shows the note alone.
        return render_form(page, answers, wrong or {""}, 422)
    language = "en" if link.language == "en" else "zh-CN"
    thanks = patient_texts(language)["assessment_page.thanks"]
    return document(language, thanks, _STYLE, f"<h1>{escape(thanks)}</h1>", 200)
