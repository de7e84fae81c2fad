"""Lesson links: short enough for two SMS segments, signed, expiring, opaque."""

from __future__ import annotations

import uuid

import pytest

from shared.lesson_links import (
    LessonLink,
    LessonLinks,
    LessonLinkSettings,
    LinkExpired,
    LinkInvalid,
)
from shared.sms import segments

SETTINGS = LessonLinkSettings(
    lesson_link_secret="s" * 40, content_public_url="https://mmt.example.cn"
)
LINK = LessonLink(str(uuid.uuid4()), "core", "missed-dose-what-to-do", 3, "en")


def test_round_trip_and_every_field_kept() -> None:
    links = LessonLinks(SETTINGS)
    assert links.read(links.token(LINK)) == LINK
    preview = LessonLink("preview", "maintenance", "k", 1, "zh-CN")
    assert links.read(links.token(preview)) == preview


def test_a_chinese_lesson_sms_with_its_link_fits_two_segments() -> None:
    url = LessonLinks(SETTINGS).url(LINK)
    assert len(url) <= 120  # was 150-190 with itsdangerous
    assert segments(f"今天的健康小课堂：照顾好你的肝脏 {url}") == 2


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
        lambda t: "A" + t[1:] if t[0] != "A" else "B" + t[1:],  # body
        lambda t: t[:20],  # truncated
        lambda _t: "not base64 at all!",
    ],
)
def test_tampered_links_are_refused(mangle: object) -> None:
    links = LessonLinks(SETTINGS)
    with pytest.raises(LinkInvalid):
        links.read(mangle(links.token(LINK)))  # type: ignore[operator]


def test_another_secret_cannot_forge_and_old_links_expire() -> None:
    other = LessonLinks(LessonLinkSettings(lesson_link_secret="o" * 40))
    with pytest.raises(LinkInvalid):
        LessonLinks(SETTINGS).read(other.token(LINK))
    signed_long_ago = LessonLinks(SETTINGS, clock=lambda: 1_000_000_000.0)
    with pytest.raises(LinkExpired):
        LessonLinks(SETTINGS).read(signed_long_ago.token(LINK))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="LESSON_LINK_SECRET"):
        LessonLinks(LessonLinkSettings(lesson_link_secret="short"))
