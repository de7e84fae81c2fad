"""`mmt up --sandbox` with CHANNEL_SMS=aliyun or tencent: the domestic SMS fake and its wiring.

The real Aliyun or Tencent adapter sends to its fake, which pushes receipts to the
scheduler and patients' texts to the feedback service at the URLs a clinic would set in
the vendor's console (`/webhooks/<vendor>/<token>/...`); the answers go back through the
adapter as SMS with the `reply` template. Every message kind has a template whose one
parameter is the whole text, so what a patient would read is what the fake records.
"""

from __future__ import annotations

import json
import sys

PUSH_TOKEN = "sandbox-push-token-0001"  # noqa: S105 (the sandbox's own, like the others)
DOMESTIC = ("aliyun", "tencent")
# What the suite sends over SMS: reminders, lessons, surveys, answers, staff alerts.
SMS_KINDS = (
    "dose",
    "missed_dose",
    "lesson",
    "urine_test",
    "appointment",
    "record_reply",
    "closure_notice",
    "survey",
    "reply",
    "urgent_need",
)


def settings(vendor: str, fake_url: str) -> dict[str, str]:
    """The adapter's settings against the fake (each yields to the environment's own)."""
    if vendor == "aliyun":
        templates = {
            kind: {"template_code": f"SMS_SANDBOX_{kind.upper()}", "params": {"text": "text"}}
            for kind in SMS_KINDS
        }
        return {
            "ALIYUN_ACCESS_KEY_ID": "LTAI5tSandboxAccessKey0",
            "ALIYUN_ACCESS_KEY_SECRET": "sandbox-access-key-secret",
            "ALIYUN_SMS_SIGN_NAME": "门诊提醒",
            "ALIYUN_SMS_TEMPLATES": json.dumps(templates),
            "ALIYUN_SMS_API_BASE_URL": fake_url,
            "ALIYUN_SMS_PUSH_TOKEN": PUSH_TOKEN,
        }
    templates = {
        kind: {"template_id": str(900001 + n), "params": ["text"]}
        for n, kind in enumerate(SMS_KINDS)
    }
    return {
        "TENCENT_SECRET_ID": "AKIDsandbox00000000000000000000000000",
        "TENCENT_SECRET_KEY": "sandbox-secret-key",
        "TENCENT_SMS_SDK_APP_ID": "1400000000",
        "TENCENT_SMS_SIGN_NAME": "门诊提醒",
        "TENCENT_SMS_TEMPLATES": json.dumps(templates),
        "TENCENT_SMS_API_BASE_URL": fake_url,
        "TENCENT_SMS_PUSH_TOKEN": PUSH_TOKEN,
    }


def fake_argv(
    vendor: str, port: int, env: dict[str, str], receipts_to: str, replies_to: str
) -> list[str]:
    """The fake, started with the settings that won, pushing to the services' public URLs."""
    if vendor == "aliyun":
        token = env["ALIYUN_SMS_PUSH_TOKEN"]
        flags = [
            *("--access-key-id", env["ALIYUN_ACCESS_KEY_ID"]),
            *("--access-key-secret", env["ALIYUN_ACCESS_KEY_SECRET"]),
            *("--sign-name", env["ALIYUN_SMS_SIGN_NAME"]),
            *("--report-url", f"{receipts_to}/webhooks/aliyun/{token}/report"),
            *("--up-url", f"{replies_to}/webhooks/aliyun/{token}/up"),
        ]
    else:
        token = env["TENCENT_SMS_PUSH_TOKEN"]
        flags = [
            *("--secret-id", env["TENCENT_SECRET_ID"]),
            *("--secret-key", env["TENCENT_SECRET_KEY"]),
            *("--sdk-app-id", env["TENCENT_SMS_SDK_APP_ID"]),
            *("--sign-name", env["TENCENT_SMS_SIGN_NAME"]),
            *("--status-url", f"{receipts_to}/webhooks/tencent/{token}/status"),
            *("--reply-url", f"{replies_to}/webhooks/tencent/{token}/reply"),
        ]
    return [sys.executable, "-m", f"deploy.fakes.{vendor}", "--port", str(port), *flags]
