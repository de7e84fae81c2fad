"""WeChat's pure parts: template payloads and the errcode table."""

from __future__ import annotations

import pytest

from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat import QUOTA_RETRY_S, _failure, _template

OPENID = "oABCDEFGHIJKLMNOPQRSTUVWXYZ0"


def lesson() -> OutboundMessage:
    fields = {"first": "新的一课：睡个好觉", "url": "https://mmt.example.org/lessons/t0k"}
    return OutboundMessage("m-7", OPENID, "新的一课 https://...", "lesson", fields)


def test_a_template_maps_fields_texts_and_literals() -> None:
    template = WeChatTemplate(
        template_id="TPL", data={"first": "first", "keyword1": "=门诊提醒", "remark": "text"}
    )
    payload = _template(lesson(), template)
    assert payload == {
        "touser": OPENID,
        "template_id": "TPL",
        "data": {
            "first": {"value": "新的一课：睡个好觉"},
            "keyword1": {"value": "门诊提醒"},
            "remark": {"value": "新的一课 https://..."},
        },
        "client_msg_id": "m-7",
        "url": "https://mmt.example.org/lessons/t0k",
    }


def test_the_default_mapping_is_first_and_no_url_without_one() -> None:
    message = OutboundMessage("m-1", OPENID, "hi", "dose", {"first": "hi"})
    payload = _template(message, WeChatTemplate(template_id="TPL"))
    assert payload["data"] == {"first": {"value": "hi"}}
    assert "url" not in payload


def test_a_template_needing_a_field_the_message_lacks_is_permanent() -> None:
    message = OutboundMessage("m-1", OPENID, "hi", "dose", {})
    with pytest.raises(SendFailed) as caught:
        _template(message, WeChatTemplate(template_id="TPL"))
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "template_field"


PERMANENT, LIMITED, RETRY = FailureKind.PERMANENT, FailureKind.RATE_LIMITED, FailureKind.RETRYABLE


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "wait"),
    [
        (200, {"errcode": 43004, "errmsg": "require subscribe"}, PERMANENT, "43004", None),
        (
            200,
            {"errcode": 45009, "errmsg": "reach max daily quota"},
            LIMITED,
            "45009",
            QUOTA_RETRY_S,
        ),
        (200, {"errcode": 45011, "errmsg": "api minute-quota reach limit"}, LIMITED, "45011", 60.0),
        (200, {"errcode": -1, "errmsg": "system error"}, RETRY, "-1", None),
        (200, {"errcode": 40003, "errmsg": f"invalid openid [{OPENID}]"}, PERMANENT, "40003", None),
        (200, {}, RETRY, "unreadable", None),
        (503, {}, RETRY, "503", 9.0),  # a gateway's Retry-After is honoured
        (429, {"errcode": 45011}, LIMITED, "429", 9.0),
        (404, {}, PERMANENT, "404", None),
    ],
)
def test_errcodes_map_to_what_the_dispatcher_does(
    status: int, body: dict[str, object], kind: FailureKind, code: str, wait: float | None
) -> None:
    failure = _failure(status, body, "9", OPENID)
    assert (failure.kind, failure.code, failure.retry_after_s) == (kind, code, wait)
    assert OPENID not in failure.reason


def test_not_following_says_so() -> None:
    failure = _failure(200, {"errcode": 43004, "errmsg": "require subscribe"}, None)
    assert failure.reason == "wechat 43004: not following the official account"
