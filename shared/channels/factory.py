"""Build the channel registry from settings, once, at start-up.

Every code a patient can choose (`sms`, `wechat`) and `webhook` gets an adapter: the vendor
selected by CHANNEL_SMS / CHANNEL_WECHAT, or the console channel. A vendor that is selected
but incomplete, or half-configured (some of its variables set, not all), is refused with a
message naming the missing variable: a typo in production must stop the worker, not send
reminders to the console. Adapters with a rate (TWILIO_RATE, ...) are wrapped in a
`PacedChannel` shared through Redis, and the `sms` adapter in a `DailyCappedChannel` when
it has a per-number daily cap (SMS_DAILY_CAP_PER_NUMBER; Aliyun and Tencent by default).
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsConfig
from shared.channels.base import Channel, OutboundMessage
from shared.channels.console import ConsoleChannel
from shared.channels.daily_cap import SmsDailyCapSettings, daily_capped
from shared.channels.pacing import PacedChannel, Pacer, parse_rate
from shared.channels.registry import ChannelRegistry
from shared.channels.settings import ChannelsConfig
from shared.channels.tencent_sms import TencentSmsChannel, TencentSmsConfig
from shared.channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from shared.channels.webhook import WebhookChannel, WebhookConfig
from shared.channels.wechat import WeChatChannel, WeChatConfig
from shared.channels.wechat_fields import mapping_problems
from shared.logging import get_logger
from shared.sms import segments

log = get_logger(__name__)

MIN_WEBHOOK_SECRET = 32


class ChannelConfigurationError(ValueError):
    """The channel settings cannot work; the message names the variables to set."""


def check_config(config: ChannelsConfig) -> list[str]:
    """Every problem with the channel settings, in words an operator can act on."""
    problems: list[str] = []
    selected = config.channels
    twilio, wechat, webhook = config.twilio, config.wechat, config.webhook

    twilio_vars = {
        "TWILIO_ACCOUNT_SID": bool(twilio.twilio_account_sid),
        "TWILIO_AUTH_TOKEN": twilio.twilio_auth_token is not None,
        "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID": bool(
            twilio.twilio_from_number or twilio.twilio_messaging_service_sid
        ),
    }
    problems += _missing(
        "twilio", "CHANNEL_SMS=twilio", selected.channel_sms == "twilio", twilio_vars
    )
    wechat_vars = {
        "WECHAT_APP_ID": bool(wechat.wechat_app_id),
        "WECHAT_APP_SECRET": wechat.wechat_app_secret is not None,
        "WECHAT_TEMPLATES": bool(wechat.wechat_templates),
    }
    problems += _missing(
        "wechat", "CHANNEL_WECHAT=wechat", selected.channel_wechat == "wechat", wechat_vars
    )
    problems += mapping_problems(wechat.wechat_templates)
    webhook_vars = {
        "WEBHOOK_URL": bool(webhook.webhook_url),
        "WEBHOOK_SECRET": webhook.webhook_secret is not None,
    }
    problems += _missing(
        "webhook", "CHANNEL_SMS=webhook", selected.channel_sms == "webhook", webhook_vars
    )
    tencent = config.tencent
    tencent_vars = {
        "TENCENT_SECRET_ID": bool(tencent.tencent_secret_id),
        "TENCENT_SECRET_KEY": tencent.tencent_secret_key is not None,
        "TENCENT_SMS_SDK_APP_ID": bool(tencent.tencent_sms_sdk_app_id),
        "TENCENT_SMS_SIGN_NAME": bool(tencent.tencent_sms_sign_name),
        "TENCENT_SMS_TEMPLATES": bool(tencent.tencent_sms_templates),
    }
    problems += _missing(
        "tencent", "CHANNEL_SMS=tencent", selected.channel_sms == "tencent", tencent_vars
    )
    aliyun = config.aliyun
    aliyun_vars = {
        "ALIYUN_ACCESS_KEY_ID": bool(aliyun.aliyun_access_key_id),
        "ALIYUN_ACCESS_KEY_SECRET": aliyun.aliyun_access_key_secret is not None,
        "ALIYUN_SMS_SIGN_NAME": bool(aliyun.aliyun_sms_sign_name),
        "ALIYUN_SMS_TEMPLATES": bool(aliyun.aliyun_sms_templates),
    }
    problems += _missing(
        "aliyun", "CHANNEL_SMS=aliyun", selected.channel_sms == "aliyun", aliyun_vars
    )
    secret = webhook.webhook_secret.get_secret_value() if webhook.webhook_secret else None
    if secret is not None and len(secret) < MIN_WEBHOOK_SECRET:
        problems.append(f"WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters")
    for variable, rate in (
        ("TWILIO_RATE", twilio.twilio_rate),
        ("WECHAT_RATE", wechat.wechat_rate),
        ("WEBHOOK_RATE", webhook.webhook_rate),
        ("ALIYUN_SMS_RATE", config.aliyun.aliyun_sms_rate),
        ("TENCENT_SMS_RATE", config.tencent.tencent_sms_rate),
    ):
        try:
            parse_rate(rate)
        except ValueError as exc:
            problems.append(f"{variable}: {exc}")
    return problems


def _missing(vendor: str, selector: str, chosen: bool, present: dict[str, bool]) -> list[str]:
    absent = [name for name, ok in present.items() if not ok]
    if not absent:
        return []
    if chosen:
        return [f"{selector} needs {name}" for name in absent]
    if len(absent) < len(present):  # some set, some not: an unfinished configuration
        return [
            f"{vendor} is half-configured: set {name} (or unset the other {vendor} variables)"
            for name in absent
        ]
    return []


def build_registry(
    redis: Redis,
    config: ChannelsConfig | None = None,
    *,
    key_prefix: str = "mmt",
    daily_cap: SmsDailyCapSettings | None = None,
) -> ChannelRegistry:
    """The registry for this process. Raises ChannelConfigurationError listing every problem.

    Adapters open their HTTP pools on first send, so this may run outside the event loop;
    close the registry (`await registry.aclose()`) at shutdown.
    """
    config = config or ChannelsConfig()
    problems = check_config(config)
    if problems:
        raise ChannelConfigurationError("channel settings: " + "; ".join(problems))
    common = config.channels
    sms: Channel
    if common.channel_sms == "twilio":
        sms = _twilio(redis, config, key_prefix)
    elif common.channel_sms == "webhook":
        sms = _webhook(redis, config, key_prefix, "sms")
    elif common.channel_sms == "tencent":
        sms = _tencent(redis, config, key_prefix)
    elif common.channel_sms == "aliyun":
        sms = _aliyun(redis, config, key_prefix)
    else:
        sms = ConsoleChannel("sms")
    # Outside pacing: a send the cap refuses takes no slot of the provider's rate.
    sms = daily_capped(sms, redis, common.channel_sms, key_prefix, daily_cap)
    wechat: Channel = (
        _wechat(redis, config, key_prefix)
        if common.channel_wechat == "wechat"
        else ConsoleChannel("wechat")
    )
    webhook: Channel = (
        _webhook(redis, config, key_prefix, "webhook")
        if config.webhook.webhook_url
        else ConsoleChannel("webhook")
    )
    if common.channel_sms != "twilio" and config.twilio.twilio_account_sid:
        log.warning("channels.twilio_configured_but_unused", channel_sms=common.channel_sms)
    if common.channel_sms != "tencent" and config.tencent.tencent_secret_id:
        log.warning("channels.tencent_configured_but_unused", channel_sms=common.channel_sms)
    if common.channel_sms != "aliyun" and config.aliyun.aliyun_access_key_id:
        log.warning("channels.aliyun_configured_but_unused", channel_sms=common.channel_sms)
    if common.channel_wechat != "wechat" and config.wechat.wechat_app_id:
        log.warning("channels.wechat_configured_but_unused")
    log.info(
        "channels.configured",
        sms=common.channel_sms,
        wechat=common.channel_wechat,
        webhook="webhook" if config.webhook.webhook_url else "console",
    )
    return ChannelRegistry([sms, wechat, webhook])


def _paced(
    channel: Channel,
    redis: Redis,
    config: ChannelsConfig,
    rate_text: str,
    key: str,
    *,
    by_segments: bool = False,
) -> Channel:
    rate = parse_rate(rate_text)
    if rate is None:
        return channel

    def cost(message: OutboundMessage) -> int:
        return segments(message.text) if by_segments else 1

    return PacedChannel(
        channel,
        Pacer(redis, key, rate),
        cost=cost,
        max_wait_s=config.channels.pacing_max_wait_s,
    )


def _twilio(redis: Redis, config: ChannelsConfig, prefix: str) -> Channel:
    settings, common = config.twilio, config.channels
    assert settings.twilio_account_sid
    assert settings.twilio_auth_token
    if common.scheduler_url is None:
        log.warning(
            "channels.twilio_without_receipts", hint="set SCHEDULER_PUBLIC_URL or PUBLIC_BASE_URL"
        )
    channel = TwilioSmsChannel(
        TwilioConfig(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback_base=common.scheduler_url,
            api_base_url=settings.twilio_api_base_url,
            timeout_s=common.channel_timeout_s,
            max_connections=common.channel_max_connections,
        )
    )
    # Twilio paces each sender (a number, or a messaging service's pool) by segments.
    sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
    key = f"{prefix}:pace:twilio:{settings.twilio_account_sid}:{sender}"
    return _paced(channel, redis, config, settings.twilio_rate, key, by_segments=True)


def _tencent(redis: Redis, config: ChannelsConfig, prefix: str) -> Channel:
    settings, common = config.tencent, config.channels
    assert settings.tencent_secret_id
    assert settings.tencent_secret_key
    assert settings.tencent_sms_sdk_app_id
    assert settings.tencent_sms_sign_name
    channel = TencentSmsChannel(
        TencentSmsConfig(
            secret_id=settings.tencent_secret_id,
            secret_key=settings.tencent_secret_key.get_secret_value(),
            sdk_app_id=settings.tencent_sms_sdk_app_id,
            sign_name=settings.tencent_sms_sign_name,
            templates=settings.tencent_sms_templates,
            region=settings.tencent_sms_region,
            api_base_url=settings.tencent_sms_api_base_url,
            timeout_s=common.channel_timeout_s,
            max_connections=common.channel_max_connections,
        )
    )
    # Tencent counts SendSms calls per application (one message a call here), not segments.
    key = f"{prefix}:pace:tencent:{settings.tencent_sms_sdk_app_id}"
    return _paced(channel, redis, config, settings.tencent_sms_rate, key)


def _aliyun(redis: Redis, config: ChannelsConfig, prefix: str) -> Channel:
    settings, common = config.aliyun, config.channels
    assert settings.aliyun_access_key_id
    assert settings.aliyun_access_key_secret
    assert settings.aliyun_sms_sign_name
    channel = AliyunSmsChannel(
        AliyunSmsConfig(
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret.get_secret_value(),
            sign_name=settings.aliyun_sms_sign_name,
            templates=settings.aliyun_sms_templates,
            api_base_url=settings.aliyun_sms_api_base_url,
            timeout_s=common.channel_timeout_s,
            max_connections=common.channel_max_connections,
        )
    )
    # Aliyun limits SendSms calls per account (QPS), one message a call here: not segments.
    key = f"{prefix}:pace:aliyun:{settings.aliyun_access_key_id}"
    return _paced(channel, redis, config, settings.aliyun_sms_rate, key)


def wechat_account(
    redis: Redis, config: ChannelsConfig, prefix: str = "mmt"
) -> WeChatChannel | None:
    """The official account's client, for calls beyond sending (binding QR codes), or None
    when CHANNEL_WECHAT is not `wechat`."""
    if config.channels.channel_wechat != "wechat":
        return None
    return _wechat_channel(redis, config, prefix)


def _wechat(redis: Redis, config: ChannelsConfig, prefix: str) -> Channel:
    settings = config.wechat
    channel = _wechat_channel(redis, config, prefix)
    key = f"{prefix}:pace:wechat:{settings.wechat_app_id}"
    return _paced(channel, redis, config, settings.wechat_rate, key)


def _wechat_channel(redis: Redis, config: ChannelsConfig, prefix: str) -> WeChatChannel:
    settings, common = config.wechat, config.channels
    assert settings.wechat_app_id
    assert settings.wechat_app_secret
    return WeChatChannel(
        WeChatConfig(
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret.get_secret_value(),
            api_base_url=settings.wechat_api_base_url,
            templates=settings.wechat_templates,
            send_mode=settings.wechat_send_mode,
            token_margin_s=settings.wechat_token_margin_s,
            timeout_s=common.channel_timeout_s,
            max_connections=common.channel_max_connections,
            key_prefix=prefix,
        ),
        redis,
    )


def _webhook(redis: Redis, config: ChannelsConfig, prefix: str, code: str) -> Channel:
    settings, common = config.webhook, config.channels
    assert settings.webhook_url
    assert settings.webhook_secret
    channel = WebhookChannel(
        WebhookConfig(
            url=settings.webhook_url,
            secret=settings.webhook_secret.get_secret_value(),
            timeout_s=common.channel_timeout_s,
            max_connections=common.channel_max_connections,
        ),
        code,
    )
    # One endpoint, one rate, whichever code it serves.
    return _paced(channel, redis, config, settings.webhook_rate, f"{prefix}:pace:webhook")
