"""Patients' texts pushed by Aliyun (SmsUp) and Tencent (reply callback) at the feedback
service, on the real database: accepted at once, then handled by the worker, whose answer
goes back through the vendor's fake as an SMS; and every refused push storing nothing."""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import select

from deploy.fakes.process import RunningFake, running_fake
from services.feedback.models import InboundMessage
from shared.db import Database
from shared.messages import OptOutRequested, RatingGiven, ReplyReceived
from shared.net import free_port
from shared.settings import Settings
from tests.conftest import build_service_app
from tests.integration.inboundutil import Replies
from tests.integration.test_feedback_inbound import PHONE, STRANGER, count, events
from tests.integration.test_sandbox_replies import kinds, serving

TOKEN = "replies-push-token-0123456789"
VENDORS = ("aliyun", "tencent")
PATHS = {"aliyun": f"/webhooks/aliyun/{TOKEN}/up", "tencent": f"/webhooks/tencent/{TOKEN}/reply"}
OK = {"aliyun": {"code": 0, "msg": "接收成功"}, "tencent": {"result": 0, "errmsg": "OK"}}
Client = AsyncTestClient[Litestar]


@dataclass(frozen=True)
class Fakes:
    port: int  # where the feedback service is served for them
    by_vendor: dict[str, RunningFake]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    """Both fakes, their reply URLs the feedback service's (as their consoles would say)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        running_fake("aliyun", "--up-url", base + PATHS["aliyun"]) as aliyun,
        running_fake("tencent", "--reply-url", base + PATHS["tencent"]) as tencent,
    ):
        yield Fakes(port, {"aliyun": aliyun, "tencent": tencent})


def sms_env(
    monkeypatch: pytest.MonkeyPatch, vendor: str, fake: RunningFake, reply_template: bool = True
) -> None:
    """CHANNEL_SMS=vendor against its fake, a `reply` template unless told otherwise."""
    monkeypatch.setenv("CHANNEL_SMS", vendor)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)  # the `world`'s Twilio webhook
    monkeypatch.setenv("ALIYUN_SMS_PUSH_TOKEN", TOKEN)
    monkeypatch.setenv("TENCENT_SMS_PUSH_TOKEN", TOKEN)
    kind = "reply" if reply_template else "dose"
    if vendor == "aliyun":
        monkeypatch.setenv("ALIYUN_ACCESS_KEY_ID", "LTAI5tFakeAccessKeyId00")
        monkeypatch.setenv("ALIYUN_ACCESS_KEY_SECRET", "fake-access-key-secret")
        monkeypatch.setenv("ALIYUN_SMS_SIGN_NAME", "门诊提醒")
        monkeypatch.setenv("ALIYUN_SMS_API_BASE_URL", fake.url)
        template = {kind: {"template_code": "SMS_900", "params": {"text": "text"}}}
        monkeypatch.setenv("ALIYUN_SMS_TEMPLATES", json.dumps(template))
    else:
        monkeypatch.setenv("TENCENT_SECRET_ID", "AKIDfake0000000000000000000000000000")
        monkeypatch.setenv("TENCENT_SECRET_KEY", "fake-secret-key")
        monkeypatch.setenv("TENCENT_SMS_SDK_APP_ID", "1400000000")
        monkeypatch.setenv("TENCENT_SMS_SIGN_NAME", "门诊提醒")
        monkeypatch.setenv("TENCENT_SMS_API_BASE_URL", fake.url)
        template = {kind: {"template_id": "900", "params": ["text"]}}
        monkeypatch.setenv("TENCENT_SMS_TEMPLATES", json.dumps(template))
    fake.reset()


def push(vendor: str, text: str, sender: str = PHONE, key: int = 1) -> Any:
    """The vendor's push of one text; the same `key` is the same message (a retry)."""
    if vendor == "aliyun":
        return [
            {
                "phone_number": sender.removeprefix("+86"),
                "send_time": "2026-12-03 08:00:00",
                "content": text,
                "sign_name": "门诊提醒",
                "dest_code": "1234",
                "sequence_id": key,
            }
        ]
    return {
        "extend": "",
        "mobile": sender.removeprefix("+86"),
        "nationcode": "86",
        "sign": "门诊提醒",
        "text": text,
        "time": 1_796_000_000 + key,
    }


async def answered(db: Database) -> list[str | None]:
    """How each stored text's answer went, in order (what GET /feedback shows)."""
    async with db.sessions() as session:
        found = await session.scalars(select(InboundMessage.answer).order_by(InboundMessage.id))
    return list(found.all())


def answers(vendor: str, outcome: str) -> float:
    labels = {"vendor": vendor, "outcome": outcome}
    return REGISTRY.get_sample_value("mmt_feedback_sms_answers_total", labels) or 0.0


@dataclass
class Env:
    """One vendor's setting for a test: its fake, CHANNEL_SMS pointing at it, the app, and
    the worker answering through that vendor's adapter."""

    vendor: str
    fake: RunningFake
    monkeypatch: pytest.MonkeyPatch
    settings: Settings
    port: int
    replies: Replies

    def client(self) -> Client:
        return AsyncTestClient(app=build_service_app("feedback", self.settings))

    async def post(self, body: Any, path: str | None = None) -> Any:
        async with self.client() as client:
            return await client.post(path or PATHS[self.vendor], json=body)


@pytest.fixture(params=VENDORS)
async def env(
    request: pytest.FixtureRequest,
    fakes: Fakes,
    monkeypatch: pytest.MonkeyPatch,
    world: tuple[int, int],
    app_settings: Settings,
    redis: Redis,
    isolation: str,
    feedback_db: Database,
    access_db: Database,
) -> AsyncIterator[Env]:
    vendor = request.param
    fake = fakes.by_vendor[vendor]
    sms_env(monkeypatch, vendor, fake)
    replies = Replies(redis, isolation, feedback_db, access_db, configured=True)
    yield Env(vendor, fake, monkeypatch, app_settings, fakes.port, replies)
    await replies.aclose()


async def test_a_text_through_the_fake_is_understood_stored_and_answered_by_sms(
    env: Env, feedback_db: Database
) -> None:
    async with serving(build_service_app("feedback", env.settings), env.port):
        said = {}
        for text in ("1", "退订", "帮助"):
            # In a thread: the fake calls the feedback service, which runs on this loop.
            said[text] = await asyncio.to_thread(
                env.fake.post, "/_fake/inbound", {"from": PHONE, "body": text}
            )
    assert said["1"]["status"] == 200
    assert json.loads(said["1"]["answer"]) == OK[env.vendor]
    assert said["1"]["replies"] == []  # accepted: the worker answers
    assert env.fake.stats()["total_accepted"] == 0
    await env.replies.settle()
    assert await kinds(feedback_db) == [("sms", "rating"), ("sms", "opt_out"), ("sms", "help")]
    assert await answered(feedback_db) == ["sent", "sent", "sent"]
    published = [type(event) for event in await events(feedback_db)]
    assert published == [RatingGiven, OptOutRequested, ReplyReceived]  # HELP: engagement
    assert env.fake.stats()["accepted"] == {PHONE: 3}


async def test_a_redelivered_push_is_stored_and_answered_once(
    env: Env, feedback_db: Database
) -> None:
    async with env.client() as client:
        for _ in range(3):
            answer = await client.post(PATHS[env.vendor], json=push(env.vendor, "1", key=7))
            assert (answer.status_code, answer.json()) == (200, OK[env.vendor])
        # Another message (Tencent refuses the same text to a number within 30 s).
        other = await client.post(PATHS[env.vendor], json=push(env.vendor, "帮助", key=8))
        assert other.status_code == 200
        await env.replies.settle()
        again = await client.post(PATHS[env.vendor], json=push(env.vendor, "1", key=7))
        assert again.status_code == 200  # after it was handled, too
    await env.replies.settle()
    assert await kinds(feedback_db) == [("sms", "rating"), ("sms", "help")]
    assert await answered(feedback_db) == ["sent", "sent"]
    assert env.fake.stats()["accepted"] == {PHONE: 2}


async def test_without_a_reply_template_the_text_is_stored_and_the_answer_counted_unsent(
    env: Env, feedback_db: Database
) -> None:
    sms_env(env.monkeypatch, env.vendor, env.fake, reply_template=False)
    before = answers(env.vendor, "not_sent:no_template")
    answer = await env.post(push(env.vendor, "TD"))
    assert answer.status_code == 200
    await env.replies.settle()
    assert await kinds(feedback_db) == [("sms", "opt_out")]
    assert await answered(feedback_db) == ["not sent: no reply template"]
    assert answers(env.vendor, "not_sent:no_template") == before + 1
    assert env.fake.stats()["total_accepted"] == 0


async def test_a_stranger_is_answered_and_nothing_is_stored(
    env: Env, feedback_db: Database
) -> None:
    answer = await env.post(push(env.vendor, "1", sender=STRANGER))
    assert answer.status_code == 200
    await env.post(push(env.vendor, "1", sender=STRANGER))  # pushed again
    await env.replies.settle()
    assert await count(feedback_db, InboundMessage) == 0
    assert env.fake.stats()["accepted"] == {STRANGER: 1}


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("wrong token", 403, "wrong path token"),
        ("garbled", 400, "not JSON"),
        ("not the vendor's shape", 400, "not"),
        ("oversize", 413, "body over 2048"),
        ("address not allowed", 403, "this address may not push"),
    ],
)
async def test_refused_pushes_store_nothing_and_send_nothing(
    env: Env, feedback_db: Database, case: str, status: int, says: str
) -> None:
    env.monkeypatch.setenv("SMS_PUSH_MAX_BODY_BYTES", "2048")
    if case == "address not allowed":
        env.monkeypatch.setenv(f"{env.vendor.upper()}_SMS_PUSH_CIDRS", "10.0.0.0/8")
    path, body = PATHS[env.vendor], json.dumps(push(env.vendor, "退订"))
    if case == "wrong token":
        path = path.replace(TOKEN, "x" + TOKEN[1:])
    elif case == "garbled":
        body = body[:-3]
    elif case == "not the vendor's shape":
        body = json.dumps({"from": PHONE, "body": "退订"})
    elif case == "oversize":
        body = json.dumps(push(env.vendor, "退订" + " " * 3000))
    async with env.client() as client:
        answer = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert says in answer.json()["detail"]
    assert await env.replies.settle() == 0  # nothing enqueued
    assert await count(feedback_db, InboundMessage) == 0
    assert await events(feedback_db) == []
    assert env.fake.stats()["total_accepted"] == 0


async def test_an_allowed_address_gets_through(env: Env, feedback_db: Database) -> None:
    env.monkeypatch.setenv(f"{env.vendor.upper()}_SMS_PUSH_CIDRS", "10.0.0.0/8, 127.0.0.0/8")
    async with serving(build_service_app("feedback", env.settings), env.port):
        said = await asyncio.to_thread(
            env.fake.post, "/_fake/inbound", {"from": PHONE, "body": "1"}
        )
    assert said["status"] == 200
    await env.replies.settle()
    assert await kinds(feedback_db) == [("sms", "rating")]
    assert env.fake.stats()["accepted"] == {PHONE: 1}


def test_a_fake_without_its_reply_url_says_which_flag_is_missing() -> None:
    with running_fake("aliyun") as aliyun, running_fake("tencent") as tencent:
        for fake, flag in ((aliyun, "--up-url"), (tencent, "--reply-url")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                fake.post("/_fake/inbound", {"from": PHONE, "body": "1"})
            assert refused.value.code == 409
            assert flag in refused.value.read().decode()
