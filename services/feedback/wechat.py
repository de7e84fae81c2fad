"""WeChat official-account callbacks, without I/O: signatures, safe XML, safe-mode AES, replies.

XML is parsed by the standard library's expat with every DOCTYPE and entity declaration
refused before it can be expanded: WeChat never sends either, and refusing them is what
stops entity bombs and external entities (the approach of defusedxml, without the extra
dependency). Messages are flat (`<xml><Field>value</Field>...</xml>`): that is all we read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from typing import Any
from xml.parsers import expat

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class UnsafeXml(ValueError):
    """A body with a DOCTYPE or entity declaration, or not well-formed XML."""


class BadCrypto(ValueError):
    """A safe-mode message that does not decrypt to one of ours."""


def signature(*parts: str) -> str:
    """sha1 of the parts sorted and joined: the URL `signature` and safe mode's msg_signature."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324


def check_signature(expected: str | None, *parts: str) -> bool:
    return bool(expected) and hmac.compare_digest(signature(*parts), str(expected).lower())


def parse_xml(body: bytes) -> dict[str, str]:
    """The root's child elements as text; UnsafeXml for a DOCTYPE, an entity or bad XML."""
    parser = expat.ParserCreate()
    fields: dict[str, str] = {}
    stack: list[str] = []
    text: list[str] = []

    def refuse(*_: Any) -> None:
        raise UnsafeXml("DOCTYPE and entity declarations are refused")

    def refuse_external(*_: Any) -> int:
        raise UnsafeXml("external entities are refused")

    def start(name: str, _attributes: dict[str, str]) -> None:
        stack.append(name)
        text.clear()

    def end(name: str) -> None:
        stack.pop()
        if len(stack) == 1:  # a direct child of <xml>
            fields[name] = "".join(text)
        text.clear()

    def data(chunk: str) -> None:
        text.append(chunk)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise UnsafeXml(f"not well-formed XML ({expat.ErrorString(exc.code)})") from None
    return fields


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, content: str, now: int | None = None) -> str:
    """A passive reply: a text message back to the sender, in the same response."""
    created = int(time.time()) if now is None else now
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


class SafeMode:
    """Safe-mode (AES) messages: key = base64(EncodingAESKey + "="), IV = key[:16]."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("WECHAT_ENCODING_AES_KEY must be the account's 43-character key")
        self.token = token
        self.key = key
        self.app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, encrypted: str) -> bytes:
        """The inner XML; BadCrypto when it is not ours (wrong key, padding or AppID)."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except ValueError:
            raise BadCrypto("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise BadCrypto("Encrypt is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise BadCrypto("bad padding")
        plain = plain[:-pad]
        if len(plain) < 20:
            raise BadCrypto("too short")
        (length,) = struct.unpack(">I", plain[16:20])
        message, app_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length or app_id.decode("utf-8", "replace") != self.app_id:
            raise BadCrypto("not for this account")
        return message

    def encrypt(
        self, message: str, nonce: str, timestamp: str, random16: bytes | None = None
    ) -> str:
        """The reply envelope: Encrypt, MsgSignature, TimeStamp, Nonce."""
        body = message.encode("utf-8")
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body
        plain += self.app_id.encode("utf-8")
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        encrypted = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
        signed = signature(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{_cdata(signed)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
        )
