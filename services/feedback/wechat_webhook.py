"""The official account's server URL: verification (GET) and patients' messages (POST).

Every call is signed with WECHAT_SERVER_TOKEN (`signature` over token, timestamp, nonce);
safe mode adds `msg_signature` over the encrypted body. A wrong signature is 403 and nothing
is stored; XML with a DOCTYPE or entity is 400. Text messages go through the reply grammar;
subscribe/unsubscribe are recorded for known patients; a scan of a binding QR code
(scene `bind:<code>`) publishes ChannelBound with the openid encrypted, for the scheduler;
a click on a menu button (`MY_RECORD`, `HELP`) is answered as the keyword it stands for.
"""

from __future__ import annotations

import hashlib
import time

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from redis.asyncio import Redis

from services.feedback.inbound import INBOUND, SUBSCRIBE, UNSUBSCRIBE, Inbound
from services.feedback.models import Outbox
from services.feedback.replies import reply_text
from services.feedback.webhooks import Req, WebhookConfig, plain, read_capped, receiver, refusals
from services.feedback.wechat import BadCrypto, SafeMode, UnsafeXml, check_signature, parse_xml
from services.feedback.wechat import text_reply as wechat_text
from shared.access.web import OPEN
from shared.bus import BusKeys, add_to_outbox
from shared.crypto import IdentifierCipher
from shared.db import Database
from shared.messages import ChannelBound
from shared.settings import Settings

PATH = "/webhooks/wechat"
_BIND = "bind:"
# The keys of the menu's click buttons (wechat/menu.json, `mmt wechat menu`) and the reply
# keyword each stands for: a click is answered as that keyword would be.
MENU_KEYWORDS = {"MY_RECORD": "RECORD", "HELP": "HELP"}


REPLAY_WINDOW_S = 300  # WeChat retries within seconds; clocks may differ a little


def _token(config: WebhookConfig) -> str | None:
    token = config.feedback.wechat_server_token
    return token.get_secret_value() if token else None


def _signed(request: Req, token: str) -> bool:
    q = request.query_params
    return check_signature(q.get("signature"), token, q.get("timestamp", ""), q.get("nonce", ""))


@get(
    PATH,
    opt=OPEN,
    tags=["webhooks"],
    summary="WeChat server verification (echoes echostr)",
    media_type=MediaType.TEXT,
    responses=refusals(_403="Signature does not match", _404="WeChat not configured"),
)
async def wechat_verify(request: Req, state: State) -> Response[str]:
    token = _token(state.webhooks)
    if token is None:
        return plain("WeChat is not configured", 404)
    if not _signed(request, token):
        return plain("signature does not match", 403)
    return Response(request.query_params.get("echostr", ""), media_type=MediaType.TEXT)


async def _replayed(request: Req, state: State, raw: bytes) -> str | None:
    """Why a signed call is a replay, or None.

    In plain mode WeChat's signature covers the token, timestamp and nonce, not the body:
    whoever captured one signed URL could post any message (a STOP, a need) as anyone.
    So a signature is good for REPLAY_WINDOW_S around its timestamp and for one body:
    WeChat's own retries (same URL, same body) pass and are then de-duplicated by MsgId.
    """
    q = request.query_params
    try:
        stamped = int(q.get("timestamp", ""))
    except ValueError:
        return "timestamp is missing or not a number"
    if abs(time.time() - stamped) > REPLAY_WINDOW_S:
        return f"timestamp is more than {REPLAY_WINDOW_S} s from now"
    call = "|".join((q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", "")))
    # Under the app's own BUS_PREFIX (its settings, as every other key of the service), and
    # gone once no timestamp it covers can pass the window.
    settings: Settings = state.settings
    keys = BusKeys(settings.bus.bus_prefix)
    key = keys.signed_call("wechat", hashlib.sha256(call.encode()).hexdigest())
    body = hashlib.sha256(raw).hexdigest()
    redis: Redis = state.redis
    if await redis.set(key, body, nx=True, ex=2 * REPLAY_WINDOW_S):
        return None
    if await redis.get(key) == body.encode():
        return None  # WeChat retrying the same message
    return "this signature was already used for another message"


def _safe_mode(config: WebhookConfig, token: str) -> SafeMode | None:
    key = config.feedback.wechat_encoding_aes_key
    if key is None or not config.wechat_app_id:
        return None
    return SafeMode(token, key.get_secret_value(), config.wechat_app_id)


async def _bind(db: Database, cipher: IdentifierCipher, openid: str, code: str) -> None:
    async with db.transaction() as session:
        event = ChannelBound(
            binding_code=code,
            openid_encrypted=cipher.encrypt(openid),
            openid_hash=cipher.lookup_hash(openid),
        )
        add_to_outbox(session, Outbox, event)


def _scene(fields: dict[str, str]) -> str | None:
    key = fields.get("EventKey", "").removeprefix("qrscene_")
    return key[len(_BIND) :] if key.startswith(_BIND) else None


@post(
    PATH,
    opt=OPEN,
    tags=["webhooks"],
    status_code=200,
    summary="WeChat messages and events (signed; plain or safe mode); answers a passive reply",
    media_type=MediaType.XML,
    responses=refusals(
        _400="Unsafe XML, or no FromUserName / MsgType",
        _403="Signature does not match, a replayed signature, or it does not decrypt",
        _404="WeChat or safe mode not configured",
        _503="Identifier keys not configured",
    ),
)
async def wechat_message(request: Req, state: State) -> Response[str]:
    config: WebhookConfig = state.webhooks
    token = _token(config)
    if token is None:
        return plain("WeChat is not configured", 404)
    raw = await read_capped(request, config.feedback.feedback_max_body_bytes)
    if not _signed(request, token):
        INBOUND.labels("wechat", "bad_signature").inc()
        return plain("signature does not match", 403)
    replayed = await _replayed(request, state, raw)
    if replayed is not None:
        INBOUND.labels("wechat", "bad_signature").inc()
        return plain(replayed, 403)
    q = request.query_params
    safe: SafeMode | None = None
    try:
        fields = parse_xml(raw)
        if q.get("encrypt_type") == "aes":
            safe = _safe_mode(config, token)
            if safe is None:
                return plain("safe mode is not configured", 404)
            encrypted = fields.get("Encrypt", "")
            parts = (token, q.get("timestamp", ""), q.get("nonce", ""), encrypted)
            if not check_signature(q.get("msg_signature"), *parts):
                INBOUND.labels("wechat", "bad_signature").inc()
                return plain("msg_signature does not match", 403)
            fields = parse_xml(safe.decrypt(encrypted))
    except UnsafeXml as exc:
        INBOUND.labels("wechat", "refused").inc()
        return plain(str(exc), 400)
    except BadCrypto:
        INBOUND.labels("wechat", "refused").inc()
        return plain("the message does not decrypt for this account", 403)
    openid, kind = fields.get("FromUserName", ""), fields.get("MsgType", "")
    if not openid or not kind:
        return plain("a message needs FromUserName and MsgType", 400)
    if config.cipher is None:
        return plain("identifier keys are not configured", 503)
    sender_hash = config.cipher.lookup_hash(openid)
    reply: str | None = None
    event = fields.get("Event", "").lower()
    scene = _scene(fields) if event in (SUBSCRIBE, "scan") else None
    if scene:
        await _bind(state.db, config.cipher, openid, scene)
        INBOUND.labels("wechat", "binding").inc()
        reply = reply_text("subscribe", "zh-CN")
    elif event == "click" and fields.get("EventKey", "") in MENU_KEYWORDS:
        # A menu button (wechat/menu.json) is the keyword the patient could have typed.
        # No MsgId either: a retry repeats sender, CreateTime and the button's key.
        key = fields.get("EventKey", "")
        clicked = Inbound(
            channel="wechat",
            provider_id=f"{sender_hash[:24]}:{fields.get('CreateTime')}:click:{key}",
            sender_hash=sender_hash,
            text=MENU_KEYWORDS[key],
        )
        reply = (await receiver(state).receive(clicked)).reply
    elif kind == "text" or event in (SUBSCRIBE, UNSUBSCRIBE):
        # Events have no MsgId: WeChat's retries repeat sender and CreateTime (no openid kept).
        provider_id = fields.get("MsgId") or f"{sender_hash[:24]}:{fields.get('CreateTime')}"
        outcome = await receiver(state).receive(
            Inbound(
                channel="wechat",
                provider_id=f"{provider_id}:{event}" if event else provider_id,
                sender_hash=sender_hash,
                text=fields.get("Content", ""),
                event=event or None,
            )
        )
        reply = outcome.reply if event != UNSUBSCRIBE else None
    if reply is None:
        # WeChat's "no reply": an empty body (its documented alternative to "success"), so
        # every 200 is what the document says, XML.
        return Response("", media_type=MediaType.XML)
    answer = wechat_text(openid, fields.get("ToUserName", ""), reply)
    if safe is not None:
        answer = safe.encrypt(answer, q.get("nonce", ""), str(int(time.time())))
    return Response(answer, media_type=MediaType.XML)
