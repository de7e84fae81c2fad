"""Channel settings from the environment: which adapter serves each code, and each vendor's.

One class per vendor; secrets are `SecretStr` and left out of reprs. Every field is listed
in the README's configuration table. `shared/channels/factory.py` checks them together at
start-up and refuses a vendor that is selected or half-configured but missing a variable.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_COMMON = SettingsConfigDict(env_file=None, env_ignore_empty=True, extra="ignore", frozen=True)
# Aliyun's and Tencent's pushes (receipts, replies) carry no signature: a secret in the
# path they are configured with stands in for one. Long enough not to be guessed.
MIN_PUSH_TOKEN = 16


def check_cidrs(value: str) -> str:
    """A comma-separated list of CIDRs (a bare address is one host); refused at start-up
    with the bad item named, not discovered when a push is refused."""
    for item in (part.strip() for part in value.split(",")):
        if item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or CIDR: {item!r}") from exc
    return value


def push_token(vendor: str, receipts: str, replies: str) -> Any:
    """The path token field of a vendor's pushes (receipts at the scheduler, replies at
    the feedback service), e.g. push_token("aliyun", "report", "up")."""
    return Field(
        default=None,
        repr=False,
        min_length=MIN_PUSH_TOKEN,
        description=f"Secret path token (16+ characters) of {vendor}'s unsigned pushes: "
        f"receipts to {{SCHEDULER_PUBLIC_URL}}/webhooks/{vendor}/{{token}}/{receipts}, replies "
        f"to {{FEEDBACK_PUBLIC_URL}}/webhooks/{vendor}/{{token}}/{replies}. Unset: both 404.",
    )


def push_cidrs(vendor: str) -> Any:
    return Field(
        default="",
        description=f"Comma-separated addresses or CIDRs {vendor}'s pushes may come from (the "
        "peer address as the service sees it); empty: any address with the token.",
    )


class ChannelSettings(BaseSettings):
    """Which adapter serves each channel code, and what they share."""

    model_config = _COMMON

    channel_sms: Literal["console", "twilio", "webhook", "tencent", "aliyun"] = Field(
        default="console",
        description="Adapter behind the `sms` channel: console (logs only), twilio, webhook, "
        "tencent (Tencent Cloud SMS) or aliyun (Aliyun SMS).",
    )
    channel_wechat: Literal["console", "wechat"] = Field(
        default="console",
        description="Adapter behind the `wechat` channel: console or wechat (official account).",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Base URL at which providers reach the suite's webhooks through one "
        "gateway, e.g. https://mmt.example.org: the default of SCHEDULER_PUBLIC_URL and "
        "FEEDBACK_PUBLIC_URL.",
    )
    scheduler_public_url: str | None = Field(
        default=None,
        description="Base URL at which providers reach the scheduler; Twilio status callbacks "
        "go to {SCHEDULER_PUBLIC_URL}/webhooks/twilio/status. Unset: PUBLIC_BASE_URL; both "
        "unset: no delivery receipts.",
    )
    feedback_public_url: str | None = Field(
        default=None,
        description="Base URL at which providers reach the feedback service; Twilio signs "
        "inbound SMS for {FEEDBACK_PUBLIC_URL}/webhooks/twilio/sms. Unset: PUBLIC_BASE_URL; "
        "both unset: inbound SMS is refused (404).",
    )
    channel_timeout_s: float = Field(
        default=10.0, gt=0, description="Whole-request timeout of one provider call."
    )
    channel_max_connections: int = Field(
        default=100, ge=1, description="Pooled HTTP connections per adapter and process."
    )
    pacing_max_wait_s: float = Field(
        default=2.0,
        ge=0,
        description="How long a send waits for its provider's rate (TWILIO_RATE, ...) before "
        "it is handed back to be rescheduled.",
    )
    sms_push_max_body_bytes: int = Field(
        default=262_144,
        ge=1_024,
        description="Largest Aliyun or Tencent push (a batch of receipts or replies) "
        "accepted; a larger one gets 413 and is not read further.",
    )

    @property
    def scheduler_url(self) -> str | None:
        """The scheduler's public base URL (receipts), or None."""
        return self.scheduler_public_url or self.public_base_url

    @property
    def feedback_url(self) -> str | None:
        """The feedback service's public base URL (inbound messages), or None."""
        return self.feedback_public_url or self.public_base_url


class TwilioSettings(BaseSettings):
    """Twilio Programmable Messaging (CHANNEL_SMS=twilio)."""

    model_config = _COMMON

    twilio_account_sid: str | None = Field(default=None, description="Account SID (AC...).")
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="Auth token: authenticates our calls and signs Twilio's status callbacks.",
    )
    twilio_from_number: str | None = Field(
        default=None, description="Sender number in E.164; or set TWILIO_MESSAGING_SERVICE_SID."
    )
    twilio_messaging_service_sid: str | None = Field(
        default=None, description="Messaging service (MG...) to send from instead of a number."
    )
    twilio_api_base_url: str | None = Field(
        default=None, description="Override of the API base URL (tests point it at a fake)."
    )
    twilio_rate: str = Field(
        default="1/second",
        description="Segments a sender may send, shared by every worker: 1/second on a long "
        "code, 10/second internationally, more on short codes. `none`: not paced.",
    )


class WeChatTemplate(BaseModel):
    """How one message kind becomes a template message or a subscription notice."""

    model_config = {"frozen": True, "extra": "forbid"}

    template_id: str
    # typed keyword field (thing1, time2, phrase3, ...) -> source: a field of the message
    # ("title", "local_time", ...), "text" for the whole text, or "=literal" for a fixed
    # value. No default: an empty mapping would show an empty card, and start-up refuses it
    # (shared/channels/wechat_fields.py checks every field against WeChat's rules).
    data: dict[str, str] = Field(default_factory=dict)


class WeChatSettings(BaseSettings):
    """A WeChat official (service) account (CHANNEL_WECHAT=wechat)."""

    model_config = _COMMON

    wechat_app_id: str | None = Field(default=None, description="The account's AppID.")
    wechat_app_secret: SecretStr | None = Field(
        default=None, repr=False, description="The account's AppSecret."
    )
    wechat_api_base_url: str = Field(
        default="https://api.weixin.qq.com",
        description="WeChat API base URL (tests point it at a fake).",
    )
    wechat_templates: dict[str, WeChatTemplate] = Field(
        default_factory=dict,
        description='JSON: message kind -> {"template_id", "data": {keyword field: source}}; '
        "a keyword field is typed by its prefix (thing1, time2, phrase3, character_string4, "
        'number5, ...); a source is a message field ("title", "summary", "name", '
        '"local_time", "local_date"), "text", or "=literal". Checked at start-up against '
        "WeChat's rules; first and remark are refused. A kind without a template is a "
        "permanent failure on WeChat (the dispatcher falls back to the next channel).",
    )
    wechat_send_mode: Literal["template", "subscribe"] = Field(
        default="template",
        description="How scheduled messages go: template (template messages, category "
        "templates) or subscribe (long-term subscription notices, /subscribe/bizsend; 43101, "
        "a patient who refused or cancelled, falls back to the next channel). "
        "WECHAT_TEMPLATES then holds that way's template ids.",
    )
    wechat_rate: str = Field(
        default="", description="Template messages per period for the account; empty: not paced."
    )
    wechat_token_margin_s: int = Field(
        default=300,
        ge=0,
        description="An access token is refreshed this long before WeChat says it expires.",
    )


class WebhookSettings(BaseSettings):
    """A generic HTTPS endpoint that receives each message as signed JSON."""

    model_config = _COMMON

    webhook_url: str | None = Field(default=None, description="URL the messages are POSTed to.")
    webhook_secret: SecretStr | None = Field(
        default=None,
        repr=False,
        description="HMAC-SHA256 key of the X-MMT-Signature header (32+ characters).",
    )
    webhook_rate: str = Field(default="", description="Messages per period; empty: not paced.")


class TencentSmsTemplate(BaseModel):
    """How one message kind becomes a Tencent Cloud SMS template send."""

    model_config = {"frozen": True, "extra": "forbid"}

    template_id: str
    # The template's {1}, {2}, ... in order, each from a source as WeChatTemplate's: a field
    # of the message ("first"), "text" for the whole text, or "=literal" for a fixed value.
    params: list[str] = Field(default_factory=list)


class TencentSmsSettings(BaseSettings):
    """Tencent Cloud SMS, API 3.0 (CHANNEL_SMS=tencent)."""

    model_config = _COMMON

    tencent_secret_id: str | None = Field(default=None, description="API key SecretId (AKID...).")
    tencent_secret_key: SecretStr | None = Field(
        default=None, repr=False, description="API key SecretKey: signs every call (TC3)."
    )
    tencent_sms_sdk_app_id: str | None = Field(
        default=None, description="The SMS application's SdkAppId (1400...)."
    )
    tencent_sms_sign_name: str | None = Field(
        default=None, description="Approved signature (签名) put in front of every text."
    )
    tencent_sms_region: str = Field(
        default="ap-guangzhou", description="X-TC-Region of the calls (ap-guangzhou, ...)."
    )
    tencent_sms_templates: dict[str, TencentSmsTemplate] = Field(
        default_factory=dict,
        description='JSON: message kind -> {"template_id", "params": [source, ...]}, the '
        'template\'s parameters in order; a source is a message field ("first"), "text", or '
        '"=literal". A kind without a template is a permanent failure on Tencent SMS.',
    )
    tencent_sms_api_base_url: str = Field(
        default="https://sms.tencentcloudapi.com",
        description="Tencent Cloud SMS endpoint (tests point it at a fake).",
    )
    tencent_sms_rate: str = Field(
        default="",
        description="SendSms calls per period for the application, shared by every worker; "
        "empty: not paced.",
    )
    tencent_sms_push_token: SecretStr | None = push_token("tencent", "status", "reply")
    tencent_sms_push_cidrs: str = push_cidrs("tencent")

    _cidrs = field_validator("tencent_sms_push_cidrs")(check_cidrs)


class AliyunSmsTemplate(BaseModel):
    """How one message kind becomes an Aliyun SMS template send."""

    model_config = {"frozen": True, "extra": "forbid"}

    template_code: str  # SMS_123456789, approved in the console
    # template parameter -> source, as WeChatTemplate's: a field of the message ("first"),
    # "text" for the whole text, or "=literal" for a fixed value.
    params: dict[str, str] = Field(default_factory=dict)


class AliyunSmsSettings(BaseSettings):
    """Aliyun SMS, dysmsapi 2017-05-25 (CHANNEL_SMS=aliyun)."""

    model_config = _COMMON

    aliyun_access_key_id: str | None = Field(
        default=None, description="AccessKey ID of a RAM user allowed dysms:SendSms."
    )
    aliyun_access_key_secret: SecretStr | None = Field(
        default=None, repr=False, description="AccessKey secret: signs every call (ACS3)."
    )
    aliyun_sms_sign_name: str | None = Field(
        default=None, description="Approved signature (签名) of every message."
    )
    aliyun_sms_templates: dict[str, AliyunSmsTemplate] = Field(
        default_factory=dict,
        description='JSON: message kind -> {"template_code", "params": {name: source}}; a '
        'source is a message field ("first"), "text", or "=literal". A kind without a '
        "template is a permanent failure on Aliyun SMS.",
    )
    aliyun_sms_api_base_url: str = Field(
        default="https://dysmsapi.aliyuncs.com",
        description="Aliyun SMS endpoint (tests point it at a fake).",
    )
    aliyun_sms_rate: str = Field(
        default="",
        description="SendSms calls per period for the account, shared by every worker; "
        "empty: not paced.",
    )
    aliyun_sms_push_token: SecretStr | None = push_token("aliyun", "report", "up")
    aliyun_sms_push_cidrs: str = push_cidrs("aliyun")

    _cidrs = field_validator("aliyun_sms_push_cidrs")(check_cidrs)


class ChannelsConfig:
    """All channel settings together; anything not given is read from the environment."""

    def __init__(
        self,
        *,
        channels: ChannelSettings | None = None,
        twilio: TwilioSettings | None = None,
        wechat: WeChatSettings | None = None,
        webhook: WebhookSettings | None = None,
        aliyun: AliyunSmsSettings | None = None,
        tencent: TencentSmsSettings | None = None,
    ) -> None:
        self.channels = channels or ChannelSettings()
        self.twilio = twilio or TwilioSettings()
        self.wechat = wechat or WeChatSettings()
        self.webhook = webhook or WebhookSettings()
        self.aliyun = aliyun or AliyunSmsSettings()
        self.tencent = tencent or TencentSmsSettings()


CHANNEL_SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    ChannelSettings,
    TwilioSettings,
    WeChatSettings,
    WebhookSettings,
    AliyunSmsSettings,
    TencentSmsSettings,
)
