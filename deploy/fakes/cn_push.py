"""What the fake Aliyun and the fake Tencent share: their HTTP pushes (and the client the
fake Twilio pushes its status callbacks with).

Both vendors push JSON to URLs set in their consoles, unsigned: delivery receipts for
accepted sends (Aliyun SmsReport, Tencent status callbacks) and patients' texts (Aliyun
SmsUp, Tencent reply callbacks). Here a fake, given those URLs (flags or knobs), pushes a
receipt `callback_delay_s` after each accepted send, and `POST /_fake/inbound` with
`{"from": "+8613800138000", "body": "1"}` pushes the text as the vendor would. Neither
vendor answers in the response: the answer comes back as a SendSms call to the fake, so the
inbound answer lists the texts the fake was asked to send that number while the push was
being handled (what the patient's phone shows).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from deploy.fakes.common import STATE, FakeState, forward_inbound

TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("push_tasks")
CLIENT: web.AppKey[aiohttp.ClientSession] = web.AppKey("push_client")
# number (E.164) -> the texts (template values joined) the fake accepted for it, in order
TEXTS: web.AppKey[defaultdict[str, list[str]]] = web.AppKey("texts")
JSON = {"Content-Type": "application/json"}


def record_text(app: web.Application, number: str, text: str) -> None:
    app[TEXTS][number].append(text)


def push_later(app: web.Application, url: str | None, body: Any, delay_s: float) -> None:
    """Push `body` to `url` after `delay_s`, as the vendor does after a send; no URL: none."""
    if not url:
        return
    task = asyncio.create_task(_push(app, url, body, delay_s))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def _push(app: web.Application, url: str, body: Any, delay_s: float) -> None:
    state: FakeState[Any] = app[STATE]
    await asyncio.sleep(delay_s)
    try:
        async with app[CLIENT].post(url, data=json.dumps(body), headers=JSON) as response:
            # What the vendor reads: 200 and its success answer, else it would push again.
            key = "pushes_ok" if response.status == 200 else "pushes_refused"
            state.counters[key] += 1
    except (aiohttp.ClientError, TimeoutError):
        state.counters["pushes_failed"] += 1


def inbound_route(
    url_of: Callable[[Any], str | None], payload: Callable[[Any, str, str], Any], flag: str
) -> Callable[[web.Request], Any]:
    """`POST /_fake/inbound`: the patient's text pushed to `url_of(knobs)` as
    `payload(knobs, national_number, text)`."""

    async def inbound(request: web.Request) -> web.Response:
        state: FakeState[Any] = request.app[STATE]
        url = url_of(state.knobs)
        if not url:
            return web.json_response(
                {"error": f"no reply URL: start the fake with {flag}"}, status=409
            )
        try:
            asked = await request.json()
            sender, text = str(asked["from"]).strip(), str(asked["body"])
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                {"error": 'send {"from": "+86...", "body": "..."}'}, status=400
            )
        if not (sender.startswith("+86") and len(sender) == 14):
            return web.json_response(
                {"error": "from must be a mainland mobile in E.164, e.g. +8613800138000"},
                status=400,
            )
        texts = request.app[TEXTS][sender]
        before = len(texts)
        body = json.dumps(payload(state.knobs, sender[3:], text))
        return await forward_inbound(
            request.app[CLIENT], state, url, body, JSON, lambda _answer: texts[before:]
        )

    return inbound


# --- the vendors' push formats -------------------------------------------------------


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def aliyun_report(number: str, biz_id: str, out_id: str, undelivered: bool) -> dict[str, object]:
    """One SmsReport item, as Aliyun pushes it."""
    return {
        "phone_number": number,
        "send_time": now_text(),
        "report_time": now_text(),
        "success": not undelivered,
        "err_code": "MK:0001" if undelivered else "DELIVERED",
        "err_msg": "用户接收失败" if undelivered else "用户接收成功",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": out_id,
    }


def aliyun_up(knobs: Any, number: str, text: str) -> list[dict[str, object]]:
    """An SmsUp push of one patient's text."""
    item = {
        "phone_number": number,
        "send_time": now_text(),
        "content": text,
        "sign_name": knobs.sign_name,
        "dest_code": "1234",
        "sequence_id": secrets.randbelow(10**12),
    }
    return [item]


def tencent_status(number: str, serial_no: str, undelivered: bool) -> dict[str, object]:
    """One status callback item, as Tencent documents it (no SessionContext in it)."""
    return {
        "user_receive_time": now_text(),
        "nationcode": "86",
        "mobile": number,
        "report_status": "FAIL" if undelivered else "SUCCESS",
        "errmsg": "MK:0001" if undelivered else "DELIVRD",
        "description": "用户短信接收失败" if undelivered else "用户短信送达成功",
        "sid": serial_no,
    }


def tencent_reply(knobs: Any, number: str, text: str) -> dict[str, object]:
    """A reply callback: one object, the sender, its text and a Unix time."""
    return {
        "extend": "",
        "mobile": number,
        "nationcode": "86",
        "sign": knobs.sign_name,
        "text": text,
        "time": int(time.time()),
    }


async def http_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """A fake's client for its pushes, and their tasks, ended with the fake."""
    tasks: set[asyncio.Task[None]] = set()
    app[TASKS] = tasks
    app[CLIENT] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    yield
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await app[CLIENT].close()


def enable(app: web.Application, inbound: Callable[[web.Request], Any]) -> None:
    """Give a fake its pushes: the client, the texts it sent, and `/_fake/inbound`."""
    state: FakeState[Any] = app[STATE]
    app[TEXTS] = state.texts  # one record, which `/_fake/texts` lists too
    forget = state.on_reset

    def reset() -> None:
        app[TEXTS].clear()
        if forget is not None:
            forget()

    state.on_reset = reset
    app.router.add_post("/_fake/inbound", inbound)
    app.cleanup_ctx.append(http_lifecycle)
