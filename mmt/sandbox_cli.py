"""`mmt sandbox reply`: be a patient of `mmt up --sandbox` and answer by SMS or WeChat.

The reply goes the way a real one does: to the fake provider, which posts it to the
feedback service signed as Twilio (or WeChat) signs it, or pushed as Aliyun or Tencent push
it (CHANNEL_SMS=aliyun|tencent). The feedback service accepts it at once and its worker
answers by SMS (or a WeChat message) through the same fake, which keeps the texts it took
for each number: what it took after the reply is what the patient's phone would show.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer

from mmt.sandbox import sandbox_file
from shared.errors import InvalidInput
from shared.settings import get_settings

sandbox = typer.Typer(
    help="Act as a patient of the sandbox (`mmt up --sandbox`).", no_args_is_help=True
)


def _fakes() -> dict[str, str]:
    path = sandbox_file(get_settings().service)
    try:
        found: dict[str, str] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(
            f"error: no sandbox found ({path} is missing): start `mmt up --sandbox` in this "
            "folder first, and run this command from a second terminal",
            err=True,
        )
        raise typer.Exit(2) from exc
    return found


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (the sandbox's loopback fake)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        typer.echo(f"error: the fake provider answered {exc.code}: {detail}", err=True)
        raise typer.Exit(1) from exc
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(
            f"error: the sandbox does not answer at {url} ({exc}): is `mmt up --sandbox` "
            "still running?",
            err=True,
        )
        raise typer.Exit(1) from exc
    return answer


# How long the worker's answer is waited for: it usually comes within a second; a reply
# that gets none (a second STOP) waits this long.
ANSWER_WAIT_S = 10.0


def _texts(fake: str, address: str) -> list[str] | None:
    """What the fake accepted for `address` so far; None from a fake that does not say."""
    query = urllib.parse.urlencode({"to": address})
    try:
        with urllib.request.urlopen(f"{fake}/_fake/texts?{query}", timeout=5) as response:  # noqa: S310
            texts: list[str] = json.loads(response.read())["texts"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
    return texts


def _answered(fake: str, address: str, before: list[str] | None) -> list[str]:
    """The texts the worker's answer added, once it came (or nothing after the wait)."""
    if before is None:
        return []
    deadline = time.monotonic() + ANSWER_WAIT_S
    while time.monotonic() < deadline:
        now = _texts(fake, address) or []
        if len(now) > len(before):
            return now[len(before) :]
        time.sleep(0.1)
    return []


def _e164(phone: str) -> str:
    """The number as the scheduler stores it and Twilio sends it (+86... for a bare
    Chinese mobile number)."""
    from services.scheduler.patients import normalise_phone

    try:
        return normalise_phone(phone)
    except InvalidInput as exc:
        typer.echo(f"error: --phone: {exc}", err=True)
        raise typer.Exit(2) from exc


@sandbox.command("reply")
def reply(
    text: Annotated[str, typer.Argument(help="What the patient writes: 1-5, STOP, HELP, ...")],
    phone: Annotated[
        str | None,
        typer.Option(help="The patient's mobile number: an SMS via the fake of CHANNEL_SMS."),
    ] = None,
    openid: Annotated[
        str | None, typer.Option(help="The patient's WeChat openid: via the fake WeChat.")
    ] = None,
) -> None:
    """Send a patient's reply through the sandbox's fake provider and print the answer."""
    if (phone is None) == (openid is None):
        typer.echo("error: name the patient with --phone or with --openid (one of them)", err=True)
        raise typer.Exit(2)
    fakes = _fakes()
    if phone is not None:
        # The fake SMS provider of CHANNEL_SMS (Twilio, Aliyun or Tencent); older files: Twilio.
        fake, address = fakes.get("sms") or fakes["twilio"], _e164(phone)
        before = _texts(fake, address)
        answer = _post(f"{fake}/_fake/inbound", {"from": address, "body": text})
    else:
        fake, address = fakes["wechat"], str(openid)
        before = _texts(fake, address)
        answer = _post(f"{fake}/_fake/inbound", {"openid": openid, "text": text})
    if answer["status"] != 200:
        typer.echo(
            f"error: the feedback service answered {answer['status']}: {answer['answer']}",
            err=True,
        )
        raise typer.Exit(1)
    said = answer["replies"] or _answered(fake, address, before)
    for line in said:
        typer.echo(line)
    if not said:
        typer.echo("(recorded; no answer is sent for this one)", err=True)
