"""Lessons as printable A4 handouts (issue 21 part 4: the routine-care arm gets paper, not
pushes): the clinic's name and phone on a published lesson, in zh-CN or English; another
clinic's coordinator gets 404, a draft 409, an unknown lesson 404; the same handout twice
is the same bytes."""

from __future__ import annotations

import base64
import contextlib
import re
import zlib
from pathlib import Path

from sqlalchemy import select

from services.content.service import versions
from services.content.service.importer import import_files
from shared.access.clinics import ClinicIn, create_clinic
from shared.access.models import Clinic
from shared.db import Database
from tests.integration.test_content_api import Client
from tests.integration.test_content_api import client as client  # the fixtures
from tests.integration.test_content_api import tokens as tokens
from tests.unit.test_content_samples import CORE, MAINTENANCE, write

HANDOUT = "/api/v1/tracks/core/versions/1/lessons/daily-dose/handout"


def pdf_text(pdf: bytes) -> str:
    """The text of a reportlab PDF's pages: each content stream decoded (ASCII85, then
    Flate), each string literal unescaped and read as UCS-2 (the CID font) or Latin-1."""
    found = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        data = raw.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2], adobe=False)
        with contextlib.suppress(zlib.error):  # compressed: inflate, else as is
            data = zlib.decompress(data)
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)", data):
            text = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m[1], 8)]) if m[1][:1].isdigit() else m[1],
                literal,
            )
            found.append(text.decode("utf-16-be", "replace") if len(text) % 2 == 0 else "")
            found.append(text.decode("latin-1"))
    return "\n".join(found)


async def _import(content_db: Database, folder: Path, publish: bool) -> None:
    write(folder, "core.yaml", CORE)
    write(folder, "maintenance.yaml", MAINTENANCE)
    files = [folder / "core.yaml", folder / "maintenance.yaml"]
    await import_files(content_db, files, publish=publish)


async def test_a_published_lesson_prints_for_the_clinic_in_each_language(
    client: Client,
    tokens: dict[str, dict[str, str]],
    content_db: Database,
    access_db: Database,
    tmp_path: Path,
) -> None:
    await _import(content_db, tmp_path, publish=False)
    coordinator = tokens["coordinator"]
    async with access_db.sessions() as session:
        yx = await session.scalar(select(Clinic.id).where(Clinic.code == "YX-A"))

    draft = await client.get(HANDOUT, params={"clinic_id": yx}, headers=coordinator)
    assert draft.status_code == 409
    assert "is a draft: publish it first" in draft.json()["detail"]
    await versions.publish(content_db, "core")

    zh = await client.get(HANDOUT, params={"clinic_id": yx}, headers=coordinator)
    assert zh.status_code == 200, zh.text
    assert zh.headers["content-type"] == "application/pdf"
    assert 'filename="core-daily-dose-v1-zh-CN.pdf"' in zh.headers["content-disposition"]
    assert zh.content.startswith(b"%PDF-")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in zh.content  # A4
    assert b"/BaseFont /STSong-Light" in zh.content
    text = pdf_text(zh.content)
    for expected in ("Yuxi A", "每天按时服药", "如果错过了", "联系门诊", "0877 201 2345"):
        assert expected in text, expected
    again = await client.get(HANDOUT, params={"clinic_id": yx}, headers=coordinator)
    assert again.content == zh.content  # invariant: what a log points at can be printed again

    en = await client.get(HANDOUT, params={"clinic_id": yx, "language": "en"}, headers=coordinator)
    english = pdf_text(en.content)
    assert "Every day, on time" in english
    assert "Questions? Ask your clinic doctor" in english


async def test_another_clinic_an_unknown_lesson_and_bad_values_are_refused(
    client: Client,
    tokens: dict[str, dict[str, str]],
    content_db: Database,
    access_db: Database,
    tmp_path: Path,
) -> None:
    await _import(content_db, tmp_path, publish=True)
    other = await create_clinic(
        access_db, ClinicIn(code="KM-B", name="Kunming B", help_phone="0871 6123 4567")
    )
    coordinator = tokens["coordinator"]
    elsewhere = await client.get(HANDOUT, params={"clinic_id": other.id}, headers=coordinator)
    assert elsewhere.status_code == 404
    admin = await client.get(HANDOUT, params={"clinic_id": other.id}, headers=tokens["admin"])
    assert admin.status_code == 200
    assert "Kunming B" in pdf_text(admin.content)
    unknown = HANDOUT.replace("daily-dose", "no-such-lesson")
    assert (
        await client.get(unknown, params={"clinic_id": other.id}, headers=tokens["admin"])
    ).status_code == 404
    for params in ({}, {"clinic_id": 0}, {"clinic_id": other.id, "language": "fr"}):
        refused = await client.get(HANDOUT, params=params, headers=tokens["admin"])
        assert refused.status_code == 400, params
