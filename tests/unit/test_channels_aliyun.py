"""Aliyun SMS's pure parts: the ACS3-HMAC-SHA256 signature, template parameters, the Code table."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import pytest

from deploy.fakes import aliyun as fake
from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.aliyun_sms import (
    EMPTY_SHA256,
    HOUR_RETRY_S,
    MINUTE_RETRY_S,
    QUOTA_RETRY_S,
    AliyunSmsChannel,
    AliyunSmsConfig,
    authorization,
    canonical_query,
    canonical_request,
    classify,
    mainland_number,
    send_params,
    signed_headers,
    string_to_sign,
    template_params,
)
from shared.channels.settings import AliyunSmsTemplate

PHONE = "+8613800138000"
NATIONAL = "13800138000"


def dose(**fields: str) -> OutboundMessage:
    return OutboundMessage("m-1", PHONE, "请在08:30前来门诊服药。", "dose", fields)


# --- signing --------------------------------------------------------------------------


def test_the_sdks_published_vector() -> None:
    # alibabacloud_openapi_util's test_get_authorization: GET, empty path, query
    # {test: ok, empty: ""}, headers x-acs-test: http and x-acs-TEST: https (one name, two
    # values), the payload hash given, key "acesskey" / secret "secret".
    canonical, signed = canonical_request(
        "GET",
        "",
        {"test": "ok", "empty": ""},
        [("x-acs-test", "http"), ("x-acs-TEST", "https")],
        "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23",
    )
    assert canonical == (
        "GET\n\nempty&test=ok\nx-acs-test:http,https\n\nx-acs-test\n"
        "55e12e91650d2fec56ec74e1d3e4ddbfce2ef3a65890c2a19ecf88a307e76a23"
    )
    assert authorization("acesskey", "secret", canonical, signed) == (
        "ACS3-HMAC-SHA256 Credential=acesskey,SignedHeaders=x-acs-test,"
        "Signature=da772425f29289d3460d5fc961455d40c5e8c6afd0888b78a910c991e6a14846"
    )


SEND_QUERY = {
    "PhoneNumbers": NATIONAL,
    "SignName": "门诊提醒",
    "TemplateCode": "SMS_123456789",
    "TemplateParam": '{"time":"08:30"}',
    "OutId": "m-1",
}
DATE, NONCE = "2026-12-02T08:00:00Z", "3156853299f313e23d1673dc12e1703d"
KEY_ID, SECRET = "YourAccessKeyId", "YourAccessKeySecret"

# Step 1: the canonical request, written out by hand: method, path, the query sorted by
# name and RFC 3986-encoded (UTF-8 of 门诊提醒, JSON's braces, quotes and colons), the
# signed headers as lines (the last followed by the blank separator line), their names,
# and SHA-256 of the empty body.
CANONICAL = (
    "POST\n"
    "/\n"
    "OutId=m-1&PhoneNumbers=13800138000&SignName=%E9%97%A8%E8%AF%8A%E6%8F%90%E9%86%92"
    "&TemplateCode=SMS_123456789&TemplateParam=%7B%22time%22%3A%2208%3A30%22%7D\n"
    "host:dysmsapi.aliyuncs.com\n"
    "x-acs-action:SendSms\n"
    "x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    "x-acs-date:2026-12-02T08:00:00Z\n"
    "x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
    "x-acs-version:2017-05-25\n"
    "\n"
    "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
# Step 2: the string to sign: the algorithm, a newline, hex SHA-256 of step 1.
STRING_TO_SIGN = (
    "ACS3-HMAC-SHA256\n3cd64b17dbc05059e3e65d3a8a03d62e5b91b7af2a29764a66e747d1ea689311"
)
# Step 3: hex HMAC-SHA256 of step 2 keyed with the secret.
SIGNATURE = "d02be05ec2423c9e5275f69dcce5899a498384df0c75ae3ecd12467528531fd2"


def test_a_send_sms_signature_step_by_step() -> None:
    assert hashlib.sha256(b"").hexdigest() == EMPTY_SHA256
    assert STRING_TO_SIGN.split("\n")[1] == hashlib.sha256(CANONICAL.encode()).hexdigest()
    assert hmac.new(SECRET.encode(), STRING_TO_SIGN.encode(), "sha256").hexdigest() == SIGNATURE

    headers = signed_headers(
        KEY_ID,
        SECRET,
        method="POST",
        host="dysmsapi.aliyuncs.com",
        path="/",
        query=SEND_QUERY,
        date=DATE,
        nonce=NONCE,
    )
    signed = {k: v for k, v in headers.items() if k != "Authorization"}
    canonical, names = canonical_request("POST", "/", SEND_QUERY, signed.items(), EMPTY_SHA256)
    assert canonical == CANONICAL
    assert string_to_sign(canonical) == STRING_TO_SIGN
    assert headers["Authorization"] == (
        f"ACS3-HMAC-SHA256 Credential={KEY_ID},SignedHeaders={names},Signature={SIGNATURE}"
    )


def test_the_fakes_own_verifier_computes_the_same_string_to_sign() -> None:
    # The fake parses the query as it arrives on the wire and rebuilds everything itself.
    wire_query = fake._query_pairs(canonical_query(SEND_QUERY))
    assert dict(wire_query) == SEND_QUERY
    headers = {
        "host": "dysmsapi.aliyuncs.com",
        "x-acs-action": "SendSms",
        "x-acs-content-sha256": EMPTY_SHA256,
        "x-acs-date": DATE,
        "x-acs-signature-nonce": NONCE,
        "x-acs-version": "2017-05-25",
    }
    assert fake.string_to_sign("POST", "/", wire_query, headers, b"") == STRING_TO_SIGN


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (" ~/*-+", "%20~%2F%2A-%2B"),  # the SDK's own case: space %20, * and + encoded, ~ kept
        ("a_b.c-d~e", "a_b.c-d~e"),
        ("门", "%E9%97%A8"),
    ],
)
def test_values_are_encoded_as_rfc_3986(value: str, encoded: str) -> None:
    assert canonical_query({"k": value}) == f"k={encoded}"


# --- numbers and templates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "number"),
    [
        ("+8613800138000", NATIONAL),
        ("008613800138000", NATIONAL),
        ("13800138000", NATIONAL),
        ("+85291234567", None),  # Hong Kong
        ("+15005550006", None),
        ("+86010123456", None),  # a landline
        ("+861380013800", None),  # a digit short
    ],
)
def test_only_mainland_mobiles_are_sent(address: str, number: str | None) -> None:
    assert mainland_number(address) == number


def test_a_number_outside_the_mainland_is_refused_without_quoting_it() -> None:
    channel = AliyunSmsChannel(AliyunSmsConfig("id", "secret", "门诊提醒"))
    message = OutboundMessage("m-1", "+85291234567", "hi", "dose")
    with pytest.raises(SendFailed) as caught:
        channel.request(message)
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "not_mainland"
    assert not re.search(r"\d{5,}", caught.value.reason)


def test_a_kind_without_a_template_is_permanent() -> None:
    channel = AliyunSmsChannel(AliyunSmsConfig("id", "secret", "门诊提醒"))
    with pytest.raises(SendFailed) as caught:
        channel.request(dose())
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "no_template"
    assert "ALIYUN_SMS_TEMPLATES" in caught.value.reason


def test_template_parameters_come_from_fields_the_text_and_literals() -> None:
    template = AliyunSmsTemplate(
        template_code="SMS_1", params={"time": "time", "clinic": "=东城门诊", "content": "text"}
    )
    assert template_params(dose(time="08:30"), template) == {
        "time": "08:30",
        "clinic": "东城门诊",
        "content": "请在08:30前来门诊服药。",
    }
    params = send_params(dose(time="08:30"), NATIONAL, "门诊提醒", template)
    assert params["PhoneNumbers"] == NATIONAL
    assert params["SignName"] == "门诊提醒"
    assert params["TemplateCode"] == "SMS_1"
    assert params["OutId"] == "m-1"
    # Compact JSON, Chinese as is (Aliyun counts characters, not escapes).
    assert params["TemplateParam"] == (
        '{"time":"08:30","clinic":"东城门诊","content":"请在08:30前来门诊服药。"}'
    )
    assert json.loads(params["TemplateParam"])["clinic"] == "东城门诊"


def test_a_template_without_parameters_sends_no_template_param() -> None:
    params = send_params(dose(), NATIONAL, "门诊提醒", AliyunSmsTemplate(template_code="SMS_2"))
    assert "TemplateParam" not in params


def test_a_missing_field_is_permanent_and_names_the_parameter() -> None:
    template = AliyunSmsTemplate(template_code="SMS_1", params={"time": "time"})
    with pytest.raises(SendFailed) as caught:
        template_params(dose(), template)
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "template_field"
    assert "time" in caught.value.reason


def test_the_request_carries_the_signed_query_unchanged() -> None:
    template = AliyunSmsTemplate(template_code="SMS_1", params={"time": "time"})
    config = AliyunSmsConfig(
        "id", "secret", "门诊提醒", {"dose": template}, api_base_url="http://127.0.0.1:9104"
    )
    url, headers = AliyunSmsChannel(config).request(dose(time="08:30"))
    assert url.raw_query_string == canonical_query(
        {
            "PhoneNumbers": NATIONAL,
            "SignName": "门诊提醒",
            "TemplateCode": "SMS_1",
            "TemplateParam": '{"time":"08:30"}',
            "OutId": "m-1",
        }
    )
    assert headers["host"] == "127.0.0.1:9104"
    assert headers["x-acs-action"] == "SendSms"
    assert headers["x-acs-version"] == "2017-05-25"
    assert headers["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=id,")


# --- the Code table ---------------------------------------------------------------------


def answer(code: str, message: str = "") -> dict[str, str]:
    return {"Code": code, "Message": message, "RequestId": "A1B2"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "retry_after_s"),
    [
        (200, answer("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:50"), "rate", HOUR_RETRY_S),
        (
            200,
            answer("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"),
            "rate",
            HOUR_RETRY_S,
        ),
        (
            200,
            answer("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
            "rate",
            MINUTE_RETRY_S,
        ),
        (200, answer("isv.DAY_LIMIT_CONTROL", "触发日发送限额"), "rate", QUOTA_RETRY_S),
        (200, answer("isv.MONTH_LIMIT_CONTROL", "触发月发送限额"), "rate", QUOTA_RETRY_S),
        (
            400,
            answer("Throttling.User", "Request was denied due to user flow control."),
            "rate",
            None,
        ),
        (429, {}, "rate", None),
        (200, answer("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"), "permanent", None),
        (200, answer("isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控"), "permanent", None),
        (200, answer("isp.SYSTEM_ERROR", "系统错误"), "retry", None),
        (503, answer("ServiceUnavailable", "temporary failure"), "retry", None),
        (502, {}, "retry", None),
        (200, {}, "retry", None),  # a 200 that is not Aliyun's JSON
        (200, answer("isv.SOMETHING_NEW", "新的错误"), "permanent", None),
    ],
)
def test_codes_map_to_outcomes(
    status: int, body: dict[str, str], kind: str, retry_after_s: float | None
) -> None:
    failure = classify(status, body, None, PHONE)
    expected = {
        "rate": FailureKind.RATE_LIMITED,
        "permanent": FailureKind.PERMANENT,
        "retry": FailureKind.RETRYABLE,
    }[kind]
    assert failure.kind is expected
    assert failure.retry_after_s == retry_after_s
    if body.get("Code"):
        assert failure.code == body["Code"]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, "isv.AMOUNT_NOT_ENOUGH"),
        (200, "isv.SMS_SIGNATURE_ILLEGAL"),
        (200, "isv.SMS_TEMPLATE_ILLEGAL"),
        (200, "isv.TEMPLATE_MISSING_PARAMETERS"),
        (200, "isp.RAM_PERMISSION_DENY"),
        (404, "InvalidAccessKeyId.NotFound"),
        (400, "SignatureDoesNotMatch"),
    ],
)
def test_account_signature_and_template_problems_say_they_are_configuration(
    status: int, code: str
) -> None:
    failure = classify(status, answer(code, "whatever Aliyun says"), None, PHONE)
    assert failure.kind is FailureKind.PERMANENT
    assert failure.code == code
    assert "configuration problem" in failure.reason


def test_throttling_honours_retry_after() -> None:
    failure = classify(429, answer("Throttling.User"), "7", PHONE)
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.retry_after_s == 7


@pytest.mark.parametrize("quoted", [PHONE, NATIONAL])
def test_reasons_never_quote_the_number(quoted: str) -> None:
    failure = classify(
        200, answer("isv.MOBILE_NUMBER_ILLEGAL", f"非法手机号 {quoted}"), None, PHONE
    )
    assert NATIONAL not in failure.reason
    assert not re.search(r"\d{7,}", failure.reason)
