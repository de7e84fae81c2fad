"""The feedback service's own settings (documented in the README with the rest).

WECHAT_APP_ID comes from `shared.channels.settings.WeChatSettings`, and the Twilio auth
token and FEEDBACK_PUBLIC_URL (else PUBLIC_BASE_URL) from the channel settings: one
variable, one meaning.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FeedbackSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True
    )

    wechat_server_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="The Token set in the official account's server configuration: WeChat "
        "signs every call to /webhooks/wechat with it. Unset: the WeChat webhook answers 404.",
    )
    wechat_encoding_aes_key: SecretStr | None = Field(
        default=None,
        repr=False,
        description="The account's EncodingAESKey (43 characters) for safe mode; unset: only "
        "plain-mode messages are accepted.",
    )
    feedback_urgent_words_extra: str = Field(
        default="",
        description="Comma-separated words that make a patient's message urgent, besides the "
        "built-in English and Chinese list (overdose, suicide, 想死, 过量, ...).",
    )
    feedback_alert_webhook_url: str | None = Field(
        default=None,
        description="Where an urgent need is announced at once (POST, JSON signed like "
        "WEBHOOK_URL's: a clinic's paging gateway or chat bot). Unset: urgent needs are "
        "flagged in the API only.",
    )
    feedback_alert_webhook_secret: SecretStr | None = Field(
        default=None,
        repr=False,
        description="HMAC secret (32+ characters) signing those announcements.",
    )
    feedback_max_body_bytes: int = Field(
        default=16_384,
        ge=1_024,
        description="Largest provider webhook body accepted; a larger one gets 413 and is "
        "not read further.",
    )
    feedback_rating_window_hours: int = Field(
        default=48,
        ge=1,
        description="A 1-5 reply within this many hours of a lesson rates that lesson.",
    )
    feedback_survey_timeout_hours: int = Field(
        default=48,
        ge=1,
        le=24 * 14,
        description="A survey question unanswered this long ends its run as timed out (the "
        "rest of that survey is not sent).",
    )
    feedback_lesson_question: bool = Field(
        default=True,
        description="After each lesson, ask one short helpfulness question (1-5); its answer "
        "is that lesson's rating. It is one more message per lesson: set false to rely on "
        "patients replying 1-5 unprompted.",
    )
    feedback_lesson_question_delay_minutes: int = Field(
        default=180,
        ge=0,
        le=24 * 60,
        description="How long after a lesson its helpfulness question is sent (time to read "
        "it; quiet hours still apply).",
    )
    feedback_provider_survey_every_days: int = Field(
        default=0,
        ge=0,
        le=366,
        description="Ask each patient who has had the provider-interaction questionnaire "
        "again this many days after their last one began (e.g. 91: every three months); "
        "staff start the first. 0: only when staff start it.",
    )
