"""Tencent Cloud SMS: the TC3 signature, template parameters, answers and the code table."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from deploy.fakes.tencent import TencentKnobs, create_app, expected_signature
from shared.channels import (
    Capabilities,
    Delivery,
    FailureKind,
    OutboundMessage,
    SendFailed,
    capabilities_of,
)
from shared.channels.daily_cap import DailyCappedChannel
from shared.channels.factory import build_registry, check_config
from shared.channels.pacing import PacedChannel
from shared.channels.settings import ChannelsConfig, TencentSmsTemplate
from shared.channels.tencent_sms import (
    TencentSmsChannel,
    TencentSmsConfig,
    read_answer,
    seconds_to_china_midnight,
    tc3_authorization,
    tc3_signature,
    template_params,
)

PHONE = "+8613800138000"

# Tencent's own worked example (Signature v3, "signature example"): CVM DescribeInstances
# with its published SecretId/SecretKey, timestamp 1551113065 and resulting signature.
DOC_ID, DOC_KEY = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_BODY = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
DOC_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def dose(**fields: str) -> OutboundMessage:
    return OutboundMessage("m-7", PHONE, "今天记得按时来门诊。", "dose", fields)


def config(base: str = "https://sms.tencentcloudapi.com", **kwargs: Any) -> TencentSmsConfig:
    templates = {"dose": TencentSmsTemplate(template_id="100001", params=["first", "=8:30"])}
    settings: dict[str, Any] = {
        "secret_id": "AKIDunit",
        "secret_key": "unit-key",
        "sdk_app_id": "1400000009",
        "sign_name": "门诊提醒",
        "templates": templates,
        "api_base_url": base,
    }
    return TencentSmsConfig(**(settings | kwargs))


def test_the_signature_is_tencents_documented_example() -> None:
    header = tc3_authorization(
        DOC_ID,
        DOC_KEY,
        service="cvm",
        host="cvm.tencentcloudapi.com",
        timestamp=1551113065,
        payload=DOC_BODY,
    )
    assert header == (
        f"TC3-HMAC-SHA256 Credential={DOC_ID}/2019-02-25/cvm/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={DOC_SIGNATURE}"
    )


def test_the_fakes_own_verification_agrees_with_the_adapter() -> None:
    ours = tc3_signature(
        "k", service="sms", host="127.0.0.1:9", timestamp=1700000000, payload=b"{}"
    )
    theirs = expected_signature(
        "k", "application/json; charset=utf-8", "127.0.0.1:9", "1700000000", b"{}", "2023-11-14"
    )
    assert ours == theirs


def test_the_request_carries_the_ordered_params_and_our_message_id() -> None:
    channel = TencentSmsChannel(config())
    body = channel.request_body(dose(first="美沙酮"))
    assert body == {
        "PhoneNumberSet": [PHONE],
        "SmsSdkAppId": "1400000009",
        "SignName": "门诊提醒",
        "TemplateId": "100001",
        "TemplateParamSet": ["美沙酮", "8:30"],
        "SessionContext": "m-7",
    }
    headers = channel.headers(b"{}", 1551113065)
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert headers["Host"] == "sms.tencentcloudapi.com"
    assert headers["Authorization"].startswith(
        "TC3-HMAC-SHA256 Credential=AKIDunit/2019-02-25/sms/tc3_request, "
        "SignedHeaders=content-type;host, Signature="
    )


def test_params_take_texts_fields_and_literals_and_refuse_a_missing_field() -> None:
    template = TencentSmsTemplate(template_id="1", params=["text", "=门诊", "first"])
    assert template_params(dose(first="x"), template) == ["今天记得按时来门诊。", "门诊", "x"]
    with pytest.raises(SendFailed) as caught:
        template_params(dose(), template)
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "template_field"
    assert "{3}" in caught.value.reason


def test_a_kind_without_a_template_is_a_configuration_failure() -> None:
    channel = TencentSmsChannel(config(templates={}))
    with pytest.raises(SendFailed) as caught:
        channel.request_body(dose())
    assert caught.value.kind is FailureKind.PERMANENT
    assert "configuration" in caught.value.reason


def answer(code: str, message: str = "", **extra: Any) -> bytes:
    status = {
        "SerialNo": "2433:1" if code == "Ok" else "",
        "PhoneNumber": PHONE,
        "Fee": 1 if code == "Ok" else 0,
        "SessionContext": "m-7",
        "Code": code,
        "Message": message,
        "IsoCode": "CN",
        **extra,
    }
    return json.dumps({"Response": {"SendStatusSet": [status], "RequestId": "r"}}).encode()


def error(code: str, message: str = "refused") -> bytes:
    return json.dumps({"Response": {"Error": {"Code": code, "Message": message}}}).encode()


def failed(status: int, body: bytes, retry_after: str | None = None) -> SendFailed:
    with pytest.raises(SendFailed) as caught:
        read_answer(status, body, retry_after, dose(), NOW)
    return caught.value


NOW = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in China: an hour to midnight


def test_ok_is_sent_with_the_serial_and_the_fee() -> None:
    result = read_answer(200, answer("Ok", Fee=2), None, dose())
    assert result.state is Delivery.SENT
    assert result.provider_id == "2433:1"
    assert result.segments == 2


def test_without_a_fee_the_segments_are_counted_from_the_text() -> None:
    result = read_answer(200, answer("Ok", Fee=None), None, dose())
    assert result.segments == 1


def test_a_200_with_a_failed_number_is_not_sent() -> None:
    failure = failed(
        200, answer("FailedOperation.PhoneNumberInBlacklist", f"{PHONE} is in blacklist")
    )
    assert failure.kind is FailureKind.PERMANENT
    assert failure.code == "FailedOperation.PhoneNumberInBlacklist"
    assert PHONE not in failure.reason
    assert not re.search(r"\d{7,}", failure.reason)


@pytest.mark.parametrize(
    ("code", "kind", "wait"),
    [
        ("LimitExceeded.PhoneNumberThirtySecondLimit", FailureKind.RATE_LIMITED, 30.0),
        ("LimitExceeded.PhoneNumberOneHourLimit", FailureKind.RATE_LIMITED, 3600.0),
        ("LimitExceeded.PhoneNumberDailyLimit", FailureKind.RATE_LIMITED, 3600.0),
        ("LimitExceeded.PhoneNumberSameContentDailyLimit", FailureKind.RATE_LIMITED, 3600.0),
        ("LimitExceeded.DeliveryFrequencyLimit", FailureKind.RATE_LIMITED, 60.0),
        ("RequestLimitExceeded", FailureKind.RATE_LIMITED, 1.0),
        ("FailedOperation.PhoneNumberInBlacklist", FailureKind.PERMANENT, None),
        ("InvalidParameterValue.IncorrectPhoneNumber", FailureKind.PERMANENT, None),
        (
            "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
            FailureKind.PERMANENT,
            None,
        ),
        ("InternalError.Timeout", FailureKind.RETRYABLE, None),
        ("InternalError", FailureKind.RETRYABLE, None),
    ],
)
def test_the_code_table(code: str, kind: FailureKind, wait: float | None) -> None:
    for body in (answer(code, "no"), error(code, "no")):  # per number, or for the call
        failure = failed(200, body)
        assert failure.kind is kind
        assert failure.code == code
        assert failure.retry_after_s == wait


@pytest.mark.parametrize(
    "code",
    [
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "AuthFailure.SignatureFailure",
        "AuthFailure.SecretIdNotFound",
        "InvalidParameterValue.TemplateParameterFormatError",
    ],
)
def test_account_problems_are_permanent_and_named_configuration(code: str) -> None:
    failure = failed(200, error(code))
    assert failure.kind is FailureKind.PERMANENT
    assert "configuration" in failure.reason


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "kind", "wait"),
    [
        (503, b"<html>busy</html>", None, FailureKind.RETRYABLE, None),
        (429, b"", "7", FailureKind.RATE_LIMITED, 7.0),
        (429, b"", None, FailureKind.RATE_LIMITED, None),
        (200, b"<html>proxy</html>", None, FailureKind.RETRYABLE, None),
        (200, b'{"Response": {"SendStatusSet": []}}', None, FailureKind.RETRYABLE, None),
        (200, b'{"Response": "?"}', None, FailureKind.RETRYABLE, None),
    ],
)
def test_http_statuses_and_garbage(
    status: int, body: bytes, retry_after: str | None, kind: FailureKind, wait: float | None
) -> None:
    failure = failed(status, body, retry_after)
    assert failure.kind is kind
    assert failure.retry_after_s == wait


def test_daily_limits_wait_until_midnight_in_china() -> None:
    assert seconds_to_china_midnight(NOW) == 3600.0
    assert seconds_to_china_midnight(datetime(2026, 3, 1, 16, 0, tzinfo=UTC)) == 86400.0


@pytest.fixture
async def fake() -> AsyncIterator[TestServer]:
    knobs = TencentKnobs(
        secret_id="AKIDunit", secret_key="unit-key", sdk_app_id="1400000009", daily_cap=2
    )
    server = TestServer(create_app(knobs))
    await server.start_server()
    yield server
    await server.close()


async def test_the_fake_refuses_a_wrong_key_and_applies_its_limits(fake: TestServer) -> None:
    base = str(fake.make_url("/"))
    wrong = TencentSmsChannel(config(base, secret_key="another-key"))
    right = TencentSmsChannel(config(base))
    try:
        with pytest.raises(SendFailed) as caught:
            await wrong.send(dose(first="a"))
        assert caught.value.code == "AuthFailure.SignatureFailure"
        assert (await right.send(dose(first="a"))).provider_id
        with pytest.raises(SendFailed) as caught:  # the same text again within 30 s
            await right.send(dose(first="a"))
        assert caught.value.code == "LimitExceeded.PhoneNumberThirtySecondLimit"
        await right.send(dose(first="b"))
        with pytest.raises(SendFailed) as caught:  # a third today, past daily_cap=2
            await right.send(dose(first="c"))
        assert caught.value.code == "LimitExceeded.PhoneNumberDailyLimit"
        assert caught.value.kind is FailureKind.RATE_LIMITED
    finally:
        await wrong.aclose()
        await right.aclose()


TENCENT_ENV = {
    "TENCENT_SECRET_ID": "AKIDfactory",
    "TENCENT_SECRET_KEY": "factory-key",
    "TENCENT_SMS_SDK_APP_ID": "1400000010",
    "TENCENT_SMS_SIGN_NAME": "门诊提醒",
    "TENCENT_SMS_TEMPLATES": json.dumps({"dose": {"template_id": "1", "params": ["first"]}}),
}


@pytest.fixture
def tencent_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*TENCENT_ENV, "CHANNEL_SMS", "TENCENT_SMS_RATE", "TENCENT_SMS_API_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_choosing_tencent_names_every_missing_variable(tencent_env: pytest.MonkeyPatch) -> None:
    tencent_env.setenv("CHANNEL_SMS", "tencent")
    problems = check_config(ChannelsConfig())
    for name in TENCENT_ENV:
        assert f"CHANNEL_SMS=tencent needs {name}" in problems


def test_half_configured_tencent_is_refused(tencent_env: pytest.MonkeyPatch) -> None:
    tencent_env.setenv("TENCENT_SECRET_ID", "AKIDfactory")
    problems = check_config(ChannelsConfig())
    assert any("tencent is half-configured: set TENCENT_SECRET_KEY" in p for p in problems)


async def test_tencent_serves_sms_paced_when_it_has_a_rate(
    tencent_env: pytest.MonkeyPatch,
) -> None:
    for name, value in TENCENT_ENV.items():
        tencent_env.setenv(name, value)
    tencent_env.setenv("CHANNEL_SMS", "tencent")
    redis = Redis()  # never connected: building a registry talks to no one
    try:
        capped = build_registry(redis).get("sms")
        assert isinstance(capped, DailyCappedChannel)  # Tencent's 10 a day by default
        sms = capped.inner
        assert isinstance(sms, TencentSmsChannel)
        assert capabilities_of(sms) == Capabilities(receipts=True, templated=True)
        tencent_env.setenv("TENCENT_SMS_RATE", "100/second")
        capped = build_registry(redis).get("sms")
        assert isinstance(capped, DailyCappedChannel)
        paced = capped.inner
        assert isinstance(paced, PacedChannel)
        assert isinstance(paced.inner, TencentSmsChannel)
    finally:
        await redis.aclose()
