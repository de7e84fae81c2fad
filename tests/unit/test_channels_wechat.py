"""WeChat's pure parts: template payloads and the errcode table."""

from __future__ import annotations

import pytest

from shared.channels import FailureKind, OutboundMessage, SendFailed
from shared.channels.settings import WeChatTemplate
from shared.channels.wechat import QUOTA_RETRY_S, _failure, _subscription, _template

OPENID = "oABCDEFGHIJKLMNOPQRSTUVWXYZ0"


def lesson() -> OutboundMessage:
    fields = {
        "title": "新的小课",
        "summary": "新的一课：睡个好觉",
        "local_time": "2026年12月3日 08:30",
        "url": "https://mmt.example.org/lessons/t0k",
    }
    return OutboundMessage("m-7", OPENID, "新的一课 https://...", "lesson", fields)


LESSON = WeChatTemplate(
    template_id="TPL",
    data={"phrase1": "title", "thing2": "summary", "time3": "local_time", "thing4": "=门诊"},
)
SHOWN = {
    "phrase1": {"value": "新的小课"},
    "thing2": {"value": "新的一课：睡个好觉"},
    "time3": {"value": "2026年12月3日 08:30"},
    "thing4": {"value": "门诊"},
}


def test_a_template_message_carries_keyword_fields_our_id_and_the_link() -> None:
    assert _template(lesson(), LESSON) == {
        "touser": OPENID,
        "template_id": "TPL",
        "data": SHOWN,
        "client_msg_id": "m-7",  # WeChat drops a repeat within 10 minutes
        "url": "https://mmt.example.org/lessons/t0k",
    }


def test_a_subscription_notice_carries_the_same_fields_and_the_link_as_its_page() -> None:
    assert _subscription(lesson(), LESSON) == {
        "touser": OPENID,
        "template_id": "TPL",
        "data": SHOWN,
        "page": "https://mmt.example.org/lessons/t0k",
    }


def test_no_link_without_one() -> None:
    message = OutboundMessage("m-1", OPENID, "hi", "dose", {"title": "今日提醒"})
    template = WeChatTemplate(template_id="TPL", data={"thing1": "title"})
    assert "url" not in _template(message, template)
    assert "page" not in _subscription(message, template)


def test_a_template_needing_a_field_the_message_lacks_is_permanent() -> None:
    message = OutboundMessage("m-1", OPENID, "hi", "dose", {})
    with pytest.raises(SendFailed) as caught:
        _template(message, WeChatTemplate(template_id="TPL", data={"thing1": "title"}))
    assert caught.value.kind is FailureKind.PERMANENT
    assert caught.value.code == "template_field"


PERMANENT, LIMITED, RETRY = FailureKind.PERMANENT, FailureKind.RATE_LIMITED, FailureKind.RETRYABLE


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "wait"),
    [
        (200, {"errcode": 43004, "errmsg": "require subscribe"}, PERMANENT, "43004", None),
        (200, {"errcode": 43101, "errmsg": "user refuse to accept"}, PERMANENT, "43101", None),
        (200, {"errcode": 47003, "errmsg": "data.thing1.value invalid"}, PERMANENT, "47003", None),
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


def test_a_refused_subscription_says_so() -> None:
    failure = _failure(200, {"errcode": 43101, "errmsg": "user refuse to accept the msg"}, None)
    assert failure.reason == (
        "wechat 43101: the patient refused or cancelled the subscription notices"
    )
