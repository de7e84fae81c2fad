"""The domestic SMS providers for the dispatch bench: the real Aliyun and Tencent adapters,
each to its fake, which checks every request's signature as the provider does.

Unpaced and uncapped, like the Twilio adapter of the bench: an account's rate and a
number's daily cap are the provider's limits, not the suite's speed, and would hide what is
measured. Every patient gets one message, far below either fake's per-number daily cap.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial

from deploy.fakes.process import RunningFake, running_fake
from shared.channels.aliyun_sms import AliyunSmsChannel, AliyunSmsConfig
from shared.channels.base import Channel
from shared.channels.settings import AliyunSmsTemplate, TencentSmsTemplate
from shared.channels.tencent_sms import TencentSmsChannel, TencentSmsConfig

# The fakes' credentials; no real secret.
ALIYUN_ID, ALIYUN_SECRET = "LTAI5tBench0000000000001", "bench-aliyun-secret"
TENCENT_ID, TENCENT_KEY = "AKIDbench0000000000000000000000000001", "bench-tencent-key"
TENCENT_APP = "1400000009"
SIGN = "门诊提醒"


def aliyun_channel(url: str) -> Channel:
    """Aliyun SMS serving `sms`, dose reminders through one template with the whole text."""
    template = AliyunSmsTemplate(template_code="SMS_900001", params={"content": "text"})
    config = AliyunSmsConfig(ALIYUN_ID, ALIYUN_SECRET, SIGN, {"dose": template}, api_base_url=url)
    return AliyunSmsChannel(config)


def tencent_channel(url: str) -> Channel:
    """Tencent Cloud SMS serving `sms`, dose reminders through one template."""
    template = TencentSmsTemplate(template_id="900001", params=["text"])
    config = TencentSmsConfig(
        TENCENT_ID,
        TENCENT_KEY,
        sdk_app_id=TENCENT_APP,
        sign_name=SIGN,
        templates={"dose": template},
        api_base_url=url,
    )
    return TencentSmsChannel(config)


Fake = Callable[[], AbstractContextManager[RunningFake]]
ALIYUN_FAKE = ("--access-key-id", ALIYUN_ID, "--access-key-secret", ALIYUN_SECRET)
TENCENT_FAKE = ("--secret-id", TENCENT_ID, "--secret-key", TENCENT_KEY, "--sdk-app-id", TENCENT_APP)
# --channel value -> (its fake as a child process, its adapter pointed at a URL)
CN_SMS: dict[str, tuple[Fake, Callable[[str], Channel]]] = {
    "aliyun": (partial(running_fake, "aliyun", *ALIYUN_FAKE, "--sign-name", SIGN), aliyun_channel),
    "tencent": (
        partial(running_fake, "tencent", *TENCENT_FAKE, "--sign-name", SIGN),
        tencent_channel,
    ),
}
