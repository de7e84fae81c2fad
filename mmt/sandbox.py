"""`mmt up --sandbox`: the real adapters against local fake providers, no credentials.

A newcomer sees the whole path (Twilio's SDK posting to a Messages API, signed status
callbacks coming back, WeChat tokens and template messages) on one laptop. Every setting
given in the environment wins over the sandbox's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import typer

ROOT = Path(__file__).resolve().parents[1]
SID, TOKEN = "AC" + "5a" * 16, "sandbox-auth-token"
APP_ID, APP_SECRET = "wx5a5a5a5a5a5a5a5a", "sandbox-app-secret"
KINDS = ("dose", "missed_dose", "lesson", "urine_test", "appointment", "record_reply")


class Starts(Protocol):
    def start(self, name: str, argv: list[str], cwd: Path | None = None) -> object: ...


def start_fakes(
    supervisor: Starts,
    env: dict[str, str],
    scheduler_url: str,
    free_port: Callable[[], int],
    wait_for_port: Callable[[int, float], None],
) -> None:
    if not (ROOT / "deploy" / "fakes").is_dir():
        typer.echo(
            "error: --sandbox needs the fake providers (deploy/fakes) of a source checkout",
            err=True,
        )
        raise typer.Exit(2)
    ports = {name: free_port() for name in ("twilio", "wechat")}
    supervisor.start(
        "fake-twilio",
        [
            sys.executable,
            "-m",
            "deploy.fakes.twilio",
            "--port",
            str(ports["twilio"]),
            "--account-sid",
            SID,
            "--auth-token",
            TOKEN,
        ],
        cwd=ROOT,
    )
    supervisor.start(
        "fake-wechat",
        [
            sys.executable,
            "-m",
            "deploy.fakes.wechat",
            "--port",
            str(ports["wechat"]),
            "--app-id",
            APP_ID,
            "--app-secret",
            APP_SECRET,
        ],
        cwd=ROOT,
    )
    for port in ports.values():
        wait_for_port(port, 20)
    templates = {
        kind: {"template_id": f"sandbox-{kind}", "data": {"first": "first"}} for kind in KINDS
    }
    sandbox = {
        "CHANNEL_SMS": "twilio",
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{ports['twilio']}",
        "TWILIO_RATE": "50/second",
        "PUBLIC_BASE_URL": scheduler_url,  # where the fake Twilio posts its receipts
        "CHANNEL_WECHAT": "wechat",
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_API_BASE_URL": f"http://127.0.0.1:{ports['wechat']}",
        "WECHAT_TEMPLATES": json.dumps(templates),
    }
    for name, value in sandbox.items():
        env.setdefault(name, value)
    typer.echo(
        f"sandbox: fake Twilio at http://127.0.0.1:{ports['twilio']}, fake WeChat at "
        f"http://127.0.0.1:{ports['wechat']} (GET /_fake/stats on each)"
    )
