"""The fake WeChat's scheduled pushes: template messages and subscription notices.

Both check the keyword fields as WeChat documents them, with this module's own code (not
the adapter's, so that a rule the adapter gets wrong shows up as WeChat's 47003): a field's
name gives its type by prefix (`thing1`, `time2`, ...); a value that breaks the type's rule
is refused with `47003 argument invalid! data.thing1.value invalid`. Fields WeChat stopped
showing on 2023-05-04 (`first`, `remark`) and names of no type are accepted and dropped, as
WeChat drops them, and counted under `fields_not_shown`; a card left with nothing to show
is counted under `empty_cards`. What a patient would see is kept in `GET /_fake/cards`.

Template sends honour `client_msg_id` per openid for `dedupe_s` (600 s: WeChat's 10
minutes): a repeat gets the first msgid back, is not shown again, and is counted under
`duplicates_dropped`. `slow_answer_ms` delays the answer *after* the send was taken, as a
lost answer looks to the caller (a timeout, then a retry).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from deploy.fakes.common import STATE, FakeState

SENT_IDS: web.AppKey[dict[tuple[str, str], tuple[int, float]]] = web.AppKey("client_msg_ids")
CARDS: web.AppKey[list[dict[str, Any]]] = web.AppKey("cards")
MAX_CARDS = 1000
NOT_SHOWN = frozenset({"first", "remark"})
_NAME = re.compile(r"([a-z_]+?)\d+")


def _han(text: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" for c in text)


def _printable_ascii(text: str) -> bool:
    return all(33 <= ord(c) <= 126 for c in text)


def _moments(text: str, formats: tuple[str, ...]) -> bool:
    """One moment, or two joined by ~, each in one of `formats`."""
    parts = text.split("~")
    if len(parts) > 2:
        return False
    for part in parts:
        for form in formats:
            try:
                datetime.strptime(part, form)
                break
            except ValueError:
                continue
        else:
            return False
    return True


_DAY, _HM = "%Y年%m月%d日", "%H:%M"
_TIMES = (_HM, f"{_DAY} {_HM}", f"{_DAY}{_HM}")
_DATES = (_DAY, f"{_DAY} {_HM}", f"{_DAY}{_HM}")


def _number(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    return len(text) <= 32 and whole.isdigit() and (fraction.isdigit() or "." not in text)


def _amount(text: str) -> bool:
    digits = text[1:] if text[:1] in "¥￥$" else text.removesuffix("元")
    if digits == text or not digits:
        return False
    whole, _, cents = digits.partition(".")
    return whole.isdigit() and len(whole) <= 10 and (cents == "" or cents.isdigit())


def _name(text: str) -> bool:
    return (len(text) <= 10 and _han(text.replace("·", ""))) or (
        len(text) <= 20 and text.isascii() and all(c.isalpha() or c in " ." for c in text)
    )


VALID: dict[str, Any] = {
    "thing": lambda v: len(v) <= 20,
    "phrase": lambda v: len(v) <= 5 and _han(v),
    "character_string": lambda v: len(v) <= 32 and _printable_ascii(v),
    "number": _number,
    "letter": lambda v: len(v) <= 32 and v.isascii() and v.isalpha(),
    "symbol": lambda v: len(v) <= 5 and _printable_ascii(v) and not any(c.isalnum() for c in v),
    "time": lambda v: _moments(v, _TIMES),
    "date": lambda v: _moments(v, _DATES),
    "amount": _amount,
    "phone_number": lambda v: len(v) <= 17 and all(c.isdigit() or c in "+-" for c in v),
    "name": _name,
}


def _err(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: fake"})


def _shown(state: FakeState[Any], data: Any) -> dict[str, str] | web.Response:
    """The fields a patient sees, or WeChat's refusal of the first invalid one."""
    if not isinstance(data, dict):
        return _err(47001, "data format error")
    shown: dict[str, str] = {}
    for name, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        match = _NAME.fullmatch(str(name))
        kind = match.group(1) if match else None
        if name in NOT_SHOWN or kind not in VALID:
            state.counters["fields_not_shown"] += 1
            continue
        text = str(value) if value is not None else ""
        if not text or "\n" in text or "\r" in text or not VALID[kind](text):
            state.counters["invalid_fields"] += 1
            return _err(47003, f"argument invalid! data.{name}.value invalid")
        shown[name] = text
    if not shown:
        state.counters["empty_cards"] += 1
    return shown


def _known_template(state: FakeState[Any], body: dict[str, Any]) -> bool:
    template_id = str(body.get("template_id") or "")
    known: set[str] = state.knobs.template_ids
    return bool(template_id) and (not known or template_id in known)


def _msgid() -> int:
    return random.randint(10**15, 10**16)  # noqa: S311


async def _taken(
    request: web.Request, card: dict[str, Any], counter: str, msgid: int
) -> web.Response:
    state: FakeState[Any] = request.app[STATE]
    shown = request.app[CARDS]
    shown.append({**card, "msgid": msgid})
    del shown[:-MAX_CARDS]
    state.accepted[card["openid"]] += 1
    state.counters[counter] += 1
    if state.knobs.slow_answer_ms:  # taken, but the answer comes too late for the caller
        await asyncio.sleep(state.knobs.slow_answer_ms / 1000)
    return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})


async def template_send(request: web.Request, body: dict[str, Any]) -> web.Response:
    """`/cgi-bin/message/template/send`, once the token and the openid passed."""
    state: FakeState[Any] = request.app[STATE]
    if not _known_template(state, body):
        return _err(40037, "invalid template_id")
    openid = str(body["touser"])
    client_msg_id = str(body.get("client_msg_id", ""))
    sent = request.app[SENT_IDS]
    earlier = sent.get((openid, client_msg_id)) if client_msg_id else None
    if earlier is not None and time.monotonic() - earlier[1] < state.knobs.dedupe_s:
        state.counters["duplicates_dropped"] += 1
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": earlier[0]})
    shown = _shown(state, body.get("data"))
    if isinstance(shown, web.Response):
        return shown
    msgid = _msgid()
    if client_msg_id:  # remembered before the (maybe slow) answer: WeChat has the send
        sent[(openid, client_msg_id)] = (msgid, time.monotonic())
    card = {"way": "template", "openid": openid, "template_id": body["template_id"]}
    card.update(fields=shown, url=body.get("url"))
    return await _taken(request, card, "template_sent", msgid)


async def subscribe_send(request: web.Request, body: dict[str, Any]) -> web.Response:
    """`/cgi-bin/message/subscribe/bizsend`, once the token and the openid passed."""
    state: FakeState[Any] = request.app[STATE]
    openid = str(body["touser"])
    if openid in state.knobs.refusing:
        state.counters["subscription_refused"] += 1
        return _err(43101, "user refuse to accept the msg")
    if not _known_template(state, body):
        return _err(40037, "invalid template_id")
    shown = _shown(state, body.get("data"))
    if isinstance(shown, web.Response):
        return shown
    card = {"way": "subscribe", "openid": openid, "template_id": body["template_id"]}
    card.update(fields=shown, url=body.get("page"))
    return await _taken(request, card, "subscribe_sent", _msgid())


async def cards(request: web.Request) -> web.Response:
    """What patients were shown, oldest first (the last 1,000)."""
    return web.json_response(request.app[CARDS])


def install(app: web.Application) -> None:
    app[SENT_IDS] = {}
    app[CARDS] = []
    app.router.add_get("/_fake/cards", cards)
