"""Aliyun's and Tencent's HTTP pushes: delivery receipts and patients' replies.

Both vendors push JSON to a URL configured in their console, and neither signs it. A
secret token in that URL (compared in constant time) and, optionally, a list of the
addresses the vendor pushes from stand in for a signature: `PushGuard`. The wire formats
are typed structs decoded strictly with msgspec, so a push that is not the vendor's shape
is refused as a whole (400) instead of half-applied.

- Aliyun SmsReport: `[{phone_number, send_time, report_time, success, err_code, err_msg,
  sms_size, biz_id, out_id}]`; answered `{"code": 0, "msg": "接收成功"}`.
- Aliyun SmsUp: `[{phone_number, send_time, content, sign_name, dest_code, sequence_id}]`.
- Tencent status: `[{user_receive_time, nationcode, mobile, report_status, errmsg,
  description, sid, ext?}]`; answered `{"result": 0, "errmsg": "OK"}`.
- Tencent reply: `{extend, mobile, nationcode, sign, text, time}` (one object; a list of
  them is accepted too).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any

import msgspec
from pydantic import SecretStr

from shared.channels.base import ReceiptState, StatusUpdate
from shared.channels.settings import AliyunSmsSettings, ChannelSettings, TencentSmsSettings

ALIYUN_OK: dict[str, Any] = {"code": 0, "msg": "接收成功"}
TENCENT_OK: dict[str, Any] = {"result": 0, "errmsg": "OK"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PushRefused(Exception):
    """A push we will not read: `status` (400, 403, 404) and a reason safe to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def parse_networks(cidrs: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False)
        for item in cidrs.split(",")
        if item.strip()
    )


@dataclass(frozen=True)
class PushGuard:
    """What a vendor's push must show to be read: the path token, and an allowed address."""

    vendor: str
    setting: str  # the token's variable, named when it is unset
    token: str | None
    networks: tuple[Network, ...] = ()

    @classmethod
    def of(cls, vendor: str, setting: str, token: SecretStr | None, cidrs: str) -> PushGuard:
        return cls(
            vendor, setting, token.get_secret_value() if token else None, parse_networks(cidrs)
        )

    def check(self, path_token: str, peer: str | None) -> None:
        """Raise PushRefused unless the push may be read."""
        if not self.token:
            raise PushRefused(404, f"{self.vendor} pushes are not configured ({self.setting})")
        # Constant time: the token is the only secret an unsigned push has.
        if not hmac.compare_digest(path_token.encode(), self.token.encode()):
            raise PushRefused(403, "wrong path token")
        if self.networks and not self._allowed(peer):
            raise PushRefused(403, "this address may not push")

    def _allowed(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


@dataclass(frozen=True)
class SmsPushConfig:
    """Both vendors' guards and the body cap, read once when an app is built (the scheduler
    for receipts, the feedback service for replies)."""

    aliyun: PushGuard
    tencent: PushGuard
    max_body_bytes: int

    @classmethod
    def from_environment(cls) -> SmsPushConfig:
        aliyun, tencent = AliyunSmsSettings(), TencentSmsSettings()
        return cls(
            aliyun=PushGuard.of(
                "aliyun",
                "ALIYUN_SMS_PUSH_TOKEN",
                aliyun.aliyun_sms_push_token,
                aliyun.aliyun_sms_push_cidrs,
            ),
            tencent=PushGuard.of(
                "tencent",
                "TENCENT_SMS_PUSH_TOKEN",
                tencent.tencent_sms_push_token,
                tencent.tencent_sms_push_cidrs,
            ),
            max_body_bytes=ChannelSettings().sms_push_max_body_bytes,
        )

    def guard(self, vendor: str) -> PushGuard:
        return self.aliyun if vendor == "aliyun" else self.tencent


def decode(raw: bytes, kind: Any, what: str) -> Any:
    """`raw` as `kind`, strictly; PushRefused(400) saying why not (msgspec's messages name
    the path and type, never a value)."""
    try:
        return msgspec.json.decode(raw, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        raise PushRefused(400, f"not {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise PushRefused(400, f"not JSON: {exc}") from None


@dataclass(frozen=True)
class PushedReply:
    """A patient's text pushed by a vendor, as the feedback service takes it."""

    # What identifies the message across the vendor's retries of the push (Aliyun's
    # sequence_id; Tencent sends none: its sender, time and text). The service stores a
    # keyed hash of it, never the key: Tencent's holds the patient's words.
    key: str
    phone: str  # E.164, for the sender's look-up hash and the answer; never stored or logged
    text: str


def e164(nationcode: str, mobile: str) -> str:
    """+86... from a vendor's country code and national number (as Aliyun and Tencent send
    them); a number already in E.164 stays as it is."""
    mobile = mobile.strip()
    if mobile.startswith("+"):
        return mobile
    code = nationcode.strip().lstrip("+") or "86"
    return f"+{code}{mobile}"


# --- Aliyun ---------------------------------------------------------------------------


class AliyunReport(msgspec.Struct, kw_only=True):
    phone_number: str = ""
    send_time: str = ""
    report_time: str = ""
    success: bool | str
    err_code: str = ""
    err_msg: str = ""
    sms_size: int | str = ""
    biz_id: str = ""
    out_id: str = ""


class AliyunUp(msgspec.Struct, kw_only=True):
    phone_number: str
    send_time: str = ""
    content: str
    sign_name: str = ""
    dest_code: str = ""
    sequence_id: int | str


def aliyun_receipts(raw: bytes) -> list[StatusUpdate]:
    """SmsReport: matched by OutId (our message id) and BizId (Aliyun's)."""
    reports: list[AliyunReport] = decode(raw, list[AliyunReport], "an Aliyun SmsReport array")
    updates = []
    for report in reports:
        ok = report.success is True or str(report.success).lower() == "true"
        updates.append(
            StatusUpdate(
                provider_id=report.biz_id,
                state=ReceiptState.DELIVERED if ok else ReceiptState.FAILED,
                error_code=None if ok else (report.err_code or None),
                message_id=report.out_id or None,
            )
        )
    return updates


def aliyun_replies(raw: bytes) -> list[PushedReply]:
    """SmsUp: `sequence_id` is the message's own id, the same on Aliyun's retries."""
    ups: list[AliyunUp] = decode(raw, list[AliyunUp], "an Aliyun SmsUp array")
    return [
        PushedReply(f"aliyun:{up.sequence_id}", e164("86", up.phone_number), up.content)
        for up in ups
    ]


# --- Tencent --------------------------------------------------------------------------


class TencentReport(msgspec.Struct, kw_only=True):
    user_receive_time: str = ""
    nationcode: str = ""
    mobile: str = ""
    report_status: str
    errmsg: str = ""
    description: str = ""
    sid: str
    # What we sent as SessionContext (our message id), where Tencent echoes it.
    ext: str | dict[str, Any] | None = None


class TencentReply(msgspec.Struct, kw_only=True):
    extend: str = ""
    mobile: str
    nationcode: str = "86"
    sign: str = ""
    text: str
    time: int | str


def _session_context(ext: str | dict[str, Any] | None) -> str | None:
    if isinstance(ext, dict):
        found = ext.get("SessionContext") or ext.get("session_context")
        return str(found) if found else None
    return ext or None


def tencent_receipts(raw: bytes) -> list[StatusUpdate]:
    """Status callbacks: matched by `sid` (the SerialNo SendSms returned) and, when Tencent
    echoes it, our SessionContext."""
    reports: list[TencentReport] = decode(raw, list[TencentReport], "a Tencent status array")
    return [
        StatusUpdate(
            provider_id=report.sid,
            state=(
                ReceiptState.DELIVERED
                if report.report_status.upper() == "SUCCESS"
                else ReceiptState.FAILED
            ),
            error_code=None if report.report_status.upper() == "SUCCESS" else report.errmsg or None,
            message_id=_session_context(report.ext),
        )
        for report in reports
    ]


def tencent_replies(raw: bytes) -> list[PushedReply]:
    """Reply callbacks carry no message id: one is made of the sender, time and text, which
    Tencent repeats unchanged when it retries."""
    found: TencentReply | list[TencentReply] = decode(
        raw, TencentReply | list[TencentReply], "a Tencent reply callback"
    )
    replies = found if isinstance(found, list) else [found]
    result = []
    for reply in replies:
        phone = e164(reply.nationcode, reply.mobile)
        result.append(PushedReply(f"tencent:{phone}|{reply.time}|{reply.text}", phone, reply.text))
    return result
