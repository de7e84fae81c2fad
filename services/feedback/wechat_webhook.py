"""The official account's server URL: verification (GET) and patients' messages (POST).

Every call is signed with WECHAT_SERVER_TOKEN (`signature` over token, timestamp, nonce);
safe mode adds `msg_signature` over the encrypted body. A wrong signature is 403 and nothing
is stored; XML with a DOCTYPE or entity is 400. A signed message is appended to the inbound
streams and answered "success" at once (WeChat waits 5 s, then retries); the worker does
the rest (`inbound_worker.py`): text messages go through the reply grammar;
subscribe/unsubscribe are recorded for known patients; a scan of a binding QR code
(scene `bind:<code>`) publishes ChannelBound with the openid encrypted, for the scheduler;
a click on a menu button (`MY_RECORD`, `HELP`) is answered as the keyword it stands for.
Answers go out as customer-service messages (the patient has just written).
"""

from __future__ import annotations

import hashlib
import time

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from redis.asyncio import Redis

from services.feedback.inbound import INBOUND, SUBSCRIBE, UNSUBSCRIBE
from services.feedback.inbound_stream import NotAccepted, accept, sealed
from services.feedback.webhooks import (
    NOT_ACCEPTED,
    Req,
    WebhookConfig,
    plain,
    read_capped,
    refusals,
)
from services.feedback.wechat import BadCrypto, SafeMode, UnsafeXml, check_signature, parse_xml
from shared.access.web import OPEN
from shared.bus import BusKeys
from shared.crypto import IdentifierCipher
from shared.messages import InboundReceived
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


def _scene(fields: dict[str, str]) -> str | None:
    key = fields.get("EventKey", "").removeprefix("qrscene_")
    return key[len(_BIND) :] if key.startswith(_BIND) else None


@post(
    PATH,
    opt=OPEN,
    tags=["webhooks"],
    status_code=200,
    summary="WeChat messages and events (signed; plain or safe mode); accepted with "
    '"success", answered by a customer-service message from the worker',
    responses=refusals(
        _400="Unsafe XML, or no FromUserName / MsgType",
        _403="Signature does not match, a replayed signature, or it does not decrypt",
        _404="WeChat or safe mode not configured",
        _503="Identifier keys not configured, or the bus cannot take it",
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
    message = _message(config.cipher, openid, fields)
    if message is not None:
        try:
            await accept(state, [message])
        except NotAccepted:
            return plain(NOT_ACCEPTED, 503)
    # WeChat's documented "nothing more to say": it neither retries nor shows the patient
    # an error; the answer, if any, follows as a customer-service message.
    return Response("success", media_type=MediaType.TEXT)


def _message(
    cipher: IdentifierCipher, openid: str, fields: dict[str, str]
) -> InboundReceived | None:
    """What the worker is to handle, or None for a message we do not take (an image, a
    location, another event): as before, nothing is stored for those."""
    kind = fields.get("MsgType", "")
    sender_hash = cipher.lookup_hash(openid)
    event = fields.get("Event", "").lower()
    # Events have no MsgId: WeChat's retries repeat sender and CreateTime (no openid kept).
    created = f"{sender_hash[:24]}:{fields.get('CreateTime')}"
    scene = _scene(fields) if event in (SUBSCRIBE, "scan") else None
    key = fields.get("EventKey", "")

    def wechat(
        provider_id: str, text: str = "", event: str | None = None, bind: str | None = None
    ) -> InboundReceived:
        return sealed(
            cipher,
            channel="wechat",
            provider="wechat",
            provider_id=provider_id,
            address=openid,
            text=text,
            event=event,
            bind_code=bind,
        )

    if scene:
        return wechat(f"{created}:bind", bind=scene)
    if event == "click" and key in MENU_KEYWORDS:
        # A menu button (wechat/menu.json) is the keyword the patient could have typed.
        return wechat(f"{created}:click:{key}", text=MENU_KEYWORDS[key])
    if kind == "text" or event in (SUBSCRIBE, UNSUBSCRIBE):
        provider_id = fields.get("MsgId") or created
        if event:
            return wechat(f"{provider_id}:{event}", event=event)
        return wechat(provider_id, text=fields.get("Content", ""))
    return None
