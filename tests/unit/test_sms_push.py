"""Aliyun's and Tencent's push formats and the guard standing in for their signature."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import SecretStr, ValidationError

from shared.channels.base import ReceiptState, StatusUpdate
from shared.channels.settings import AliyunSmsSettings
from shared.channels.sms_push import (
    PushGuard,
    PushRefused,
    aliyun_receipts,
    aliyun_replies,
    e164,
    tencent_receipts,
    tencent_replies,
)

TOKEN = "a-push-token-of-some-length"


def refusal(guard: PushGuard, token: str, peer: str | None) -> tuple[int, str] | None:
    try:
        guard.check(token, peer)
    except PushRefused as exc:
        return exc.status, exc.reason
    return None


def test_the_guard_wants_the_token_then_an_allowed_address() -> None:
    open_to_all = PushGuard.of("aliyun", "ALIYUN_SMS_PUSH_TOKEN", SecretStr(TOKEN), "")
    assert refusal(open_to_all, TOKEN, "203.0.113.9") is None
    assert refusal(open_to_all, TOKEN + "x", "203.0.113.9") == (403, "wrong path token")
    assert refusal(open_to_all, "", None) == (403, "wrong path token")
    listed = PushGuard.of("aliyun", "X", SecretStr(TOKEN), "106.11.0.0/16, 2408:4000::/24, 1.2.3.4")
    assert refusal(listed, TOKEN, "106.11.42.7") is None
    assert refusal(listed, TOKEN, "2408:4000::1") is None
    assert refusal(listed, TOKEN, "1.2.3.4") is None
    assert refusal(listed, TOKEN, "1.2.3.5") == (403, "this address may not push")
    assert refusal(listed, TOKEN, "testclient") == (403, "this address may not push")
    assert refusal(listed, TOKEN, None) == (403, "this address may not push")
    unset = PushGuard.of("tencent", "TENCENT_SMS_PUSH_TOKEN", None, "")
    assert refusal(unset, TOKEN, "127.0.0.1") == (
        404,
        "tencent pushes are not configured (TENCENT_SMS_PUSH_TOKEN)",
    )


def test_settings_refuse_a_short_token_and_a_bad_cidr_naming_it() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        AliyunSmsSettings(aliyun_sms_push_token=SecretStr("short"))
    with pytest.raises(ValidationError, match=re.escape("not an address or CIDR: '10.0.0.0/33'")):
        AliyunSmsSettings(aliyun_sms_push_cidrs="10.0.0.0/8, 10.0.0.0/33")


def test_aliyun_reports_become_receipts_by_out_id_and_biz_id() -> None:
    raw = json.dumps(
        [
            {"success": True, "err_code": "DELIVERED", "biz_id": "B1", "out_id": "m1"},
            {"success": "false", "err_code": "MK:0001", "biz_id": "B2", "sms_size": 2},
            {"success": False, "err_code": "", "biz_id": "B3", "out_id": "m3"},
        ]
    ).encode()
    assert aliyun_receipts(raw) == [
        StatusUpdate("B1", ReceiptState.DELIVERED, None, "m1"),
        StatusUpdate("B2", ReceiptState.FAILED, "MK:0001", None),
        StatusUpdate("B3", ReceiptState.FAILED, None, "m3"),
    ]


def test_tencent_reports_become_receipts_by_sid_and_an_echoed_context() -> None:
    raw = json.dumps(
        [
            {"report_status": "SUCCESS", "errmsg": "DELIVRD", "sid": "S1"},
            {"report_status": "FAIL", "errmsg": "MK:0001", "sid": "S2", "ext": "m2"},
            {"report_status": "FAIL", "errmsg": "", "sid": "S3", "ext": {"SessionContext": "m3"}},
        ]
    ).encode()
    assert tencent_receipts(raw) == [
        StatusUpdate("S1", ReceiptState.DELIVERED, None, None),
        StatusUpdate("S2", ReceiptState.FAILED, "MK:0001", "m2"),
        StatusUpdate("S3", ReceiptState.FAILED, None, "m3"),
    ]


def test_replies_carry_a_key_that_a_retry_repeats_and_an_e164_sender() -> None:
    up = {"phone_number": "13800138000", "content": "退订", "sequence_id": 77}
    [aliyun] = aliyun_replies(json.dumps([up]).encode())
    assert (aliyun.key, aliyun.phone, aliyun.text) == ("aliyun:77", "+8613800138000", "退订")
    reply = {"mobile": "13800138000", "nationcode": "86", "text": "1", "time": 1796000000}
    [one] = tencent_replies(json.dumps(reply).encode())
    [same, other] = tencent_replies(json.dumps([reply, {**reply, "time": 1796000001}]).encode())
    assert one.phone == "+8613800138000"
    assert one.key == same.key != other.key
    assert e164("", "13800138000") == "+8613800138000"
    assert e164("+852", "91234567") == "+85291234567"
    assert e164("86", "+8613800138000") == "+8613800138000"


@pytest.mark.parametrize(
    ("parse", "raw", "says"),
    [
        (aliyun_receipts, b"[{", "not JSON"),
        (aliyun_receipts, b'{"biz_id": "B1"}', "not an Aliyun SmsReport array: Expected `array`"),
        (aliyun_receipts, b'[{"biz_id": "B1"}]', "missing required field `success`"),
        (tencent_receipts, b'[{"report_status": "SUCCESS"}]', "missing required field `sid`"),
        (aliyun_replies, b'[{"phone_number": "1", "content": "x"}]', "`sequence_id`"),
        (tencent_replies, b'{"mobile": "1", "time": 1}', "missing required field `text`"),
    ],
)
def test_what_is_not_the_vendors_shape_is_refused_whole(
    parse: object, raw: bytes, says: str
) -> None:
    assert callable(parse)
    with pytest.raises(PushRefused) as refused:
        parse(raw)
    assert refused.value.status == 400
    assert says in refused.value.reason
