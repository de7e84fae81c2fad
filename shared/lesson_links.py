"""Links to lesson pages: signed, expiring, short, and carrying no patient id or phone number.

The scheduler signs a link for each lesson message; the content service verifies it when
the page is opened. The link carries an opaque `reader` (the scheduler's message id), the
track, lesson and version, the language and an expiry, so opening it can be attributed by
the scheduler alone.

Why a hand-packed token and not itsdangerous: a lesson SMS is the notification plus this
link, and Chinese SMS segments hold 67 characters. itsdangerous's JSON-in-base64 with a
full SHA-1 signature made links of 150-190 characters: three segments for every lesson,
for every patient, three times a week. Packing the fields in binary (a UUID as 16 bytes)
with a 96-bit truncated HMAC-SHA256 (ample for a link that expires within weeks; RFC 2104
allows truncation) gives about 90, so a lesson fits in two. The MAC is the standard
library's `hmac`, compared in constant time; nothing else here is cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_FORMAT = 1
_MAC_BYTES = 12
_LANGUAGES = ("zh-CN", "en")
_HEAD = struct.Struct(">BBIH")  # format, flags, expiry (unix seconds), version


class LessonLinkSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    lesson_link_secret: str | None = Field(
        default=None,
        repr=False,
        description="Secret shared by scheduler and content to sign lesson-page links "
        "(32+ random characters). `mmt up` makes a development one.",
    )
    content_public_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Public base URL of the content service, as patients' phones reach it.",
    )
    lesson_link_max_age_days: int = Field(
        default=14, ge=1, description="How long a lesson link stays valid."
    )


class LinkInvalid(ValueError):
    """Tampered, forged or unreadable: the page says so, without details."""


class LinkExpired(LinkInvalid):
    """Genuine but past its expiry."""


@dataclass(frozen=True)
class LessonLink:
    reader: str
    track: str
    lesson_key: str
    version: int
    language: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _short(value: str, what: str) -> bytes:
    data = value.encode()
    if len(data) > 255:
        raise ValueError(f"{what} is too long for a lesson link")
    return bytes([len(data)]) + data


class LessonLinks:
    def __init__(
        self, settings: LessonLinkSettings, clock: Callable[[], float] = time.time
    ) -> None:
        if not settings.lesson_link_secret or len(settings.lesson_link_secret) < 32:
            raise ValueError("LESSON_LINK_SECRET must be set to 32 or more random characters")
        # A key of its own for this purpose, should the secret ever serve anything else.
        self._key = hashlib.sha256(
            b"mmt-lesson-link-v1" + settings.lesson_link_secret.encode()
        ).digest()
        self._base = settings.content_public_url.rstrip("/")
        self._max_age = settings.lesson_link_max_age_days * 86_400
        self._clock = clock

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, link: LessonLink) -> str:
        try:
            reader = uuid.UUID(link.reader).bytes
            is_uuid = 1
        except ValueError:
            reader, is_uuid = _short(link.reader, "reader"), 0
        language = _LANGUAGES.index(link.language) if link.language in _LANGUAGES else 0
        body = (
            _HEAD.pack(
                _FORMAT, is_uuid | language << 1, int(self._clock()) + self._max_age, link.version
            )
            + reader
            + _short(link.track, "track")
            + _short(link.lesson_key, "lesson key")
        )
        return _b64(body + self._mac(body))

    def url(self, link: LessonLink) -> str:
        return f"{self._base}/lessons/{self.token(link)}"

    def read(self, token: str) -> LessonLink:
        try:
            raw = _unb64(token)
        except (ValueError, TypeError) as exc:
            raise LinkInvalid("this link is not valid") from exc
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) < _HEAD.size or not hmac.compare_digest(mac, self._mac(body)):
            raise LinkInvalid("this link is not valid")
        try:
            link, expires = _unpack(body)
        except (ValueError, IndexError, struct.error, UnicodeDecodeError) as exc:
            raise LinkInvalid("this link is not valid") from exc
        if expires < self._clock():
            raise LinkExpired("this link has expired")
        return link


def _unpack(body: bytes) -> tuple[LessonLink, int]:
    form, flags, expires, version = _HEAD.unpack_from(body)
    if form != _FORMAT:
        raise ValueError("unknown link format")
    at = _HEAD.size
    if flags & 1:
        reader, at = str(uuid.UUID(bytes=body[at : at + 16])), at + 16
    else:
        reader, at = _string(body, at)
    track, at = _string(body, at)
    key, at = _string(body, at)
    if at != len(body):
        raise ValueError("trailing bytes")
    language = _LANGUAGES[(flags >> 1) & 1]
    return LessonLink(reader, track, key, version, language), expires


def _string(body: bytes, at: int) -> tuple[str, int]:
    size = body[at]
    value = body[at + 1 : at + 1 + size]
    if len(value) != size:
        raise ValueError("truncated")
    return value.decode(), at + 1 + size
