"""Links to lesson pages: signed, expiring, and carrying no patient id or phone number.

The scheduler signs a link for each lesson message; the content service verifies it when
the page is opened. The link carries an opaque `reader` (the scheduler's message id), the
track, lesson and version, and the language, so opening it can be attributed by the
scheduler alone. itsdangerous does the signing and expiry: a kept library, not our crypto.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_SALT = "mmt-lesson-link-v1"


class LessonLinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

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
    """Tampered, expired or unreadable: the page says so, without details."""


@dataclass(frozen=True)
class LessonLink:
    reader: str
    track: str
    lesson_key: str
    version: int
    language: str


class LessonLinks:
    def __init__(self, settings: LessonLinkSettings) -> None:
        if not settings.lesson_link_secret or len(settings.lesson_link_secret) < 32:
            raise ValueError("LESSON_LINK_SECRET must be set to 32 or more random characters")
        self._serializer = URLSafeTimedSerializer(settings.lesson_link_secret, salt=_SALT)
        self._base = settings.content_public_url.rstrip("/")
        self._max_age = settings.lesson_link_max_age_days * 86_400

    def token(self, link: LessonLink) -> str:
        return str(
            self._serializer.dumps(
                [link.reader, link.track, link.lesson_key, link.version, link.language]
            )
        )

    def url(self, link: LessonLink) -> str:
        return f"{self._base}/lessons/{self.token(link)}"

    def read(self, token: str) -> LessonLink:
        try:
            reader, track, key, version, language = self._serializer.loads(
                token, max_age=self._max_age
            )
        except SignatureExpired as exc:
            raise LinkInvalid("this link has expired") from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise LinkInvalid("this link is not valid") from exc
        return LessonLink(str(reader), str(track), str(key), int(version), str(language))
