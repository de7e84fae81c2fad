"""Links to a patient's record page: signed, expiring, and carrying no patient id.

A record reply ends with `{SCHEDULER_PUBLIC_URL}/r/<token>`. The token holds an opaque
reader (the reply message's id, a random UUID: the scheduler alone knows whose it is), the
page's language and an expiry, under a 96-bit truncated HMAC-SHA256 as lesson links do
(shared.lesson_links explains the choice: short links, two SMS segments). The key is
derived from LESSON_LINK_SECRET for this purpose alone, so a lesson token is never a
record token. Both ends are the scheduler: it signs when it sends the reply and verifies
when the page is opened. No setting of its own: without LESSON_LINK_SECRET or a public URL
for the scheduler (SCHEDULER_PUBLIC_URL or PUBLIC_BASE_URL) the reply carries no link
(and without the secret the page answers 503).
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
from typing import Self

from pydantic import ValidationError

from shared.channels.settings import ChannelSettings
from shared.lesson_links import LessonLinkSettings, LinkExpired, LinkInvalid
from shared.logging import get_logger

log = get_logger(__name__)

MAX_AGE_SECONDS = 7 * 86_400  # a week: the reply's record is about the last 7 days
_FORMAT = 1
_MAC_BYTES = 12
_LANGUAGES = ("zh-CN", "en")
_HEAD = struct.Struct(">BBI")  # format, language, expiry (unix seconds)

__all__ = ["LinkInvalid", "RecordLink", "RecordLinkExpired", "RecordLinks"]


@dataclass(frozen=True)
class RecordLink:
    reader: str  # the reply message's id
    language: str


class RecordLinkExpired(LinkExpired):
    """Genuine but past its expiry: the page shows nothing, and the opening is recorded."""

    def __init__(self, link: RecordLink) -> None:
        super().__init__("this link has expired")
        self.link = link


class RecordLinks:
    # What a subclass changes for another page (assessment_links.py): the key's purpose,
    # so that one page's token is never another's, the path, and how long a link lasts.
    purpose = b"mmt-record-link-v1"
    path = "r"
    max_age_seconds = MAX_AGE_SECONDS

    def __init__(
        self, secret: str, base_url: str | None, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 32:
            raise ValueError("LESSON_LINK_SECRET must be set to 32 or more random characters")
        self._key = hashlib.sha256(self.purpose + secret.encode()).digest()
        # Reading a link needs only the key; making one needs the public URL as well.
        self.base_url = base_url.rstrip("/") if base_url else None
        self._clock = clock

    @classmethod
    def from_environment(cls) -> Self | None:
        """None when the secret is unset; without a public URL links are read, not made."""
        try:
            secret = LessonLinkSettings().lesson_link_secret
            base = ChannelSettings().scheduler_url
        except ValidationError as exc:
            log.warning("scheduler.no_record_links", detail=str(exc.errors()[0]["msg"]))
            return None
        if not secret or len(secret) < 32:
            return None
        return cls(secret, base)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, link: RecordLink) -> str:
        language = _LANGUAGES.index(link.language) if link.language in _LANGUAGES else 0
        expires = self.expires_at()
        body = _HEAD.pack(_FORMAT, language, expires) + uuid.UUID(link.reader).bytes
        return base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode()

    def expires_at(self) -> int:
        """When a link made now expires (unix seconds)."""
        return int(self._clock()) + self.max_age_seconds

    def url(self, link: RecordLink) -> str | None:
        """The link, or None without a public URL (the reply then goes without one)."""
        return f"{self.base_url}/{self.path}/{self.token(link)}" if self.base_url else None

    def read(self, token: str) -> RecordLink:
        """The link, or LinkInvalid (tampered, forged, unreadable), or RecordLinkExpired."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError) as exc:
            raise LinkInvalid("this link is not valid") from exc
        if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
            # Only the one spelling we issue: another (its unused low bits changed) is not it.
            raise LinkInvalid("this link is not valid")
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) != _HEAD.size + 16 or not hmac.compare_digest(mac, self._mac(body)):
            raise LinkInvalid("this link is not valid")
        form, language, expires = _HEAD.unpack_from(body)
        if form != _FORMAT or language >= len(_LANGUAGES):
            raise LinkInvalid("this link is not valid")
        link = RecordLink(str(uuid.UUID(bytes=body[_HEAD.size :])), _LANGUAGES[language])
        if expires < self._clock():
            raise RecordLinkExpired(link)
        return link
