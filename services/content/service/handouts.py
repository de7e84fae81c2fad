"""A lesson as a printable A4 handout (issue 21 part 4): what the routine-care arm of a
study gets on paper instead of pushes, with the clinic's name and phone on it.

reportlab sets the text. Chinese uses its built-in CID font STSong-Light (Adobe-GB1):
nothing to ship, and every PDF reader carries a substitute for it; English uses Helvetica.
The PDF is `invariant` (no creation time, a fixed id), so the same lesson printed for the
same clinic is byte-identical: a handout log can point at exactly what was given."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from xml.sax.saxutils import escape

import phonenumbers
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    HRFlowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from services.content.models import PUBLISHED
from services.content.schemas import LANGUAGES, LessonDoc
from services.content.service import store
from shared.access.clinics import get_clinic
from shared.access.tokens import Principal
from shared.db import Database
from shared.errors import Conflict, InvalidInput, NotFound

CHINESE_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(CHINESE_FONT))

# The handout's own words, by language (the lesson brings the rest).
_WORDS = {
    "zh-CN": {
        "series": "健康小课堂",
        "quiz": "想一想",
        "answer": "答案：",
        "ask": "有问题，请问门诊医生，或打电话：",
    },
    "en": {
        "series": "Health lesson",
        "quiz": "Think about it",
        "answer": "Answer: ",
        "ask": "Questions? Ask your clinic doctor, or call: ",
    },
}


@dataclass(frozen=True)
class HandoutClinic:
    name: str
    help_phone: str


def _styles(language: str) -> dict[str, ParagraphStyle]:
    chinese = language == "zh-CN"
    font = CHINESE_FONT if chinese else "Helvetica"
    bold = CHINESE_FONT if chinese else "Helvetica-Bold"  # the CID font has no bold face
    wrap = "CJK" if chinese else None  # break between any two characters, not at spaces
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=19, wordWrap=wrap)
    return {
        "body": ParagraphStyle("text", parent=body, spaceAfter=3 * mm),
        "small": ParagraphStyle("small", parent=body, fontSize=9, leading=13),
        "title": ParagraphStyle(
            "title", parent=body, fontName=bold, fontSize=18, leading=26, spaceAfter=2 * mm
        ),
        "heading": ParagraphStyle(
            "heading", parent=body, fontName=bold, fontSize=13, spaceBefore=3 * mm
        ),
    }


def handout_pdf(
    lesson: LessonDoc, language: str, clinic: HandoutClinic, track: str, version: int
) -> bytes:
    """The lesson in `language` (zh-CN when it has none) as an A4 PDF for `clinic`."""
    shown = language if language in lesson.translations else "zh-CN"
    text = lesson.translations[shown]
    words, style = _WORDS.get(shown, _WORDS["zh-CN"]), _styles(shown)

    def para(value: str, name: str = "body") -> Paragraph:
        return Paragraph(escape(value), style[name])  # lesson text is text, not markup

    story = [
        para(f"{clinic.name} · {words['series']}", "small"),
        HRFlowable(width="100%", thickness=0.5, spaceAfter=4 * mm),
        para(text.title, "title"),
    ]
    story += [para(p.strip()) for p in text.body.split("\n\n") if p.strip()]
    if text.quiz is not None:
        story += [para(words["quiz"], "heading"), para(text.quiz.question)]
        story += [
            para(f"{chr(ord('A') + i)}. {option}") for i, option in enumerate(text.quiz.options)
        ]
        if lesson.quiz_answer is not None:
            answer = chr(ord("A") + lesson.quiz_answer)
            story.append(para(f"{words['answer']}{answer}", "small"))
    story += [
        Spacer(1, 6 * mm),
        HRFlowable(width="100%", thickness=0.5, spaceAfter=2 * mm),
        para(f"{words['ask']}{clinic.help_phone}", "small"),
        para(f"{track} / {lesson.key} / v{version}", "small"),
    ]
    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=text.title,
        author=clinic.name,
        invariant=True,
    )
    document.build(story)
    return out.getvalue()


def _dialled(e164: str) -> str:
    """The clinic's number as people there dial it (0877 201 2345), not as stored."""
    number = phonenumbers.parse(e164)
    local = number.country_code == 86  # the patients are in mainland China
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if local
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


async def lesson_handout(
    db: Database,
    access_db: Database,
    principal: Principal,
    code: str,
    version: int,
    key: str,
    clinic_id: int,
    language: str,
) -> tuple[str, bytes]:
    """A published lesson's handout for one of the person's clinics: (file name, PDF).

    Another clinic is 404, as everywhere; a draft is 409 (unreviewed text is not printed
    for patients)."""
    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    clinic = await get_clinic(access_db, principal, clinic_id)
    async with db.sessions() as session:
        track = await store.find_track(session, code)
        row = await store.find_version(session, track, version)
        if row.state != PUBLISHED:
            raise Conflict(f"track {code!r} version {version} is a draft: publish it first")
        document = await store.load_document(session, track, row)
    lesson = next((lesson for _, lesson in document.lessons() if lesson.key == key), None)
    if lesson is None:
        raise NotFound(f"track {code!r} version {version} has no lesson {key!r}")
    pdf = handout_pdf(
        lesson, language, HandoutClinic(clinic.name, _dialled(clinic.help_phone)), code, version
    )
    return f"{code}-{key}-v{version}-{language}.pdf", pdf
