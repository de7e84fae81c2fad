"""`mmt up --sandbox`: the real adapters against local fake providers, no credentials.

A newcomer sees the whole path (Twilio's SDK posting to a Messages API, signed status
callbacks coming back, WeChat tokens and template messages, patients' replies signed as
each provider signs them) on one laptop. Every setting given in the environment wins over
the sandbox's, and the fakes are started with the values that won.

Each service gets its own public URL (SCHEDULER_PUBLIC_URL for receipts, FEEDBACK_PUBLIC_URL
for replies): on a laptop every service has its own port, so no one base URL is right for
both. Where the fakes listen is written to `<var>/sandbox.json` (beside the development
secrets), which `mmt sandbox reply` reads.
"""

from __future__ import annotations

import atexit
import json
import sys
from pathlib import Path
from typing import Protocol

import typer

from mmt.sandbox_cn import DOMESTIC, fake_argv
from mmt.sandbox_cn import settings as domestic_settings
from shared.channels.wechat_fields import SUGGESTED_DATA
from shared.net import free_port, wait_for_port
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
SID, TOKEN = "AC" + "5a" * 16, "sandbox-auth-token"
APP_ID, APP_SECRET = "wx5a5a5a5a5a5a5a5a", "sandbox-app-secret"
SERVER_TOKEN = "sandbox-server-token"  # noqa: S105 (the sandbox's own, like the others)
NUMBER = "+15005550006"  # the sandbox account's sender number, which patients text back
KINDS = (
    "dose",
    "missed_dose",
    "lesson",
    "urine_test",
    "appointment",
    "record_reply",
    "closure_notice",
)


class Starts(Protocol):
    def start(self, name: str, argv: list[str], cwd: Path | None = None) -> object: ...


def sandbox_file(service: ServiceSettings) -> Path:
    """Where a running sandbox says where its fakes are: `<var>/sandbox.json`."""
    return Path(service.worker_heartbeat_dir).parent / "sandbox.json"


def start_fakes(
    supervisor: Starts,
    env: dict[str, str],
    service: ServiceSettings,
) -> None:
    if not (ROOT / "deploy" / "fakes").is_dir():
        typer.echo(
            "error: --sandbox needs the fake providers (deploy/fakes) of a source checkout",
            err=True,
        )
        raise typer.Exit(2)
    host = service.service_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    scheduler_url = f"http://{shown}:{service.port('scheduler')}"
    feedback_url = f"http://{shown}:{service.port('feedback')}"
    # CHANNEL_SMS=aliyun or tencent: that vendor's fake instead of Twilio's (mmt/sandbox_cn.py).
    chosen = env.get("CHANNEL_SMS", "")
    sms = chosen if chosen in DOMESTIC else "twilio"
    ports = {name: free_port() for name in (sms, "wechat")}
    fakes = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    sms_settings = (
        {
            "TWILIO_ACCOUNT_SID": SID,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "TWILIO_FROM_NUMBER": NUMBER,
            "TWILIO_API_BASE_URL": fakes["twilio"],
            "TWILIO_RATE": "50/second",
        }
        if sms == "twilio"
        else domestic_settings(sms, fakes[sms])
    )
    templates = {kind: {"template_id": f"sandbox-{kind}", "data": SUGGESTED_DATA} for kind in KINDS}
    sandbox = {
        "CHANNEL_SMS": "twilio",
        **sms_settings,
        "SCHEDULER_PUBLIC_URL": scheduler_url,  # where the fake SMS provider posts receipts
        "FEEDBACK_PUBLIC_URL": feedback_url,  # where the fakes post patients' replies
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_API_BASE_URL": fakes["wechat"],
        "WECHAT_TEMPLATES": json.dumps(templates),
        "WECHAT_SERVER_TOKEN": SERVER_TOKEN,  # turns feedback's /webhooks/wechat on
    }
    for name, value in sandbox.items():
        if not env.get(name):
            env[name] = value
    replies_to = env["FEEDBACK_PUBLIC_URL"].rstrip("/")
    python = sys.executable
    if sms != "twilio":
        receipts_to = env["SCHEDULER_PUBLIC_URL"].rstrip("/")
        argv = fake_argv(sms, ports[sms], env, receipts_to, replies_to)
        supervisor.start(f"fake-{sms}", argv, cwd=ROOT)
    else:
        supervisor.start(
            "fake-twilio",
            [
                python,
                "-m",
                "deploy.fakes.twilio",
                "--port",
                str(ports["twilio"]),
                "--account-sid",
                env["TWILIO_ACCOUNT_SID"],
                "--auth-token",
                env["TWILIO_AUTH_TOKEN"],
                "--number",
                env.get("TWILIO_FROM_NUMBER") or NUMBER,
                "--sms-url",
                f"{replies_to}/webhooks/twilio/sms",
            ],
            cwd=ROOT,
        )
    supervisor.start(
        "fake-wechat",
        [
            python,
            "-m",
            "deploy.fakes.wechat",
            "--port",
            str(ports["wechat"]),
            "--app-id",
            env["WECHAT_APP_ID"],
            "--app-secret",
            env["WECHAT_APP_SECRET"],
            "--server-url",
            f"{replies_to}/webhooks/wechat",
            "--server-token",
            env["WECHAT_SERVER_TOKEN"],
        ],
        cwd=ROOT,
    )
    for port in ports.values():
        wait_for_port(port, 20)
    path = sandbox_file(service)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "sms": the fake `mmt sandbox reply --phone` posts through, whichever CHANNEL_SMS is.
    where = {**fakes, "sms": fakes[sms], "feedback": feedback_url}
    path.write_text(json.dumps(where, indent=2) + "\n")
    atexit.register(path.unlink, missing_ok=True)
    typer.echo(
        f"sandbox: fake {sms.title()} at {fakes[sms]}, fake WeChat at {fakes['wechat']} "
        "(GET /_fake/stats on each)"
    )
    typer.echo(
        "patients: `mmt sandbox reply --phone <number> 1` (or --openid <openid>; STOP, HELP, "
        "any words) texts the feedback service as the patient would"
    )
